/**
 * The stores `unireg copy-storage` reads and writes, opened from a configuration:
 * the SortedKv under the metadata store (keys.ts owns its layout, so copying every
 * key is an exact copy) and the blob store. One function per role, the single place
 * that knows which driver a configuration selects.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { FsBlobStore } from '../storage/fs/fs-blob-store.js';
import { Layout } from '../storage/fs/layout.js';
import type { SortedKv } from '../storage/kv.js';
import { LevelKv } from '../storage/level/level-kv.js';
import type { BlobStore } from '../storage/types.js';

export interface CopyStores {
  /** What the stores are, for messages: `fs /data/blobs + level /data/meta`. */
  describe: string;
  kv: SortedKv;
  blobs: BlobStore;
  /** A fresh path for a temporary file that `blobs.ingest` can take (same file system as the blob directory). */
  tmpPath(): string;
  close(): Promise<void>;
}

/** A store cannot be opened for copying: exit code 2 with this message. */
export class CopyStoresError extends Error {
  override readonly name = 'CopyStoresError';
}

function isLocked(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED';
}

const isDir = (path: string) => stat(path).then((s) => s.isDirectory(), () => false);

/**
 * Opens the stores a configuration names. The source must exist (nothing is created
 * there); the destination is created as the server would create it.
 */
export async function openCopyStores(config: Config, role: 'source' | 'destination'): Promise<CopyStores> {
  const layout = new Layout(resolve(config.storage.root));
  if (role === 'source' && !(await isDir(layout.metaDir))) {
    throw new CopyStoresError(`no unireg data root at ${layout.root} (expected ${layout.metaDir})`);
  }
  const blobs = new FsBlobStore(layout);
  if (role === 'destination') await blobs.init();
  else if (!(await isDir(layout.blobsDir))) throw new CopyStoresError(`no blob directory at ${layout.blobsDir}`);
  const kv = new LevelKv(layout.metaDir);
  try {
    await kv.open();
  } catch (err) {
    if (isLocked(err)) throw new CopyStoresError(`the registry using ${layout.root} is running (its LevelDB is locked): stop it first`);
    throw new CopyStoresError(`cannot open the metadata in ${layout.metaDir}: ${(err as Error).message}`);
  }
  return {
    describe: `fs ${layout.blobsDir} + level ${layout.metaDir}`,
    kv,
    blobs,
    tmpPath: () => layout.tmpPath(),
    close: () => kv.close(),
  };
}
