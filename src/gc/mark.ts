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
import { each, PAGE, yieldToLoop } from './pages.js';
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

  for await (const tag of each((p) => meta.listTags(repo, p), (t) => t)) {
    const digest = await meta.getTag(repo, tag);
    if (digest !== undefined) queue.push(digest);
  }
  for await (const record of each((p) => meta.listManifests(repo, p), (m) => m.digest, MANIFEST_PAGE)) {
    if (untaggedCutoff === undefined || (record.pushedAt ?? 0) >= untaggedCutoff) queue.push(record.digest);
  }

  let visited = 0;
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (reachable.has(digest)) continue;
    // A child descriptor may name a blob linked under its digest rather than a manifest.
    referenced.add(digest);
    const record = await meta.getManifest(repo, digest);
    if (record === undefined) continue;
    reachable.add(digest);
    const refs = referencesOf(repo, record);
    for (const d of refs.blobs) referenced.add(d);
    for (const d of refs.children) if (!reachable.has(d)) queue.push(d);
    if (refs.subject !== undefined && !reachable.has(refs.subject)) queue.push(refs.subject);
    for await (const referrer of each((p) => meta.listReferrers(repo, digest, p), (d) => d.digest)) {
      if (!reachable.has(referrer.digest)) queue.push(referrer.digest);
    }
    if (++visited % PAGE === 0) await yieldToLoop();
  }

  const unreachable: Digest[] = [];
  if (untaggedCutoff !== undefined) {
    for await (const record of each((p) => meta.listManifests(repo, p), (m) => m.digest, MANIFEST_PAGE)) {
      if (!reachable.has(record.digest) && (record.pushedAt ?? 0) < untaggedCutoff) unreachable.push(record.digest);
    }
  }
  return { startedAt, reachable, referenced, unreachable };
}
