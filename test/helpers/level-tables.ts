/**
 * A LevelDB (LevelKv) on disk whose entries are in table files, and which of its tables are mapped into this
 * process: for the tests of how LevelKv lets go of them (test/store/level-release.test.ts, level-tidy.test.ts).
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelKv } from '../../src/storage/level/level-kv.js';

/** Table files of the LevelDB in `dir` mapped into this process (from /proc/self/maps). */
export async function mappedTables(dir: string): Promise<Set<string>> {
  const maps = await readFile('/proc/self/maps', 'utf8');
  return new Set(maps.split('\n').filter((line) => line.includes(`${dir}/`) && line.endsWith('.ldb')).map((line) => line.slice(line.lastIndexOf('/') + 1)));
}

export const key = (i: number) => `k\u0000${String(i).padStart(5, '0')}`;
export const RANGE = { gt: 'k\u0000', lt: 'k\u0001' };

export interface LevelWithTables {
  dir: string;
  kv: LevelKv;
  /** Closes the store and removes its temp dir. */
  dispose(): Promise<void>;
}

/** A LevelDB holding `n` entries of 1 KiB in table files (a reopen writes the log out as a table). */
export async function levelWithTables(n: number): Promise<LevelWithTables> {
  // The store's directory inside a temp dir of its own, which also holds its owner lock (`<dir>.owner`).
  const root = await mkdtemp(join(tmpdir(), 'unireg-level-tables-'));
  const dir = join(root, 'meta');
  let kv = new LevelKv(dir);
  await kv.open();
  for (let i = 0; i < n; i += 500) {
    await kv.batch(Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: Buffer.alloc(1024, (i + j) % 251) })));
  }
  await kv.close();
  kv = new LevelKv(dir);
  await kv.open();
  return {
    dir,
    kv,
    dispose: async () => {
      await kv.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
