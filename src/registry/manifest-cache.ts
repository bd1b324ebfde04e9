/**
 * ManifestCache keeps hot tags and manifests in memory so that GET and HEAD by
 * tag cost no metadata read. Every write goes through the registry, which
 * invalidates the cache around it; a read that raced with a write (the epoch
 * moved) is not cached.
 *
 * With a shared metadata store (replicas on PostgreSQL) other processes write
 * too: the composition root feeds their committed batches in (`invalidate`,
 * from the change feed, src/storage/metadata/change-feed.ts), and while the
 * feed is down the cache is emptied and bypassed (`suspend` ... `resume`), so
 * a replica never answers from memory what it cannot know is current. A write
 * to tags or manifests answers its client only once every other replica has
 * acknowledged dropping them (src/storage/postgres/change-listener.ts, at most
 * ACK_TIMEOUT_MS), so a client that writes through one replica and then reads
 * through another gets the new state. What is left: a read that another
 * client sends while the write is in flight (before its answer) may get either
 * state, as with any concurrent read; and a replica slower to acknowledge than
 * the timeout may answer from its cache until its notification is processed.
 */
import type { Digest } from '../oci/digest.js';
import type { ManifestRecord } from '../storage/types.js';

const SEP = '\u0000';

export class ManifestCache {
  private readonly tags = new Map<string, Digest>();
  private readonly manifests = new Map<string, ManifestRecord>();
  private bytes = 0;
  private epochValue = 0;
  /** Cleared and bypassed: the change feed of a shared store is down. */
  private bypassed = false;
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
    const digest = this.bypassed ? undefined : this.tags.get(repo + SEP + tag);
    if (digest === undefined) this.stats.tagMisses++;
    else this.stats.tagHits++;
    return digest;
  }

  setTag(repo: string, tag: string, digest: Digest, epoch = this.epochValue): void {
    if (epoch !== this.epochValue || this.bypassed) return;
    if (this.tags.size >= this.maxTags) this.tags.delete(this.tags.keys().next().value!);
    this.tags.set(repo + SEP + tag, digest);
  }

  getManifest(repo: string, digest: Digest): ManifestRecord | undefined {
    const key = repo + SEP + digest;
    const record = this.bypassed ? undefined : this.manifests.get(key);
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
    if (epoch !== this.epochValue || this.bypassed || record.bytes.length > this.maxBytes / 16) return;
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

  /** Empties the cache and answers nothing from memory until `resume` (the shared store's change feed is down). */
  suspend(): void {
    this.epochValue++;
    this.bypassed = true;
    this.tags.clear();
    this.manifests.clear();
    this.bytes = 0;
  }

  /** Caches again (the change feed is back: every later change is announced). */
  resume(): void {
    this.epochValue++;
    this.bypassed = false;
  }

  get suspended(): boolean {
    return this.bypassed;
  }

  private dropManifest(key: string): void {
    const old = this.manifests.get(key);
    if (old === undefined) return;
    this.bytes -= old.bytes.length;
    this.manifests.delete(key);
  }
}
