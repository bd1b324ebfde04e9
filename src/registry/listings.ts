/** Paged listings: tags of a repository, the catalog, and referrers of a subject. */
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { NameUnknownError } from '../storage/errors.js';
import type { RegistryDeps } from './deps.js';

export interface Page<T> {
  items: T[];
  /** Set when more entries follow: pass it as `last` to continue. */
  next?: string;
}

/** Fetches one entry more than asked to know whether a next page exists. */
function page<T>(items: T[], limit: number, keyOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, next: kept.length > 0 ? keyOf(kept[kept.length - 1]!) : undefined };
}

/** The catalog is filtered by the caller's rights after the range scan, so scan in bounded batches. */
const REPOSITORY_SCAN_BATCH = 1024;

/** Referrers are filtered after the range scan, so scan in bounded batches. */
const REFERRER_SCAN_BATCH = 256;

export class ListingService {
  constructor(private readonly deps: RegistryDeps) {}

  async tags(repo: string, limit: number, last?: string): Promise<Page<string>> {
    if (!(await this.deps.meta.hasRepository(repo))) throw new NameUnknownError(repo);
    if (limit === 0) return { items: [] };
    const items = await this.deps.meta.listTags(repo, { last, limit: limit + 1 });
    return page(items, limit, (t) => t);
  }

  /** Repositories in name order; only those `visible` accepts (the caller's pull rights). */
  async repositories(limit: number, last?: string, visible: (repo: string) => boolean = () => true): Promise<Page<string>> {
    if (limit === 0) return { items: [] };
    const out: string[] = [];
    let cursor = last;
    while (out.length <= limit) {
      const batch = await this.deps.meta.listRepositories({ last: cursor, limit: REPOSITORY_SCAN_BATCH });
      for (const repo of batch) if (visible(repo)) out.push(repo);
      if (batch.length < REPOSITORY_SCAN_BATCH) break;
      cursor = batch[batch.length - 1];
    }
    return page(out, limit, (r) => r);
  }

  async referrers(repo: string, subject: Digest, limit: number, artifactType?: string, last?: string): Promise<Page<Descriptor>> {
    const out: Descriptor[] = [];
    let cursor = last;
    while (out.length <= limit) {
      const batch = await this.deps.meta.listReferrers(repo, subject, { last: cursor, limit: REFERRER_SCAN_BATCH });
      for (const d of batch) {
        if (artifactType === undefined || d.artifactType === artifactType) out.push(d);
      }
      if (batch.length < REFERRER_SCAN_BATCH) break;
      cursor = batch[batch.length - 1]!.digest;
    }
    return page(out, limit, (d) => d.digest);
  }
}
