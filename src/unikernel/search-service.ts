/**
 * kconfig search across repositories (`GET /_unikraft/search`), answered from the
 * search index the metadata store keeps with every tag change (keys.ts `v`, `x`,
 * `X`), never by reading manifests:
 *
 *   1. each kconfig term names the indexed features it matches (exact KEY=VALUE:
 *      itself; exact bare KEY: the features starting `KEY=`; kraft's rule: every
 *      known feature containing the term); the term matching fewest drives;
 *   2. the postings of those features, each listed in (repository, tag, digest)
 *      order, are merged in that order from the page's cursor on;
 *   3. each candidate in a repository the caller may pull is read (one record) and
 *      kept when every term, the arch and the plat match it.
 *
 * Results come in (repository, tag, manifest digest) order; `last` is the previous
 * page's last result as `repo:tag@digest`.
 */
import { parseDigest, type Digest } from '../oci/digest.js';
import { RequestInvalidError } from '../domain/errors.js';
import type { FeaturePosting, IndexedVariantRecord, MetadataStore, VariantKey } from '../storage/types.js';
import { checkKconfigTerm, featuresMatch, kconfigTest, type KconfigMatch } from './filter.js';
import { normalizeArch, normalizePlat, tryNormalizeArch, tryNormalizePlat } from './names.js';

export interface SearchQuery {
  kconfig: readonly string[];
  arch?: string | undefined;
  plat?: string | undefined;
  match: KconfigMatch;
  n: number;
  /** `repo:tag@digest` of the previous page's last result. */
  last?: string | undefined;
}

export interface SearchHit {
  repository: string;
  tag: string;
  /** What the tag points at (the index holding the variant, or the variant itself). */
  index: Digest;
  manifest: Digest;
  platform: { architecture: string; os: string; 'os.version'?: string };
  /** The variant's features the terms matched. */
  matched: string[];
  kernelSize?: number;
  imageSize: number;
}

export interface SearchPage {
  results: SearchHit[];
  /** The cursor of the last result, when more may follow. */
  next?: string;
}

/** Postings read per feature per step. */
const BATCH = 128;
/** Known features read per step. */
const VOCABULARY_PAGE = 1000;

const order = (k: VariantKey) => `${k.repo}\u0000${k.tag}\u0000${k.digest}`;
export const cursorOf = (k: VariantKey) => `${k.repo}:${k.tag}@${k.digest}`;

/** A `last` cursor: `repo:tag@digest` (repository names hold neither `:` nor `@`). */
export function parseCursor(value: string): VariantKey {
  const at = value.lastIndexOf('@');
  const colon = value.lastIndexOf(':', at);
  const repo = value.slice(0, colon);
  const tag = value.slice(colon + 1, at);
  if (at < 0 || colon <= 0 || tag === '' || repo.includes('@')) {
    throw new RequestInvalidError('last must be the repo:tag@digest of a result', { last: value });
  }
  let digest: Digest;
  try {
    digest = parseDigest(value.slice(at + 1));
  } catch {
    throw new RequestInvalidError('last must be the repo:tag@digest of a result', { last: value });
  }
  return { repo, tag, digest };
}

/** One feature's postings, read in batches from a cursor on. */
class Postings {
  private buffer: FeaturePosting[] = [];
  private done = false;

  constructor(
    private readonly meta: MetadataStore,
    private readonly feature: string,
    private after: VariantKey | undefined,
  ) {}

  /** The buffered postings, refilled when empty; [] once exhausted. */
  async peek(): Promise<FeaturePosting[]> {
    if (this.buffer.length === 0 && !this.done) {
      this.buffer = await this.meta.listFeatureVariants(this.feature, BATCH, this.after);
      if (this.buffer.length < BATCH) this.done = true;
      const last = this.buffer.at(-1);
      if (last !== undefined) this.after = { repo: last.repo, tag: last.tag, digest: last.digest };
    }
    return this.buffer;
  }

  /** Drops the buffered postings up to and including `upTo` (in order). */
  consume(upTo: string): void {
    this.buffer = this.buffer.filter((k) => order(k) > upTo);
  }

  /** Whether more may come after the buffer. */
  get open(): boolean {
    return !this.done;
  }
}

export class SearchService {
  constructor(private readonly meta: MetadataStore) {}

  private async vocabulary(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    for (let last: string | undefined; ; ) {
      const page = await this.meta.listIndexedFeatures({ last, limit: VOCABULARY_PAGE }, prefix);
      out.push(...page);
      if (page.length < VOCABULARY_PAGE) return out;
      last = page.at(-1);
    }
  }

  /** The indexed features each term matches. */
  private async featuresFor(terms: readonly string[], match: KconfigMatch): Promise<string[][]> {
    if (match === 'exact') {
      return Promise.all(terms.map(async (t) => (t.includes('=') ? [t] : this.vocabulary(`${t}=`))));
    }
    const known = await this.vocabulary();
    return terms.map((t) => known.filter((f) => f.includes(t)));
  }

  async search(query: SearchQuery, accept: (repo: string) => boolean): Promise<SearchPage> {
    const terms = query.kconfig.map((k) => k.trim()).filter((k) => k !== '');
    terms.forEach(checkKconfigTerm);
    const arch = query.arch?.trim() ? normalizeArch(query.arch.trim()) : undefined;
    const plat = query.plat?.trim() ? normalizePlat(query.plat.trim()) : undefined;
    const after = query.last === undefined ? undefined : parseCursor(query.last);
    const admitted = new Map<string, boolean>();
    const admits = (repo: string) => {
      let yes = admitted.get(repo);
      if (yes === undefined) admitted.set(repo, (yes = accept(repo)));
      return yes;
    };
    const hits: SearchHit[] = [];
    const platformOk = (v: { architecture: string; os: string }) =>
      (arch === undefined || tryNormalizeArch(v.architecture) === arch) && (plat === undefined || tryNormalizePlat(v.os) === plat);
    const consider = (v: IndexedVariantRecord | undefined): boolean => {
      if (v === undefined || !platformOk(v)) return false;
      if (!featuresMatch(v.features, terms, query.match)) return false;
      hits.push(hitOf(v, terms, query.match));
      return hits.length > query.n;
    };

    if (terms.length === 0) {
      // No kconfig term: every indexed variant is a candidate, in index order.
      for (let from = after; ; ) {
        const page = await this.meta.listIndexedVariants(BATCH, from);
        for (const v of page) if (admits(v.repo) && consider(v)) return finish(hits, query.n);
        if (page.length < BATCH) return finish(hits, query.n);
        from = page.at(-1);
      }
    }

    const perTerm = await this.featuresFor(terms, query.match);
    const driving = perTerm.reduce((best, f) => (f.length < best.length ? f : best));
    const lists = driving.map((f) => new Postings(this.meta, f, after));
    let seen = after === undefined ? '' : order(after);
    for (;;) {
      // Everything up to the smallest last-buffered posting of an open list is complete in the buffers.
      const buffers = await Promise.all(lists.map((l) => l.peek()));
      const frontier = lists.reduce<string | undefined>((min, l, i) => {
        const last = buffers[i]!.at(-1);
        if (!l.open || last === undefined) return min;
        const o = order(last);
        return min === undefined || o < min ? o : min;
      }, undefined);
      // Each variant with every feature of the driving term it is listed under.
      const ready = new Map<string, { posting: FeaturePosting; features: string[] }>();
      for (const buffer of buffers) {
        for (const p of buffer) {
          const o = order(p);
          if (o <= seen || (frontier !== undefined && o > frontier)) continue;
          const entry = ready.get(o);
          if (entry === undefined) ready.set(o, { posting: p, features: [p.feature] });
          else entry.features.push(p.feature);
        }
      }
      const batch = [...ready.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [o, { posting, features }] of batch) {
        seen = o;
        if (!admits(posting.repo) || !platformOk(posting)) continue;
        if (terms.length === 1) {
          // The posting is the match: its feature satisfies the one term (and a variant listing it has a feature).
          hits.push(hitOf({ ...posting, features: features.sort() }, terms, query.match));
          if (hits.length > query.n) return finish(hits, query.n);
        } else if (consider(await this.meta.getIndexedVariant(posting))) {
          return finish(hits, query.n);
        }
      }
      if (frontier === undefined) return finish(hits, query.n);
      for (const l of lists) l.consume(frontier);
    }
  }
}

function hitOf(v: IndexedVariantRecord, terms: readonly string[], match: KconfigMatch): SearchHit {
  const tests = terms.map((t) => kconfigTest(t, match));
  const platform: SearchHit['platform'] = { architecture: v.architecture, os: v.os };
  if (v.version !== undefined) platform['os.version'] = v.version;
  const hit: SearchHit = {
    repository: v.repo,
    tag: v.tag,
    index: v.index,
    manifest: v.digest,
    platform,
    matched: v.features.filter((f) => tests.some((t) => t(f))),
    imageSize: v.imageSize,
  };
  if (v.kernelSize !== undefined) hit.kernelSize = v.kernelSize;
  return hit;
}

/** At most `n` hits; a cursor when one more was found. */
function finish(hits: SearchHit[], n: number): SearchPage {
  if (hits.length <= n) return { results: hits };
  const results = hits.slice(0, n);
  const last = results.at(-1);
  return last === undefined ? { results } : { results, next: cursorOf({ repo: last.repository, tag: last.tag, digest: last.manifest }) };
}
