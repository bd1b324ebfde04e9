/**
 * Copying a registry's storage to other stores (`unireg copy-storage`): every blob,
 * streamed through a temporary file beside the destination and hashed on the way,
 * so a blob whose bytes do not match its digest is reported and never written under
 * that digest; then every metadata record, page by page. Blobs go first: metadata
 * that names a blob is only written once the blobs are in place, so an interrupted
 * copy never leaves records pointing at content that is not there.
 *
 * Upload sessions in progress are left out (their bytes live in the source's upload
 * area); clients start those uploads again.
 */
import { open, unlink } from 'node:fs/promises';
import { digestAlgorithm, finishDigest, newHash, type Digest } from '../oci/digest.js';
import { spool } from '../storage/fs/spool.js';
import { keys } from '../storage/metadata/keys.js';
import type { BlobFileInfo } from '../storage/types.js';
import type { CopyStores } from './copy-stores.js';

/** Records per metadata page (one read and one batch each). */
const PAGE = 500;

export interface CopyOptions {
  /** Blobs copied at once. */
  concurrency: number;
  /** Re-read every copied blob from the destination and rehash it. */
  verifyDestination: boolean;
  onProgress?: (progress: CopyProgress) => void;
}

export interface CopyProgress {
  phase: 'blobs' | 'metadata';
  blobsDone: number;
  blobsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  records: number;
}

export interface BlobProblem {
  digest: Digest;
  problem: string;
}

export interface CopySummary {
  blobs: { total: number; copied: number; skipped: number; bytesCopied: number; bytesTotal: number; failed: BlobProblem[] };
  metadata: { records: number; uploadSessionsLeftOut: number };
  ms: number;
}

/** Whether the destination holds anything at all (a metadata record or a blob). */
export async function isEmpty(stores: CopyStores): Promise<boolean> {
  if ((await stores.kv.keys({ ...keys.all(), limit: 1 })).length > 0) return false;
  for await (const blob of stores.blobs.list()) {
    void blob;
    return false;
  }
  return true;
}

async function tally(from: CopyStores): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  for await (const info of from.blobs.list()) {
    count++;
    bytes += info.size;
  }
  return { count, bytes };
}

/** Copies one blob: 'copied', 'skipped' when already there with its size, or the problem. */
async function copyBlob(from: CopyStores, to: CopyStores, info: BlobFileInfo, verify: boolean): Promise<'copied' | 'skipped' | string> {
  const present = await to.blobs.size(info.digest);
  if (present === info.size) return 'skipped';
  // A blob of the wrong size at the destination is a broken copy of an earlier run: replaced.
  if (present !== undefined) await to.blobs.remove(info.digest);
  const algorithm = digestAlgorithm(info.digest);
  const tmp = to.tmpPath();
  const fh = await open(tmp, 'wx', 0o644);
  let ingested = false;
  try {
    const hash = newHash(algorithm);
    let written: number;
    try {
      written = await spool(await from.blobs.read(info.digest), fh, 0, hash);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const actual = finishDigest(hash, algorithm);
    if (actual !== info.digest) return `content hashes to ${actual} (${written} bytes): corrupt at the source, not copied`;
    if (written !== info.size) return `read ${written} bytes, the source lists ${info.size}: not copied`;
    await to.blobs.ingest(tmp, info.digest);
    ingested = true;
  } finally {
    if (!ingested) await unlink(tmp).catch(() => undefined);
  }
  const size = await to.blobs.size(info.digest);
  if (size !== info.size) return `the destination holds ${size ?? 'no'} bytes after the copy, expected ${info.size}`;
  if (verify) {
    const hash = newHash(algorithm);
    for await (const chunk of await to.blobs.read(info.digest)) hash.update(chunk as Buffer);
    const actual = finishDigest(hash, algorithm);
    if (actual !== info.digest) return `the destination's copy hashes to ${actual}`;
  }
  return 'copied';
}

async function copyBlobs(from: CopyStores, to: CopyStores, options: CopyOptions, summary: CopySummary, progress: CopyProgress): Promise<void> {
  const listing = from.blobs.list()[Symbol.asyncIterator]();
  // One listing shared by the workers, read one step at a time: each takes the next blob when it is free.
  let chain: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<BlobFileInfo>> => {
    const step = chain.then(() => listing.next());
    chain = step.catch(() => undefined);
    return step;
  };
  const worker = async () => {
    for (;;) {
      const item = await next();
      if (item.done) return;
      const info = item.value;
      let outcome: string;
      try {
        outcome = await copyBlob(from, to, info, options.verifyDestination);
      } catch (err) {
        outcome = `cannot copy: ${(err as Error).message}`;
      }
      if (outcome === 'skipped') summary.blobs.skipped++;
      else if (outcome === 'copied') {
        summary.blobs.copied++;
        summary.blobs.bytesCopied += info.size;
      } else summary.blobs.failed.push({ digest: info.digest, problem: outcome });
      progress.blobsDone++;
      progress.bytesDone += info.size;
      options.onProgress?.(progress);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
}

async function copyMetadata(from: CopyStores, to: CopyStores, options: CopyOptions, summary: CopySummary, progress: CopyProgress): Promise<void> {
  let last: string | undefined;
  for (;;) {
    const page = await from.kv.entries({ ...keys.all(last), limit: PAGE });
    if (page.length === 0) return;
    last = page.at(-1)![0];
    const puts = page.filter(([key]) => keys.parse(key).kind !== 'u');
    summary.metadata.uploadSessionsLeftOut += page.length - puts.length;
    if (puts.length > 0) await to.kv.batch(puts.map(([key, value]) => ({ type: 'put' as const, key, value })));
    summary.metadata.records += puts.length;
    progress.records = summary.metadata.records;
    options.onProgress?.(progress);
  }
}

/** Copies everything from `from` to `to` (the caller has checked that `to` may be written). */
export async function copyStorage(from: CopyStores, to: CopyStores, options: CopyOptions): Promise<CopySummary> {
  const started = Date.now();
  const { count, bytes } = await tally(from);
  const summary: CopySummary = {
    blobs: { total: count, copied: 0, skipped: 0, bytesCopied: 0, bytesTotal: bytes, failed: [] },
    metadata: { records: 0, uploadSessionsLeftOut: 0 },
    ms: 0,
  };
  const progress: CopyProgress = { phase: 'blobs', blobsDone: 0, blobsTotal: count, bytesDone: 0, bytesTotal: bytes, records: 0 };
  await copyBlobs(from, to, options, summary, progress);
  progress.phase = 'metadata';
  await copyMetadata(from, to, options, summary, progress);
  summary.ms = Date.now() - started;
  return summary;
}
