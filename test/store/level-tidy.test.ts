/**
 * LevelDB's tables that a compaction had to leave for a live iterator are deleted, and unmapped, once
 * it is gone (LevelKv.tidy): LevelDB itself does so only at its next compaction or reopen, and on a
 * store that is only read that is never; until then they stay mapped, and resident, since the
 * compaction read them through (docs/benchmarks.md, "Memory at scale"). Mappings are read from
 * /proc/self/maps: the databases here are opened in this process.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { levelWithTables, mappedTables, RANGE } from '../helpers/level-tables.js';

const tablesOnDisk = async (dir: string) => new Set((await readdir(dir)).filter((name) => name.endsWith('.ldb')));

/**
 * A compaction that ends while an iterator is open, as a listing page's is while LevelDB compacts
 * under it; then the iterator closes. LevelDB's own compactions come when its reads or writes call
 * for them; this asks for one. Its inputs are left on disk (LevelDB's cleanup ran while they were read).
 */
async function leaveCompactionInputs(kv: LevelKv): Promise<void> {
  const pages = kv.scan(RANGE, 10, true)[Symbol.asyncIterator]();
  assert.equal((await pages.next()).done, false);
  await (kv as unknown as { db: { compactRange(a: string, b: string): Promise<void> } }).db.compactRange('k', 'l');
  await pages.return?.(undefined);
}

test('LevelDB tidy: tables a compaction left behind for a live iterator are deleted and unmapped once it is gone', async () => {
  const { dir, kv, dispose } = await levelWithTables(6000);
  try {
    const expected = await kv.entries(RANGE);
    await leaveCompactionInputs(kv);
    const before = await tablesOnDisk(dir);
    assert.equal(await kv.tidy(), true, 'the compaction\'s inputs were still on disk');
    const after = await tablesOnDisk(dir);
    const gone = [...before].filter((name) => !after.has(name));
    assert.ok(gone.length > 0, `tables before ${[...before].join(' ')}, after ${[...after].join(' ')}`);
    const mapped = await mappedTables(dir);
    assert.deepEqual(gone.filter((name) => mapped.has(name)), [], 'a deleted table is still mapped');
    assert.equal(await kv.tidy(), false, 'nothing left to clean up');
    const again = await kv.entries(RANGE);
    assert.equal(again.length, expected.length);
    assert.ok(again.every(([k, v], i) => k === expected[i]![0] && v.equals(expected[i]![1])));
  } finally {
    await dispose();
  }
});

test('LevelDB tidy: the periodic check cleans up on its own, within 15 s', async () => {
  const { dir, kv, dispose } = await levelWithTables(6000);
  try {
    await leaveCompactionInputs(kv);
    const before = await tablesOnDisk(dir);
    // Checks every 5 s and acts at the second that sees the tables unused: within 10 s.
    const deadline = Date.now() + 15_000;
    let after = before;
    while (after.size === before.size && Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 250));
      after = await tablesOnDisk(dir);
    }
    assert.ok(after.size < before.size, `tables before ${[...before].join(' ')}, after 15 s ${[...after].join(' ')}`);
  } finally {
    await dispose();
  }
});
