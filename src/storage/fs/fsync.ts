/** Durability helpers: data reaches the disk before a rename makes it visible. */
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so that a rename or create inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function syncParent(file: string): Promise<void> {
  return syncDir(dirname(file));
}
