/**
 * The mark of one repository, over the metadata only (never a directory walk):
 * roots are its tags, plus every manifest when untagged manifests are kept,
 * else the manifests pushed after the untagged cutoff. From a manifest GC
 * reaches its config and layers, its index children (recursively) and its
 * subject; referrers of a reachable manifest are reachable.
 *
 * Memory: the digests of one repository's reachable manifests and referenced
 * blobs; manifests are read one at a time or a page at a time.
 */
import type { Digest } from '../oci/digest.js';
import type { MetadataStore } from '../storage/types.js';
import { BATCH, each, pages, yieldToLoop } from './pages.js';
import { referencesOf } from './references.js';

/** Manifest pages carry the manifests' bytes (up to manifests.maxSize each): keep them short. */
const MANIFEST_PAGE = 32;

export interface RepositoryMark {
  /** When the mark started (ms): anything linked, touched or pushed since is not judged by it. */
  startedAt: number;
  /** Manifests reached. */
  reachable: Set<Digest>;
  /** Digests the reachable manifests reference: their links must stay. */
  referenced: Set<Digest>;
  /** Manifests nothing reaches, pushed before the untagged cutoff (empty when untagged manifests are kept). */
  unreachable: Digest[];
}

export interface MarkOptions {
  /** undefined: keep every manifest (all are roots). Else manifests pushed before this (ms) are not roots. */
  untaggedCutoff?: number;
}

export async function markRepository(meta: MetadataStore, repo: string, options: MarkOptions): Promise<RepositoryMark> {
  const startedAt = Date.now();
  const reachable = new Set<Digest>();
  const referenced = new Set<Digest>();
  const queue: Digest[] = [];
  const { untaggedCutoff } = options;

  for await (const tags of pages((p) => meta.listTags(repo, p), (t) => t)) {
    for (const digest of await Promise.all(tags.map((tag) => meta.getTag(repo, tag)))) {
      if (digest !== undefined) queue.push(digest);
    }
  }
  for await (const record of each((p) => meta.listManifests(repo, p), (m) => m.digest, MANIFEST_PAGE)) {
    if (untaggedCutoff === undefined || (record.pushedAt ?? 0) >= untaggedCutoff) queue.push(record.digest);
  }

  // Breadth first, a batch of reads in flight at a time.
  while (queue.length > 0) {
    const batch = [...new Set(queue.splice(0, BATCH))].filter((d) => !reachable.has(d));
    const records = await Promise.all(batch.map((d) => meta.getManifest(repo, d)));
    const referrers = await Promise.all(
      batch.map(async (d, i) => {
        if (records[i] === undefined) return [];
        const out: Digest[] = [];
        for await (const r of each((p) => meta.listReferrers(repo, d, p), (x) => x.digest)) out.push(r.digest);
        return out;
      }),
    );
    batch.forEach((digest, i) => {
      // A child descriptor may name a blob linked under its digest rather than a manifest.
      referenced.add(digest);
      const record = records[i];
      if (record === undefined) return;
      reachable.add(digest);
      const refs = referencesOf(repo, record);
      for (const d of refs.blobs) referenced.add(d);
      for (const d of [...refs.children, ...(refs.subject ? [refs.subject] : []), ...referrers[i]!]) {
        if (!reachable.has(d)) queue.push(d);
      }
    });
    await yieldToLoop();
  }

  const unreachable: Digest[] = [];
  if (untaggedCutoff !== undefined) {
    for await (const record of each((p) => meta.listManifests(repo, p), (m) => m.digest, MANIFEST_PAGE)) {
      if (!reachable.has(record.digest) && (record.pushedAt ?? 0) < untaggedCutoff) unreachable.push(record.digest);
    }
  }
  return { startedAt, reachable, referenced, unreachable };
}
