/**
 * PgLocks across "replicas": two PgLocks on one PostgreSQL database, each with
 * its own connections (as two processes have), exclude each other on run,
 * runAll and tryRun; a lock held by a process that is killed is released with
 * its connection. Waiting is observed in pg_locks (an ungranted advisory lock),
 * not by timing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { loadStoredSigningKey } from '../../src/auth/stored-signing-key.js';
import { blobKey } from '../../src/registry/locks.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { PgKv } from '../../src/storage/postgres/pg-kv.js';
import { PgLocks } from '../../src/storage/postgres/pg-locks.js';
import { usePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/tools.js';

const pg = usePostgres();
const opened: PgLocks[] = [];
after(async () => {
  for (const locks of opened) await locks.close();
});

function replica(url: string): PgLocks {
  const locks = new PgLocks({ url, waitPoolSize: 4 });
  opened.push(locks);
  return locks;
}

/** A promise and its resolver: what a holder waits on. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((ok) => (open = ok));
  return { wait, open };
}

/** Resolves once `n` advisory locks are being waited for in the database. */
async function waiters(url: string, n: number): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  const seen = await waitFor(async () => {
    const rows = await pg.sql<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
       WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1`,
      [db],
    );
    return rows[0]!.n >= n;
  }, 30_000, 50);
  assert.ok(seen, `${n} waiter(s) in pg_locks`);
}

test('run: a key held by one replica makes the other wait until it is released', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const [a, b] = [replica(url), replica(url)];
  const held = gate();
  const inside = gate();
  const order: string[] = [];
  const first = a.run('team/app', async () => {
    order.push('a in');
    inside.open();
    await held.wait;
    order.push('a out');
  });
  await inside.wait;
  const second = b.run('team/app', async () => void order.push('b in'));
  await waiters(url, 1);
  assert.deepEqual(order, ['a in']);
  // Another key is free meanwhile.
  assert.equal(await b.run('team/other', async () => 'free'), 'free');
  held.open();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['a in', 'a out', 'b in']);
});

test('runAll: overlapping key sets exclude each other across replicas; keys are taken in one order', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const [a, b] = [replica(url), replica(url)];
  const held = gate();
  const inside = gate();
  const order: string[] = [];
  const digest = `sha256:${'a'.repeat(64)}`;
  const first = a.runAll(['repo/one', blobKey(digest)], async () => {
    order.push('a');
    inside.open();
    await held.wait;
  });
  await inside.wait;
  // Listed blob first: runAll still takes the repository first (lockOrder), so no deadlock.
  const second = b.runAll([blobKey(digest), 'repo/two'], async () => void order.push('b'));
  const third = b.run('repo/one', async () => void order.push('c'));
  await waiters(url, 2);
  assert.deepEqual(order, ['a']);
  held.open();
  await Promise.all([first, second, third]);
  assert.deepEqual(order.sort(), ['a', 'b', 'c']);
});

test('tryRun: one holder across replicas; the other is told "not now", and gets it once released', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const [a, b] = [replica(url), replica(url)];
  const held = gate();
  const inside = gate();
  const first = a.tryRun('gc', async () => {
    inside.open();
    await held.wait;
    return 'a ran';
  });
  await inside.wait;
  assert.deepEqual(await b.tryRun('gc', async () => 'b ran'), { acquired: false });
  assert.deepEqual(await a.tryRun('gc', async () => 'a twice'), { acquired: false });
  assert.deepEqual(await b.tryRun('job:retention', async () => 'other job'), { acquired: true, value: 'other job' });
  held.open();
  assert.deepEqual(await first, { acquired: true, value: 'a ran' });
  assert.deepEqual(await b.tryRun('gc', async () => 'b ran'), { acquired: true, value: 'b ran' });
});

test('a process killed while it holds locks releases them', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const module = new URL('../../src/storage/postgres/pg-locks.js', import.meta.url).href;
  const script = `
    const { PgLocks } = await import(${JSON.stringify(module)});
    const locks = new PgLocks({ url: process.env.PGURL, waitPoolSize: 2 });
    const forever = new Promise(() => {});
    locks.run('team/app', () => forever);
    locks.tryRun('gc', () => forever);
    setTimeout(() => process.stdout.write('held\\n'), 500);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PGURL: url }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    assert.ok(await waitFor(async () => out.includes('held'), 30_000, 50), 'the child holds its locks');
    const b = replica(url);
    assert.deepEqual(await b.tryRun('gc', async () => 'b'), { acquired: false });
    const waiting = b.run('team/app', async () => 'b has team/app');
    await waiters(url, 1);
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGKILL');
    await exited;
    assert.equal(await waiting, 'b has team/app');
    assert.ok(await waitFor(async () => (await b.tryRun('gc', async () => true)).acquired, 30_000, 50), 'gc is free once the holder died');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('the key-value store and the locks share one database without interfering', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const kv = new PgKv({ url, poolSize: 2 });
  await kv.open();
  try {
    const locks = replica(url);
    const key = 'r';
    await locks.run(key, () => kv.batch([{ type: 'put', key: 'k', value: Buffer.from('v') }]));
    assert.equal((await kv.get('k'))?.toString(), 'v');
  } finally {
    await kv.close();
  }
});

test('the token signing key in the store: replicas starting at once create one, and each signs with it', async (t) => {
  if (!pg.gate.check(t)) return;
  const url = await pg.database();
  const kvs = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const kv = new PgKv({ url, poolSize: 2 });
      await kv.open();
      return kv;
    }),
  );
  try {
    const log = pino({ level: 'silent' });
    const loaded = await Promise.all(kvs.map((kv) => loadStoredSigningKey(kv, replica(url), log)));
    const kids = new Set(loaded.map((k) => k.kid));
    assert.equal(kids.size, 1, `one key for all: ${[...kids].join(', ')}`);
    const rows = await pg.sql<{ n: number }>('SELECT count(*)::integer AS n FROM unireg_kv WHERE key = $1', [Buffer.from(keys.signingKey())], url);
    assert.equal(rows[0]!.n, 1);
    // A later start reads the same key.
    assert.equal((await loadStoredSigningKey(kvs[0]!, replica(url), log)).kid, loaded[0]!.kid);
    assert.equal(loaded[0]!.publicJwk.d, undefined, 'the published half has no private part');
  } finally {
    for (const kv of kvs) await kv.close();
  }
});
