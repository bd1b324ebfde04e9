/**
 * A walk of the blob directory (paths from ./layout.ts): every file, as the
 * digest it is stored under, or as a stray when its path is not a blob's.
 * One directory is read at a time, so memory follows the widest directory.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Digest } from '../../oci/digest.js';
import type { Layout } from './layout.js';

export type BlobDirEntry =
  | { kind: 'blob'; digest: Digest; size: number; mtimeMs: number }
  /** Something under blobs/ that is not a blob file; `path` is relative to the data root. */
  | { kind: 'stray'; path: string };

async function entries(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  const list = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return list.map((d) => ({ name: d.name, isDir: d.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

export async function* walkBlobDir(layout: Layout): AsyncGenerator<BlobDirEntry> {
  const stray = (path: string): BlobDirEntry => ({ kind: 'stray', path: relative(layout.root, path) });
  for (const algorithm of await entries(layout.blobsDir)) {
    const algDir = join(layout.blobsDir, algorithm.name);
    if (!algorithm.isDir) {
      yield stray(algDir);
      continue;
    }
    for (const prefix of await entries(algDir)) {
      const prefixDir = join(algDir, prefix.name);
      if (!prefix.isDir) {
        yield stray(prefixDir);
        continue;
      }
      for (const file of await entries(prefixDir)) {
        const path = join(prefixDir, file.name);
        const digest = file.isDir ? undefined : layout.blobDigestAt(algorithm.name, prefix.name, file.name);
        if (digest === undefined) {
          yield stray(path);
          continue;
        }
        const info = await stat(path);
        yield { kind: 'blob', digest, size: info.size, mtimeMs: info.mtimeMs };
      }
    }
  }
}
