/**
 * BlobStore on a content-addressed directory (paths from ./layout.ts). File
 * system failures are storage domain errors (src/storage/io-errors.ts).
 */
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../../oci/digest.js';
import { BlobUnknownError } from '../../domain/errors.js';
import { asStorageError, storageIo } from '../io-errors.js';
import type { BlobFile, BlobFileInfo, BlobStore, ByteRange } from '../types.js';
import { syncDir, syncParent } from './fsync.js';
import type { Layout } from './layout.js';

/** Files stat'ed at once while listing. */
const STAT_BATCH = 32;

/** Large reads keep the number of socket writes low when serving big blobs. */
const READ_CHUNK = 1 << 20;

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FsBlobStore implements BlobStore {
  constructor(private readonly layout: Layout) {}

  async init(): Promise<void> {
    for (const dir of [this.layout.blobsDir, this.layout.uploadsDir, this.layout.tmpDir]) {
      await storageIo(() => mkdir(dir, { recursive: true }));
    }
  }

  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.layout.blobPath(digest))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw asStorageError(err);
    }
  }

  /** The blob's file handle; BlobUnknownError when absent. */
  private async openFile(digest: Digest): Promise<FileHandle> {
    try {
      return await open(this.layout.blobPath(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new BlobUnknownError(digest);
      throw asStorageError(err);
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const fh = await this.openFile(digest);
    return fh.createReadStream({
      highWaterMark: READ_CHUNK,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async open(digest: Digest): Promise<BlobFile> {
    const fh = await this.openFile(digest);
    return {
      read: async (buffer, length, position) => (await storageIo(() => fh.read(buffer, 0, length, position))).bytesRead,
      close: () => fh.close(),
    };
  }

  async ingest(file: string, digest: Digest): Promise<void> {
    const target = this.layout.blobPath(digest);
    if ((await this.size(digest)) !== undefined) {
      // Same digest, same content: keep the copy already in place.
      await storageIo(() => unlink(file));
      return;
    }
    const dir = dirname(target);
    await storageIo(async () => {
      await mkdir(dir, { recursive: true });
      await rename(file, target);
    });
    await syncDir(dir);
    await syncParent(dir);
  }

  async remove(digest: Digest): Promise<void> {
    await storageIo(() => rm(this.layout.blobPath(digest), { force: true }));
  }

  async stat(digest: Digest): Promise<BlobFileInfo | undefined> {
    try {
      const info = await stat(this.layout.blobPath(digest));
      return { digest, size: info.size, mtimeMs: info.mtimeMs };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw asStorageError(err);
    }
  }

  /** Walks blobs/<algorithm>/<prefix>/ one directory at a time, so memory holds one prefix's names. */
  async *list(): AsyncIterable<BlobFileInfo> {
    for (const algorithm of await names(this.layout.blobsDir)) {
      const algorithmDir = join(this.layout.blobsDir, algorithm);
      for (const prefix of await names(algorithmDir)) {
        const digests = (await names(join(algorithmDir, prefix)))
          .map((name) => this.layout.blobDigestAt(algorithm, prefix, name))
          .filter((d): d is Digest => d !== undefined);
        for (let i = 0; i < digests.length; i += STAT_BATCH) {
          const infos = await Promise.all(digests.slice(i, i + STAT_BATCH).map((d) => this.stat(d)));
          for (const info of infos) if (info !== undefined) yield info;
        }
      }
    }
  }
}

/** Entry names of a directory; none when it is gone or not a directory. */
async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw asStorageError(err);
  }
}
