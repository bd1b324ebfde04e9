/**
 * The stores `unireg copy-storage` reads and writes, opened from a configuration
 * through the same drivers the server uses (src/storage/blob-driver.ts,
 * src/storage/metadata-driver.ts): the SortedKv under the metadata store (keys.ts
 * owns its layout, so copying every key is an exact copy) and the blob store.
 */
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { createBlobDriver } from '../storage/blob-driver.js';
import { Layout } from '../storage/fs/layout.js';
import type { SortedKv } from '../storage/kv.js';
import { metadataDriver } from '../storage/metadata-driver.js';
import type { BlobStore } from '../storage/types.js';

export interface CopyStores {
  /** What the stores are, for messages: `fs /data/blobs + level /data/meta`, `s3 http://…/bucket/prefix + postgres …`. */
  describe: string;
  kv: SortedKv;
  blobs: BlobStore;
  /** A fresh path for a temporary file that `blobs.ingest` can take (same file system as an fs blob directory). */
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

/** A PostgreSQL URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres (unparsable URL)';
  }
}

function describe(config: Config, layout: Layout): string {
  const { blobs, metadata } = config.storage;
  const b = blobs.driver === 's3' ? `s3 ${blobs.s3.endpoint || `aws:${blobs.s3.region}`}/${blobs.s3.bucket}/${blobs.s3.prefix}` : `fs ${layout.blobsDir}`;
  const m = metadata.driver === 'postgres' ? `postgres ${redactUrl(metadata.postgres.url)}` : `level ${layout.metaDir}`;
  return `${b} + ${m}`;
}

/**
 * Opens the stores a configuration names. Nothing is created at the source (an
 * embedded data root must exist); the destination is prepared as the server would.
 */
export async function openCopyStores(config: Config, role: 'source' | 'destination'): Promise<CopyStores> {
  const layout = new Layout(resolve(config.storage.root));
  const { blobs: blobSettings, metadata } = config.storage;
  if (role === 'source') {
    if (metadata.driver === 'level' && !(await isDir(layout.metaDir))) {
      throw new CopyStoresError(`no unireg data root at ${layout.root} (expected ${layout.metaDir})`);
    }
    if (blobSettings.driver === 'fs' && !(await isDir(layout.blobsDir))) throw new CopyStoresError(`no blob directory at ${layout.blobsDir}`);
  }
  const blobDriver = await createBlobDriver(config.storage, layout);
  try {
    await blobDriver.probe();
  } catch (err) {
    if (role === 'source' || blobSettings.driver === 's3') throw new CopyStoresError(`cannot reach the blob store (${describe(config, layout)}): ${(err as Error).message}`);
  }
  if (role === 'destination') {
    await blobDriver.blobs.init();
    // Blobs travel through a local temporary file (s3 uploads it from there).
    await mkdir(layout.tmpDir, { recursive: true });
  }
  const driver = await metadataDriver(config, layout.metaDir, pino({ level: 'silent' }));
  try {
    await driver.kv.open();
  } catch (err) {
    await driver.close().catch(() => undefined);
    if (isLocked(err)) throw new CopyStoresError(`the registry using ${layout.root} is running (its LevelDB is locked): stop it first`);
    throw new CopyStoresError(`cannot open the metadata (${describe(config, layout)}): ${(err as Error).message}`);
  }
  return {
    describe: describe(config, layout),
    kv: driver.kv,
    blobs: blobDriver.blobs,
    tmpPath: () => layout.tmpPath(),
    close: async () => {
      await driver.kv.close();
      await driver.close();
    },
  };
}
