/**
 * After a read of the whole store, LevelDB's table files are let go of (SortedKv.release,
 * MetadataStore.release): LevelDB maps every table it reads into the process and keeps it mapped,
 * so without this the whole store stays counted in the server's RSS after the start-up count, a GC
 * or a quota recount (docs/benchmarks.md, "Memory at scale"). Mappings are read from /proc/self/maps:
 * the servers here run in this process. A reopen lets go of LevelDB's own LOCK for a moment, so the
 * directory stays the store's through its owner lock (src/storage/level/level-kv.ts): tested here too.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { gcOverHttp } from '../helpers/gc.js';
import { scrape } from '../helpers/metrics.js';
import { pushImage, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { key, levelWithTables, mappedTables, RANGE } from '../helpers/level-tables.js';

/**
 * None of `read` (what a read mapped) is mapped any more. A reopen writes LevelDB's log out as a new
 * table and opens it to check it, so that one may be mapped: it holds only what was written since.
 */
async function assertReleased(dir: string, read: Set<string>, when: string): Promise<void> {
  assert.ok(read.size > 0, `the read mapped tables (${when})`);
  const now = await mappedTables(dir);
  assert.deepEqual([...read].filter((t) => now.has(t)), [], `still mapped ${when}`);
}

const servers: TestServer[] = [];
after(async () => {
  for (const srv of servers) await srv.destroy().catch(() => undefined);
});

test('LevelDB release: the tables a full read mapped are unmapped, and everything reads the same after', async () => {
  const { dir, kv, dispose } = await levelWithTables(6000);
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
    await dispose();
  }
});

test('LevelDB release: reads and writes issued while it runs wait for it and succeed', async () => {
  const { dir, kv, dispose } = await levelWithTables(2000);
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
    await dispose();
  }
});

test('LevelDB owner lock: while a store reopens, another store on its directory never opens it', async () => {
  const { dir, kv, dispose } = await levelWithTables(2000);
  const other = new LevelKv(dir);
  let stop = false;
  let opened = 0;
  let refused = 0;
  // Tries to open the directory over and over while the first store reopens (release()) again and again.
  const contender = (async () => {
    while (!stop) {
      try {
        await other.open();
        opened++;
        await other.close();
      } catch {
        refused++;
      }
    }
  })();
  try {
    for (let i = 0; i < 50; i++) {
      await kv.entries({ ...RANGE, limit: 10 });
      await kv.release();
    }
  } finally {
    stop = true;
    await contender;
  }
  try {
    assert.equal(opened, 0, `the other store opened the directory ${opened} times while the first held it`);
    assert.ok(refused > 0, 'the other store tried');
    assert.equal((await kv.entries(RANGE)).length, 2000);
    // Once the owner closes, the directory is free.
    await kv.close();
    await other.open();
    assert.equal((await other.entries(RANGE)).length, 2000);
  } finally {
    await other.close();
    await dispose();
  }
});

test('LevelDB owner lock: a store that is only constructed holds nothing; the first to open owns the directory', async () => {
  const { dir, kv, dispose } = await levelWithTables(10);
  await kv.close();
  // Constructed first, opened never (until the end): it must not take either lock on its own.
  const idle = new LevelKv(dir);
  const first = new LevelKv(dir);
  try {
    await new Promise((ok) => setTimeout(ok, 50));
    await first.open();
    assert.equal((await first.entries(RANGE)).length, 10);
    await assert.rejects(idle.open(), (err: { code?: string; cause?: { code?: string } }) => err.code === 'LEVEL_LOCKED' || err.cause?.code === 'LEVEL_LOCKED');
    await first.close();
    await idle.open();
    assert.equal((await idle.entries(RANGE)).length, 10);
  } finally {
    await idle.close();
    await first.close();
    await dispose();
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
