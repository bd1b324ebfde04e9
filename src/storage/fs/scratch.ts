/**
 * The scratch directory (tmp/ under the data root: single-request bodies on fs, kernel
 * parts of `_unikraft/pack` on any driver). Several processes may share a root, so
 * start-up and the sweep remove only entries old enough that no live request owns them.
 */
import type { Dirent } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { storageIo } from '../io-errors.js';
import { rm, stat } from './files.js';

/** Temp files untouched this long belong to no live request (a body idle this long was cut off long ago). */
export const STALE_TMP_MS = 60 * 60_000;

/** Creates `dir` and removes its entries untouched for `minAgeMs`. */
export async function prepareScratch(dir: string, now: number, minAgeMs = STALE_TMP_MS): Promise<void> {
  await storageIo(() => mkdir(dir, { recursive: true }));
  const entries: Dirent[] = await storageIo(() => readdir(dir, { withFileTypes: true }));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > minAgeMs) await rm(path, { recursive: true, force: true });
  }
}
