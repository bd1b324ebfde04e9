/**
 * ManifestCache keeps hot tags and manifests in memory so that GET and HEAD by
 * tag cost no LevelDB read. This process is the only writer of the metadata,
 * and every write goes through the registry, which updates the cache; a read
 * that raced with a write (the epoch moved) is not cached.
 */
import type { Digest } from '../oci/digest.js';
import type { ManifestRecord } from '../storage/types.js';

const SEP = '\u0000';

export class ManifestCache {
  private readonly tags = new Map<string, Digest>();
  private readonly manifests = new Map<string, ManifestRecord>();
  private bytes = 0;
  private epochValue = 0;
  /** Lookups answered from memory and lookups that went to the store (unireg_manifest_cache_*_total). */
  readonly stats = { tagHits: 0, tagMisses: 0, manifestHits: 0, manifestMisses: 0 };

  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxTags = 100_000,
  ) {}

  /** Changes on every write; a reader compares it before and after its store read. */
  get epoch(): number {
    return this.epochValue;
  }

  getTag(repo: string, tag: string): Digest | undefined {
    const digest = this.tags.get(repo + SEP + tag);
    if (digest === undefined) this.stats.tagMisses++;
    else this.stats.tagHits++;
    return digest;
  }

  setTag(repo: string, tag: string, digest: Digest, epoch = this.epochValue): void {
    if (epoch !== this.epochValue) return;
    if (this.tags.size >= this.maxTags) this.tags.delete(this.tags.keys().next().value!);
    this.tags.set(repo + SEP + tag, digest);
  }

  getManifest(repo: string, digest: Digest): ManifestRecord | undefined {
    const key = repo + SEP + digest;
    const record = this.manifests.get(key);
    if (record === undefined) this.stats.manifestMisses++;
    else this.stats.manifestHits++;
    if (record !== undefined) {
      // Refresh its place in the LRU order.
      this.manifests.delete(key);
      this.manifests.set(key, record);
    }
    return record;
  }

  setManifest(repo: string, record: ManifestRecord, epoch = this.epochValue): void {
    if (epoch !== this.epochValue || record.bytes.length > this.maxBytes / 16) return;
    const key = repo + SEP + record.digest;
    this.dropManifest(key);
    this.manifests.set(key, record);
    this.bytes += record.bytes.length;
    while (this.bytes > this.maxBytes) this.dropManifest(this.manifests.keys().next().value!);
  }

  /** Call before and after any metadata write to a repository. */
  invalidate(repo: string, change: { tags?: string[]; digests?: Digest[] }): void {
    this.epochValue++;
    for (const tag of change.tags ?? []) this.tags.delete(repo + SEP + tag);
    for (const digest of change.digests ?? []) this.dropManifest(repo + SEP + digest);
  }

  private dropManifest(key: string): void {
    const old = this.manifests.get(key);
    if (old === undefined) return;
    this.bytes -= old.bytes.length;
    this.manifests.delete(key);
  }
}
