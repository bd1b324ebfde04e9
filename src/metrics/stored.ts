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
import { scanPages, type KvOp, type SortedKv } from '../storage/kv.js';
import { feedChanges, type FeedOp } from '../storage/metadata/change-feed.js';
import { changesOf, type StoreChange } from '../storage/metadata/changes.js';
import { keys } from '../storage/metadata/keys.js';
import { releaseChunk } from '../storage/owned-chunks.js';
import { IdTable } from './id-table.js';

/** Keys read per range read where the values are not needed. */
const PAGE = 1000;
/**
 * Entries (key and value) per range read. Smaller than PAGE for memory, not speed: at 10,000 repositories
 * (100,000 manifest records) pages of 250 or 1,000 entries left the process at 190 MiB RSS after the scan,
 * pages of 50 or 100 at 131–136 MiB, in the same time (bench/scale's seed; docs/benchmarks.md, "Memory at scale").
 */
const ENTRY_PAGE = 100;

const TWO_26 = 2 ** 26;

/** 52 bits of a repository name (two 26-bit FNV-1a hashes of its UTF-16 units, different offsets). */
function repoBits(repo: string): { hi: number; lo: number } {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < repo.length; i++) {
    const c = repo.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return { hi: (a >>> 0) % TWO_26, lo: (b >>> 0) % TWO_26 };
}

/**
 * A manifest record's id: the first 13 hex digits (52 bits) of its digest's hash XOR 52
 * bits of its repository's name, so one digest in two repositories is two ids. All of them
 * live in one IdTable (./id-table.ts), outside V8's heap: at 10,000 repositories / 100,000
 * manifests a Map per repository held ~7 MiB of heap. Two records sharing an id (odds
 * ~n²/2⁵³, 10⁻⁶ at 100,000 manifests) would count once.
 */
export function manifestId(repo: string, digest: Digest): number {
  const colon = digest.indexOf(':');
  const d = Number.parseInt(digest.slice(colon + 1, colon + 14), 16);
  const lo = d % TWO_26;
  const r = repoBits(repo);
  return ((((d - lo) / TWO_26) ^ r.hi) >>> 0) * TWO_26 + ((lo ^ r.lo) >>> 0);
}

/**
 * A copy of `s` that holds nothing else: names parsed out of a key are slices that keep
 * the whole key string alive (V8's sliced strings), ~100 bytes more per entry kept.
 */
function own(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
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
  /** manifestId(repo, digest) → the record's byte length. */
  private readonly manifests = new IdTable();
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
      manifests: this.manifests.size,
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
        // One iterator per kind where the store has one (SortedKv.scan): on LevelDB, paging with a new
        // iterator per page let a compaction that the scan's own reads set off pull its new tables into
        // memory too, ~14 MiB of RSS more at 10,000 repositories (docs/benchmarks.md, "Memory at scale").
        for await (const entries of scanPages(this.kv, range, withValues ? ENTRY_PAGE : PAGE, withValues)) {
          const page: KvOp[] = entries.map(([key, value]) => ({ type: 'put', key, value }));
          this.applyOps(page);
          // Only sizes were kept: the values' memory goes back now, not at V8's next collection (../storage/owned-chunks.ts).
          if (withValues) for (const op of page) if (op.type === 'put') releaseChunk(op.value);
        }
      }
      // Every link and manifest record was read: on LevelDB, every table file is now mapped into the process.
      await this.kv.release?.();
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
        if (op.type === 'put') {
          if (!this.repos.has(fields[0]!)) this.repos.add(own(fields[0]!));
        } else this.repos.delete(fields[0]!);
      } else if (kind === 'u' && fields.length === 1) {
        if (op.type === 'put') {
          if (!this.uploads.has(fields[0]!)) this.uploads.add(own(fields[0]!));
        } else this.uploads.delete(fields[0]!);
      }
    }
    for (const change of changes) {
      if (change.what === 'manifest') this.applyManifest(change.repo, change.digest, change.op === 'put' ? change.size : undefined);
      else if (change.op === 'put') this.link(change.repo, change.digest, change.size);
      else this.unlink(change.repo, change.digest);
    }
  }

  private applyManifest(repo: string, digest: Digest, size: number | undefined): void {
    const id = manifestId(repo, digest);
    const old = size === undefined ? this.manifests.delete(id) : this.manifests.set(id, size);
    this.manifestBytes += (size ?? 0) - (old ?? 0);
  }

  private link(repo: string, digest: Digest, size: number): void {
    const blob = this.blobs.get(digest);
    if (blob) {
      if (!blob.repos.has(repo)) blob.repos.add(own(repo));
      return;
    }
    this.blobs.set(own(digest) as Digest, { size, repos: new Set([own(repo)]) });
    this.blobBytes += size;
  }

  private unlink(repo: string, digest: Digest): void {
    const blob = this.blobs.get(digest);
    if (!blob || !blob.repos.delete(repo) || blob.repos.size > 0) return;
    this.blobs.delete(digest);
    this.blobBytes -= blob.size;
  }
}
