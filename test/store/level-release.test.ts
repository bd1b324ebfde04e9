/**
 * After a read of the whole store, LevelDB's table files are let go of (SortedKv.release,
 * MetadataStore.release): LevelDB maps every table it reads into the process and keeps it mapped,
 * so without this the whole store stays counted in the server's RSS after the start-up count, a GC
 * or a quota recount (docs/benchmarks.md, "Memory at scale"). Mappings are read from /proc/self/maps:
 * the servers here run in this process.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gcOverHttp } from '../helpers/gc.js';
import { scrape } from '../helpers/metrics.js';
import { pushImage, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';

/** Table files of the LevelDB in `dir` mapped into this process. */
async function mappedTables(dir: string): Promise<Set<string>> {
  const maps = await readFile('/proc/self/maps', 'utf8');
  return new Set(maps.split('\n').filter((line) => line.includes(`${dir}/`) && line.endsWith('.ldb')).map((line) => line.slice(line.lastIndexOf('/') + 1)));
}

/**
 * None of `read` (what a read mapped) is mapped any more. A reopen writes LevelDB's log out as a new
 * table and opens it to check it, so that one may be mapped: it holds only what was written since.
 */
async function assertReleased(dir: string, read: Set<string>, when: string): Promise<void> {
  assert.ok(read.size > 0, `the read mapped tables (${when})`);
  const now = await mappedTables(dir);
  assert.deepEqual([...read].filter((t) => now.has(t)), [], `still mapped ${when}`);
}

const key = (i: number) => `k\u0000${String(i).padStart(5, '0')}`;
const RANGE = { gt: 'k\u0000', lt: 'k\u0001' };

/** A LevelDB holding `n` entries of 1 KiB in table files (a reopen writes the log out as a table). */
async function levelWithTables(n: number): Promise<{ dir: string; kv: LevelKv }> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-level-release-'));
  let kv = new LevelKv(dir);
  await kv.open();
  for (let i = 0; i < n; i += 500) {
    await kv.batch(Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: Buffer.alloc(1024, (i + j) % 251) })));
  }
  await kv.close();
  kv = new LevelKv(dir);
  await kv.open();
  return { dir, kv };
}

const servers: TestServer[] = [];
after(async () => {
  for (const srv of servers) await srv.destroy().catch(() => undefined);
});

test('LevelDB release: the tables a full read mapped are unmapped, and everything reads the same after', async () => {
  const { dir, kv } = await levelWithTables(6000);
  try {
    const before = await kv.entries(RANGE);
    assert.equal(before.length, 6000);
    const read = await mappedTables(dir);
    await kv.release();
    await assertReleased(dir, read, 'after release()');
    // Nothing was written since the last open: no table at all is left mapped.
    assert.equal((await mappedTables(dir)).size, 0);
    const again = await kv.entries(RANGE);
    assert.equal(again.length, 6000);
    assert.ok(again.every(([k, v], i) => k === before[i]![0] && v.equals(before[i]![1])));
  } finally {
    await kv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('LevelDB release: reads and writes issued while it runs wait for it and succeed', async () => {
  const { dir, kv } = await levelWithTables(2000);
  try {
    await kv.entries(RANGE);
    const released = kv.release();
    const [value, , page] = await Promise.all([
      kv.get(key(1234)),
      kv.batch([{ type: 'put', key: key(99999), value: Buffer.from('during') }]),
      kv.entries({ ...RANGE, limit: 10 }),
      released,
    ]);
    assert.ok(value?.equals(Buffer.alloc(1024, 1234 % 251)));
    assert.equal(page.length, 10);
    assert.equal((await kv.get(key(99999)))?.toString(), 'during');
    // A release after close does nothing and does not reopen.
    await kv.close();
    await kv.release();
    await assert.rejects(kv.get(key(1)));
  } finally {
    await kv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('LevelDB tidy: tables a compaction left behind for a live iterator are deleted and unmapped once it is gone', async () => {
  const { dir, kv } = await levelWithTables(6000);
  try {
    const expected = await kv.entries(RANGE);
    const tablesOnDisk = async () => new Set((await readdir(dir)).filter((name) => name.endsWith('.ldb')));
    // An iterator that stays open, as a listing page's does while LevelDB compacts under it.
    const pages = kv.scan(RANGE, 10, true)[Symbol.asyncIterator]();
    assert.equal((await pages.next()).done, false);
    // LevelDB's own compactions come when its reads or writes call for them; this test asks for one.
    await (kv as unknown as { db: { compactRange(a: string, b: string): Promise<void> } }).db.compactRange('k', 'l');
    await pages.return?.(undefined);
    const before = await tablesOnDisk();
    assert.equal(await kv.tidy(), true, 'the compaction\'s inputs were still on disk');
    const after = await tablesOnDisk();
    const gone = [...before].filter((name) => !after.has(name));
    assert.ok(gone.length > 0, `tables before ${[...before].join(' ')}, after ${[...after].join(' ')}`);
    const mapped = await mappedTables(dir);
    assert.deepEqual(gone.filter((name) => mapped.has(name)), [], 'a deleted table is still mapped');
    assert.equal(await kv.tidy(), false, 'nothing left to clean up');
    const again = await kv.entries(RANGE);
    assert.equal(again.length, expected.length);
    assert.ok(again.every(([k, v], i) => k === expected[i]![0] && v.equals(expected[i]![1])));
  } finally {
    await kv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('LevelDB tidy: the periodic check cleans up on its own, at the second check that finds the tables unused', async () => {
  const { dir, kv } = await levelWithTables(6000);
  try {
    const tablesOnDisk = async () => new Set((await readdir(dir)).filter((name) => name.endsWith('.ldb')));
    const pages = kv.scan(RANGE, 10, true)[Symbol.asyncIterator]();
    await pages.next();
    await (kv as unknown as { db: { compactRange(a: string, b: string): Promise<void> } }).db.compactRange('k', 'l');
    await pages.return?.(undefined);
    const before = await tablesOnDisk();
    // Checks every 5 s: cleaned up after the second that sees them, within 10 s.
    const deadline = Date.now() + 15_000;
    let after = before;
    while (after.size === before.size && Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 250));
      after = await tablesOnDisk();
    }
    assert.ok(after.size < before.size, `tables before ${[...before].join(' ')}, after 15 s ${[...after].join(' ')}`);
  } finally {
    await kv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('server on LevelDB: the start-up count, a GC and a quota recount each leave no table mapped that they read', async () => {
  let srv = await startTestServer();
  servers.push(srv);
  const metaDir = srv.registry.deps.layout.metaDir;
  for (let i = 0; i < 3; i++) await pushImage(srv.url, repoName('release/r'), 'v1');
  // Started again: the writes are now in table files, and the start-up count reads them all.
  await srv.stop();
  srv = await startTestServer({}, srv.root);
  servers.push(srv);
  // A scrape waits for the start-up count (src/metrics/metrics.ts), which releases when it has read everything.
  await scrape(`${srv.url}/metrics`);
  assert.equal((await mappedTables(metaDir)).size, 0, 'after the start-up count');

  // Serving a listing maps the tables again (so the measure can see them); a GC lets go of them.
  const listed = async () => {
    assert.equal((await fetch(`${srv.url}/v2/_catalog`)).status, 200);
    return mappedTables(metaDir);
  };
  let read = await listed();
  await gcOverHttp(srv.url);
  await assertReleased(metaDir, read, 'after a GC');

  // Quotas without metrics: the recount alone.
  await srv.stop();
  srv = await startTestServer({ quotas: [{ repository: 'release/**', bytes: '1GiB' }], metrics: { enabled: false } }, srv.root);
  servers.push(srv);
  await srv.registry.quotas.recompute();
  read = await listed();
  await srv.registry.quotas.recompute();
  await assertReleased(metaDir, read, 'after a quota recount');
});
