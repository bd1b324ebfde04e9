/** Durability helpers: data reaches the disk before a rename makes it visible. */
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { storageIo } from '../io-errors.js';

/** fsyncs a file or directory by path (fdatasync with `dataOnly`). */
export function syncPath(path: string, dataOnly = false): Promise<void> {
  return storageIo(async () => {
    const fh = await open(path, 'r');
    try {
      await (dataOnly ? fh.datasync() : fh.sync());
    } finally {
      await fh.close();
    }
  });
}

/** fsyncs a directory so that a rename or create inside it survives a crash. */
export function syncDir(dir: string): Promise<void> {
  return syncPath(dir);
}

export function syncParent(file: string): Promise<void> {
  return syncDir(dirname(file));
}
