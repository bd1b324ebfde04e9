/**
 * ListingPageCache keeps recent listing pages in memory: tags/list pages per
 * repository, and the catalog's range reads under the scope `CATALOG`. A
 * repeated `GET /v2/<name>/tags/list?n=&last=` or `GET /v2/_catalog?n=&last=`
 * costs no LevelDB range scan (a scan of 1,000 keys and the strings made from
 * them cost about 1 ms of CPU).
 *
 * A page is kept encoded (its JSON, in a buffer of its own), not as an array of
 * strings: a tag kept as a V8 string costs ~45 bytes of heap, as JSON its length
 * plus 3, outside the heap V8 grows in proportion to what is alive. Holding the
 * pages of a 100,000-tag walk as strings kept ~9 MiB alive in the heap
 * (docs/benchmarks.md, "Memory at scale").
 *
 * Invalidation does not rely on the writers: `apply` is fed every committed
 * metadata batch (src/storage/observed-kv.ts, wired in src/main.ts). A batch
 * that puts or deletes a tag or the repository record of a repository drops
 * that repository's pages; one that puts or deletes a repository record also
 * drops the catalog's. So every path that writes tags or creates or removes a
 * repository (manifest PUT and DELETE, a blob push into a new repository,
 * retention, GC, verify --repair, a unikernel pack) invalidates, whether or not
 * it knows about this cache. A read that raced with such a write (the version
 * moved while it scanned) is not cached.
 *
 * One process only: with a metadata store shared by several replicas, another
 * replica's batches do not reach `apply`; the change feed must call
 * `invalidate(repo)` (or the cache must be left out).
 */
import type { KvOp } from '../storage/kv.js';
import { keys } from '../storage/metadata/keys.js';

const SEP = '\u0000';

/** The scope of the catalog's pages: no repository is named ''. */
export const CATALOG = '';

/** A page as kept: its encoded form (what the caller stored), and the key of the page after it. */
export interface EncodedPage {
  body: Buffer;
  next?: string;
}

interface InFlight {
  page: Promise<EncodedPage>;
  /** The cache's version when the read began. */
  version: number;
}

interface Entry {
  page: EncodedPage;
  /** The body's bytes and a rough allowance for the entry and its keys. */
  bytes: number;
}

/**
 * `value` as JSON in a buffer of its own. Buffer.from(string) puts a short result in a slice of
 * Node's shared 8 KiB pool, and a kept slice would keep the whole pool buffer alive.
 */
export function encodeOwned(value: unknown): Buffer {
  const text = JSON.stringify(value);
  const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  out.write(text);
  return out;
}

export class ListingPageCache {
  /** Per repository: its pages by `n \0 last`, in LRU order across the whole cache via `order`. */
  private readonly pages = new Map<string, Map<string, Entry>>();
  /** Every cached page as `repo \0 n \0 last`, least recently used first. */
  private readonly order = new Map<string, true>();
  /** Reads in flight by `repo \0 n \0 last`. */
  private readonly loading = new Map<string, InFlight>();
  /** Bumped by every write to any repository's tags (one number: bounded, whatever the number of repositories). */
  private epoch = 0;
  private bytes = 0;
  readonly stats = { hits: 0, misses: 0, joined: 0 };

  constructor(
    private readonly maxBytes = 4 * 1024 * 1024,
    private readonly maxPages = 4096,
  ) {}

  /** The version now; pass it to `set` after the store read. */
  version(): number {
    return this.epoch;
  }

  get(repo: string, limit: number, last: string | undefined): EncodedPage | undefined {
    const sub = this.pages.get(repo);
    const pageKey = pageKeyOf(limit, last);
    const entry = sub?.get(pageKey);
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    const full = repo + SEP + pageKey;
    this.order.delete(full);
    this.order.set(full, true);
    return entry.page;
  }

  /**
   * The page from the cache; else the result of a read of it already in flight that began after the
   * last tag write; else `read()`'s, kept for later callers unless a tag was written meanwhile.
   */
  async load(repo: string, limit: number, last: string | undefined, read: () => Promise<EncodedPage>): Promise<EncodedPage> {
    const cached = this.get(repo, limit, last);
    if (cached !== undefined) return cached;
    const full = repo + SEP + pageKeyOf(limit, last);
    const running = this.loading.get(full);
    if (running !== undefined && running.version === this.epoch) {
      this.stats.joined++;
      return running.page;
    }
    const version = this.epoch;
    const flight: InFlight = { page: read(), version };
    this.loading.set(full, flight);
    try {
      const page = await flight.page;
      this.set(repo, limit, last, page, version);
      return page;
    } finally {
      if (this.loading.get(full) === flight) this.loading.delete(full);
    }
  }

  /** Keeps `page` unless a tag was written (in any repository) since `version` was taken. */
  set(repo: string, limit: number, last: string | undefined, page: EncodedPage, version: number): void {
    if (version !== this.epoch) return;
    const pageKey = pageKeyOf(limit, last);
    const bytes = page.body.length + 2 * (repo.length + pageKey.length + (page.next?.length ?? 0)) + 160;
    if (bytes > this.maxBytes / 8) return;
    this.drop(repo, pageKey);
    let sub = this.pages.get(repo);
    if (sub === undefined) this.pages.set(repo, (sub = new Map()));
    sub.set(pageKey, { page, bytes });
    this.order.set(repo + SEP + pageKey, true);
    this.bytes += bytes;
    while (this.bytes > this.maxBytes || this.order.size > this.maxPages) {
      const oldest = this.order.keys().next().value!;
      const cut = oldest.indexOf(SEP);
      this.drop(oldest.slice(0, cut), oldest.slice(cut + 1));
    }
  }

  /** Drops every page of `repo` and makes reads in flight not cache what they read. */
  invalidate(repo: string): void {
    this.epoch++;
    const sub = this.pages.get(repo);
    if (sub === undefined) return;
    for (const [pageKey, entry] of sub) {
      this.order.delete(repo + SEP + pageKey);
      this.bytes -= entry.bytes;
    }
    this.pages.delete(repo);
  }

  /** A committed metadata batch: invalidates each repository whose tags or record it wrote, and the catalog if a record. */
  readonly apply = (ops: readonly KvOp[]): void => {
    for (const op of ops) {
      const kind = op.key.charCodeAt(0);
      // 't' tag, 'r' repository record: only these change what tags/list answers; only 'r' what the catalog answers.
      if ((kind !== 0x74 && kind !== 0x72) || op.key.charCodeAt(1) !== 0) continue;
      const { fields } = keys.parse(op.key);
      const repo = fields[0];
      if (repo !== undefined) this.invalidate(repo);
      if (kind === 0x72) this.invalidate(CATALOG);
    }
  };

  private drop(repo: string, pageKey: string): void {
    const sub = this.pages.get(repo);
    const entry = sub?.get(pageKey);
    if (sub === undefined || entry === undefined) return;
    sub.delete(pageKey);
    if (sub.size === 0) this.pages.delete(repo);
    this.order.delete(repo + SEP + pageKey);
    this.bytes -= entry.bytes;
  }
}

function pageKeyOf(limit: number, last: string | undefined): string {
  return last === undefined ? `${limit}` : `${limit}${SEP}${last}`;
}
