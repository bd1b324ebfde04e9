/**
 * What the registry stores, as counts kept current in process (the figures
 * behind unireg_repositories, unireg_blobs, unireg_manifests,
 * unireg_stored_bytes and unireg_uploads_in_progress).
 *
 * The same mechanism as quotas (src/registry/quotas.ts): one streamed scan of
 * the metadata at start-up, then every committed batch (src/storage/observed-kv.ts)
 * applied as it lands, so a scrape never walks anything. The state is kept by
 * key (sets and maps), so a put of a key already counted (a link touched again)
 * or a delete of one already gone changes nothing; batches committed while the
 * scan runs are replayed onto its result, last operation winning.
 *
 * What is counted:
 *   repositories  repository records
 *   blobs         distinct digests linked to at least one repository
 *   manifests     manifest records, one per (repository, digest)
 *   stored bytes  blobs: each distinct linked digest's size once, however many
 *                 repositories link it; manifests: each record's byte length
 *                 (a manifest is stored per repository in the metadata).
 *                 Not counted: blob files no repository links (waiting for GC),
 *                 upload data in progress, LevelDB's own overhead.
 *   uploads       upload sessions open (started, neither finished nor expired)
 *
 * With a shared metadata store (replicas on PostgreSQL) the batches come from
 * the change feed instead (`applyFeed`: every replica's batches in commit
 * order, src/storage/metadata/change-feed.ts), so every replica reports the
 * figures of the whole registry, a notification's latency behind; after the
 * feed was lost, `rescan()` counts again from the store.
 */
import type { Digest } from '../oci/digest.js';
import type { KvOp, SortedKv } from '../storage/kv.js';
import { feedChanges, type FeedOp } from '../storage/metadata/change-feed.js';
import { changesOf, type StoreChange } from '../storage/metadata/changes.js';
import { keys } from '../storage/metadata/keys.js';
import { releaseChunk } from '../storage/owned-chunks.js';

/** Keys read per range read where the values are not needed. */
const PAGE = 1000;
/**
 * Entries (key and value) per range read. Smaller than PAGE for memory, not speed: at 10,000 repositories
 * (100,000 manifest records) pages of 250 or 1,000 entries left the process at 190 MiB RSS after the scan,
 * pages of 50 or 100 at 131–136 MiB, in the same time (bench/scale's seed; docs/benchmarks.md, "Memory at scale").
 */
const ENTRY_PAGE = 100;

/**
 * A manifest's digest as a number: the first 13 hex digits (52 bits) of its hash. Kept
 * per repository, a number is ~20 bytes of heap where the "repo\0digest" string was ~130
 * (100,000 manifests: ~12 MiB less); two manifests of one repository sharing 52 bits of
 * their hash (odds ~n²/2⁵³) would count once.
 */
function manifestId(digest: Digest): number {
  const hex = digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 14);
  return Number.parseInt(hex, 16);
}

interface LinkedBlob {
  size: number;
  repos: Set<string>;
}

export interface StoredFigures {
  repositories: number;
  blobs: number;
  manifests: number;
  blobBytes: number;
  manifestBytes: number;
  uploads: number;
}

export class StoredContent {
  private readonly repos = new Set<string>();
  private readonly blobs = new Map<Digest, LinkedBlob>();
  /** Per repository: manifestId → the record's byte length. */
  private readonly manifests = new Map<string, Map<number, number>>();
  private manifestCount = 0;
  private readonly uploads = new Set<string>();
  private blobBytes = 0;
  private manifestBytes = 0;
  /** Batches committed while a scan runs, replayed onto its result. */
  private replay: (() => void)[] | undefined;
  private loaded: Promise<void> | undefined;

  constructor(private readonly kv: SortedKv) {}

  /** Feed every committed batch here (ObservedKv.onBatch), from before `load()` is called. */
  readonly apply = (ops: readonly KvOp[]): void => {
    const copy = [...ops];
    this.later(() => this.applyOps(copy));
  };

  /** Feed every batch of the shared store's change feed here instead of `apply`. */
  readonly applyFeed = (ops: readonly FeedOp[]): void => {
    this.later(() => this.applyChanges(ops, feedChanges(ops)));
  };

  /** Counts everything again from the store (after the change feed was lost); figures are partial meanwhile. */
  rescan(): Promise<void> {
    const previous = this.loaded ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        this.repos.clear();
        this.blobs.clear();
        this.manifests.clear();
        this.manifestCount = 0;
        this.uploads.clear();
        this.blobBytes = 0;
        this.manifestBytes = 0;
        return this.scan();
      });
    this.loaded = next;
    return next;
  }

  private later(apply: () => void): void {
    if (this.replay) this.replay.push(apply);
    else apply();
  }

  /** The start-up scan; figures read before it finishes are partial. */
  load(): Promise<void> {
    return (this.loaded ??= this.scan());
  }

  figures(): StoredFigures {
    return {
      repositories: this.repos.size,
      blobs: this.blobs.size,
      manifests: this.manifestCount,
      blobBytes: this.blobBytes,
      manifestBytes: this.manifestBytes,
      uploads: this.uploads.size,
    };
  }

  private async scan(): Promise<void> {
    this.replay = [];
    try {
      for (const kind of ['r', 'l', 'm', 'u']) {
        const range = keys.ofKind(kind);
        // Keys only where the value is not needed: a repository or an upload counts by its key.
        const withValues = kind === 'l' || kind === 'm';
        const limit = withValues ? ENTRY_PAGE : PAGE;
        for (let gt = range.gt; ; ) {
          const page: KvOp[] = withValues
            ? (await this.kv.entries({ gt, lt: range.lt, limit })).map(([key, value]) => ({ type: 'put', key, value }))
            : (await this.kv.keys({ gt, lt: range.lt, limit })).map((key) => ({ type: 'put', key, value: Buffer.alloc(0) }));
          this.applyOps(page);
          // Only sizes were kept: the values' memory goes back now, not at V8's next collection (../storage/owned-chunks.ts).
          if (withValues) for (const op of page) if (op.type === 'put') releaseChunk(op.value);
          if (page.length < limit) break;
          gt = page[page.length - 1]!.key;
        }
      }
    } finally {
      const replay = this.replay;
      this.replay = undefined;
      for (const apply of replay) apply();
    }
  }

  private applyOps(ops: readonly KvOp[]): void {
    this.applyChanges(ops, changesOf(ops));
  }

  private applyChanges(ops: readonly { type: 'put' | 'del'; key: string }[], changes: readonly StoreChange[]): void {
    for (const op of ops) {
      const { kind, fields } = keys.parse(op.key);
      if (kind === 'r' && fields.length === 1) {
        if (op.type === 'put') this.repos.add(fields[0]!);
        else this.repos.delete(fields[0]!);
      } else if (kind === 'u' && fields.length === 1) {
        if (op.type === 'put') this.uploads.add(fields[0]!);
        else this.uploads.delete(fields[0]!);
      }
    }
    for (const change of changes) {
      if (change.what === 'manifest') this.applyManifest(change.repo, change.digest, change.op === 'put' ? change.size : undefined);
      else if (change.op === 'put') this.link(change.repo, change.digest, change.size);
      else this.unlink(change.repo, change.digest);
    }
  }

  private applyManifest(repo: string, digest: Digest, size: number | undefined): void {
    const id = manifestId(digest);
    let ofRepo = this.manifests.get(repo);
    const old = ofRepo?.get(id);
    if (old !== undefined) {
      this.manifestBytes -= old;
      this.manifestCount--;
    }
    if (size === undefined) {
      ofRepo?.delete(id);
      if (ofRepo?.size === 0) this.manifests.delete(repo);
      return;
    }
    if (ofRepo === undefined) this.manifests.set(repo, (ofRepo = new Map()));
    ofRepo.set(id, size);
    this.manifestCount++;
    this.manifestBytes += size;
  }

  private link(repo: string, digest: Digest, size: number): void {
    const blob = this.blobs.get(digest);
    if (blob) {
      blob.repos.add(repo);
      return;
    }
    this.blobs.set(digest, { size, repos: new Set([repo]) });
    this.blobBytes += size;
  }

  private unlink(repo: string, digest: Digest): void {
    const blob = this.blobs.get(digest);
    if (!blob || !blob.repos.delete(repo) || blob.repos.size > 0) return;
    this.blobs.delete(digest);
    this.blobBytes -= blob.size;
  }
}
