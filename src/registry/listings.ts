/** Paged listings: tags of a repository, the catalog, and referrers of a subject. */
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { NameUnknownError } from '../domain/errors.js';
import type { RegistryDeps } from './deps.js';
import { CATALOG, encodeOwned } from './listing-page-cache.js';

export interface Page<T> {
  items: T[];
  /** Set when more entries follow: pass it as `last` to continue. */
  next?: string;
}

/**
 * A page of tags with its `GET /v2/<name>/tags/list` body, encoded once: the page cache keeps
 * only the body (./listing-page-cache.ts), and the tags are decoded from it when asked for.
 */
export class TagPage implements Page<string> {
  constructor(
    readonly body: Buffer,
    readonly next?: string,
  ) {}

  static of(repo: string, page: Page<string>): TagPage {
    return new TagPage(encodeOwned({ name: repo, tags: page.items }), page.next);
  }

  get items(): string[] {
    return (JSON.parse(this.body.toString('utf8')) as { tags: string[] }).tags;
  }
}

/** Fetches one entry more than asked to know whether a next page exists. */
function page<T>(items: T[], limit: number, keyOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, next: kept.length > 0 ? keyOf(kept[kept.length - 1]!) : undefined };
}

/**
 * A page of the entries `keep` accepts, for listings filtered after the range
 * scan: scans from `last` in batches of at least `batch` (at least one page, so
 * an unfiltered listing takes one read) until a page and one more are kept.
 */
async function filteredPage<T>(
  fetch: (last: string | undefined, limit: number) => Promise<T[]>,
  keyOf: (item: T) => string,
  keep: (item: T) => boolean,
  limit: number,
  last: string | undefined,
  batch: number,
): Promise<Page<T>> {
  const size = Math.max(batch, limit + 1);
  const out: T[] = [];
  let cursor = last;
  while (out.length <= limit) {
    const items = await fetch(cursor, size);
    for (const item of items) if (keep(item)) out.push(item);
    if (items.length < size) break;
    cursor = keyOf(items[items.length - 1]!);
  }
  return page(out, limit, keyOf);
}

/** The catalog is filtered by the caller's rights after the range scan. */
const REPOSITORY_SCAN_BATCH = 1024;

/** Referrers are filtered by artifactType after the range scan. */
const REFERRER_SCAN_BATCH = 256;

export class ListingService {
  constructor(private readonly deps: RegistryDeps) {}

  /** A page of tags; from the page cache while the repository's tags are unchanged (see ListingPageCache). */
  async tags(repo: string, limit: number, last?: string): Promise<TagPage> {
    const read = async (): Promise<TagPage> => {
      if (!(await this.deps.meta.hasRepository(repo))) throw new NameUnknownError(repo);
      if (limit === 0) return TagPage.of(repo, { items: [] });
      const items = await this.deps.meta.listTags(repo, { last, limit: limit + 1 });
      return TagPage.of(repo, page(items, limit, (t) => t));
    };
    const cache = this.deps.listingPages;
    if (cache === undefined) return read();
    const loaded = await cache.load(repo, limit, last, read);
    return loaded instanceof TagPage ? loaded : new TagPage(loaded.body, loaded.next);
  }

  /** Repositories in name order; only those `visible` accepts (the caller's pull rights). */
  async repositories(limit: number, last?: string, visible: (repo: string) => boolean = () => true): Promise<Page<string>> {
    if (limit === 0) return { items: [] };
    return filteredPage(
      (cursor, n) => this.repositoryScan(cursor, n),
      (r) => r,
      visible,
      limit,
      last,
      REPOSITORY_SCAN_BATCH,
    );
  }

  /** Up to `n` repository names after `cursor`, from the page cache while no repository was created or removed. */
  private async repositoryScan(cursor: string | undefined, n: number): Promise<string[]> {
    const cache = this.deps.listingPages;
    const read = () => this.deps.meta.listRepositories({ last: cursor, limit: n });
    if (cache === undefined) return read();
    const loaded = await cache.load(CATALOG, n, cursor, async () => ({ body: encodeOwned(await read()) }));
    return JSON.parse(loaded.body.toString('utf8')) as string[];
  }

  async referrers(repo: string, subject: Digest, limit: number, artifactType?: string, last?: string): Promise<Page<Descriptor>> {
    return filteredPage(
      (cursor, n) => this.deps.meta.listReferrers(repo, subject, { last: cursor, limit: n }),
      (d) => d.digest,
      (d) => artifactType === undefined || d.artifactType === artifactType,
      limit,
      last,
      REFERRER_SCAN_BATCH,
    );
  }
}
