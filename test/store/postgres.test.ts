/**
 * The metadata store on PostgreSQL: the whole shared MetadataStore suite on
 * PgKv (a fresh database of a real PostgreSQL 15, started for this file), then
 * what is PgKv's own: byte order, batch semantics and atomicity, failures as
 * storage errors, schema migration (idempotent, one winner at concurrent
 * start-up, a newer schema refused) and the change notifications.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { StorageUnavailableError } from '../../src/domain/errors.js';
import type { KvOp } from '../../src/storage/kv.js';
import { feedMessages, type FeedBatch } from '../../src/storage/metadata/change-feed.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { PgChangeListener } from '../../src/storage/postgres/change-listener.js';
import { PgKv } from '../../src/storage/postgres/pg-kv.js';
import { SCHEMA_VERSION, SchemaVersionError } from '../../src/storage/postgres/schema.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { gateFor, waitFor } from '../helpers/tools.js';
import { runMetadataStoreSuite } from './metadata-suite.js';

const pg = usePostgres();
const tools = await gateFor(['bash', 'initdb', 'pg_ctl', 'psql']);

async function openKv(url: string, describe?: (ops: readonly KvOp[]) => string[]): Promise<PgKv> {
  const kv = new PgKv({ url, poolSize: 4, ...(describe ? { announce: (ops: readonly KvOp[]) => ({ messages: describe(ops) }) } : {}) });
  await kv.open();
  return kv;
}

const put = (key: string, value = key): KvOp => ({ type: 'put', key, value: Buffer.from(value) });
const del = (key: string): KvOp => ({ type: 'del', key });

if (tools.blocked) {
  test('MetadataStore on PostgreSQL', (t) => {
    tools.check(t);
  });
} else {
  runMetadataStoreSuite('PostgreSQL (PgKv)', async () => {
    const url = await pg.database();
    const open = async () => {
      const s = new KvMetadataStore(new PgKv({ url, poolSize: 4 }));
      await s.open();
      return s;
    };
    let store = await open();
    return {
      store,
      reopen: async () => {
        await store.close();
        store = await open();
        return store;
      },
      dispose: () => store.close(),
    };
  });

  describe('PgKv', () => {
    test('keys sort byte-wise as UTF-8, as in LevelDB: U+0000 separators, non-ASCII, astral and U+FFFF', async () => {
      const kv = await openKv(await pg.database());
      try {
        const all = ['a', 'a\u0000', 'a\u0000b', 'a\u0001', 'ab', 'a/b', 'é', 'e\u0000é', '中', '\uffff', '😀', 'Z', '', 'a\u0000\uffff'];
        const stored = all.filter((k) => k !== '');
        await kv.batch(stored.map((k) => put(k, `v:${k}`)));
        const expected = [...stored].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const everything = { gt: '', lt: '\u{10ffff}' };
        assert.deepEqual(await kv.keys(everything), expected);
        const entries = await kv.entries(everything);
        assert.deepEqual(entries.map(([k]) => k), expected);
        for (const [k, v] of entries) assert.equal(v.toString(), `v:${k}`);
        // A prefix range of `a` + U+0000 never reaches `a\u0001` or `ab`; bounds are exclusive.
        assert.deepEqual(await kv.keys({ gt: 'a\u0000', lt: 'a\u0000\uffff' }), ['a\u0000b']);
        assert.deepEqual(await kv.keys({ gt: 'a', lt: 'b', limit: 3 }), expected.filter((k) => k > 'a' && k < 'b').slice(0, 3));
        assert.equal((await kv.get('中'))?.toString(), 'v:中');
        assert.equal(await kv.get('a\u0000c'), undefined);
        // Keys as the store builds them: a repository's tags stay inside its prefix.
        await kv.batch([put(keys.tag('r', 'x')), put(keys.tag('r/s', 'y')), put(keys.tag('r', 'ü'))]);
        assert.deepEqual((await kv.keys(keys.tags('r'))).map(keys.tagOf), ['x', 'ü']);
      } finally {
        await kv.close();
      }
    });

    test('a batch leaves what applying its operations in order leaves', async () => {
      const kv = await openKv(await pg.database());
      try {
        await kv.batch([put('gone'), put('kept', 'old')]);
        await kv.batch([put('tmp'), del('tmp'), del('gone'), put('gone', 'back'), put('kept', 'new'), del('missing'), put('kept', 'newer')]);
        assert.equal(await kv.get('tmp'), undefined);
        assert.equal((await kv.get('gone'))?.toString(), 'back');
        assert.equal((await kv.get('kept'))?.toString(), 'newer');
        await kv.batch([put('lazy')], { durable: false });
        assert.equal((await kv.get('lazy'))?.toString(), 'lazy');
        await kv.batch([]);
      } finally {
        await kv.close();
      }
    });

    test('a batch one of whose writes fails applies nothing, and fails as a storage error', async () => {
      const url = await pg.database();
      const kv = await openKv(url);
      try {
        await kv.batch([put('before'), put('other')]);
        // Values over 100 bytes now violate a constraint: the third write of the batch fails.
        await pg.sql('ALTER TABLE unireg_kv ADD CONSTRAINT small CHECK (octet_length(value) < 100)', [], url);
        await assert.rejects(
          kv.batch([del('before'), put('new'), put('big', 'x'.repeat(200)), put('other', 'changed')]),
          (err: unknown) => err instanceof StorageUnavailableError && err.reason === 'POSTGRES_23514',
        );
        assert.equal((await kv.get('before'))?.toString(), 'before');
        assert.equal(await kv.get('new'), undefined);
        assert.equal((await kv.get('other'))?.toString(), 'other');
      } finally {
        await kv.close();
      }
    });

    test('an unreachable server is StorageUnavailableError (503), at open and on every call', async () => {
      const url = new URL(pg.server().url);
      url.port = String(await freePort());
      const kv = new PgKv({ url: url.toString(), poolSize: 1 });
      await assert.rejects(kv.open(), (err: unknown) => err instanceof StorageUnavailableError);
      await assert.rejects(kv.get('x'), (err: unknown) => err instanceof StorageUnavailableError);
      // A server that goes away under an open store.
      const dbUrl = await pg.database();
      const open = await openKv(dbUrl);
      try {
        await pg.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [
          new URL(dbUrl).pathname.slice(1),
        ]);
        await pg.sql(`ALTER DATABASE ${new URL(dbUrl).pathname.slice(1)} ALLOW_CONNECTIONS false`);
        await assert.rejects(open.batch([put('x')]), (err: unknown) => err instanceof StorageUnavailableError);
        await pg.sql(`ALTER DATABASE ${new URL(dbUrl).pathname.slice(1)} ALLOW_CONNECTIONS true`);
        await open.batch([put('x')]);
        assert.equal((await open.get('x'))?.toString(), 'x');
      } finally {
        await open.close();
      }
    });

    test('migrations run once: reopening and concurrent start-ups leave one row per version; a newer schema is refused', async () => {
      const url = await pg.database();
      // Five replicas starting at once on an empty database.
      const starting = Array.from({ length: 5 }, () => new PgKv({ url, poolSize: 2 }));
      await Promise.all(starting.map((kv) => kv.open()));
      await starting[0]!.batch([put('kept')]);
      await Promise.all(starting.map((kv) => kv.close()));
      const again = await openKv(url);
      assert.equal((await again.get('kept'))?.toString(), 'kept');
      await again.close();
      const rows = await pg.sql<{ version: number }>('SELECT version FROM unireg_schema ORDER BY version', [], url);
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
      await pg.sql('INSERT INTO unireg_schema (version) VALUES ($1)', [SCHEMA_VERSION + 1], url);
      await assert.rejects(openKv(url), SchemaVersionError);
    });

    test('each committed batch is announced to every listener, in commit order; a failed one is not', async () => {
      const url = await pg.database();
      const writer = await openKv(url, (ops) => feedMessages('writer', ops));
      const listener = new PgChangeListener(url);
      const seen: FeedBatch[] = [];
      listener.onBatch((b) => seen.push(b));
      await listener.start();
      try {
        await writer.batch([put(keys.tag('app', 'v1'), '{}'), put('not-announced')]);
        // A batch too large for one notification comes in several.
        await writer.batch(Array.from({ length: 400 }, (_, i) => del(keys.tag('app', `t${String(i).padStart(40, '0')}`))));
        await pg.sql('ALTER TABLE unireg_kv ADD CONSTRAINT small CHECK (octet_length(value) < 100)', [], url);
        await assert.rejects(writer.batch([put(keys.tag('app', 'v2'), 'x'.repeat(200))]));
        await listener.sync();
        assert.deepEqual(seen[0], { origin: 'writer', ops: [{ type: 'put', key: keys.tag('app', 'v1') }], events: false });
        const rest = seen.slice(1);
        assert.ok(rest.length > 1, `the 400 deletes came in ${rest.length} notifications`);
        assert.equal(rest.flatMap((b) => b.ops).length, 400);
        assert.ok(!seen.some((b) => b.ops.some((op) => op.key === keys.tag('app', 'v2'))), 'the failed batch was not announced');
      } finally {
        await listener.close();
        await writer.close();
      }
    });

    test('a lost change feed is reported, refuses barriers while down, comes back by itself and delivers again', async () => {
      const url = await pg.database();
      const writer = await openKv(url, (ops) => feedMessages('writer', ops));
      const listener = new PgChangeListener(url);
      const events: string[] = [];
      const seen: FeedBatch[] = [];
      listener.onBatch((b) => seen.push(b));
      listener.onLost(() => events.push('lost'));
      listener.onRestored(() => events.push('restored'));
      await listener.start();
      try {
        await pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'unireg changes' AND datname = $1", [
          new URL(url).pathname.slice(1),
        ]);
        assert.ok(await waitFor(async () => events.includes('lost'), 10_000, 20), 'the loss is reported');
        if (!listener.connected) await assert.rejects(listener.sync(), StorageUnavailableError);
        assert.ok(await waitFor(async () => events.includes('restored'), 30_000, 20), 'the feed comes back');
        assert.deepEqual(events, ['lost', 'restored']);
        await writer.batch([put(keys.tag('app', 'after'), '{}')]);
        await listener.sync();
        assert.deepEqual(seen.at(-1)?.ops, [{ type: 'put', key: keys.tag('app', 'after') }]);
      } finally {
        await listener.close();
        await writer.close();
      }
    });

    test('a fenced batch (tags, manifests) resolves only once every other listening replica has acknowledged it', async () => {
      const url = await pg.database();
      const own = new PgChangeListener(url, undefined, 'writer');
      await own.start();
      let fences = 0;
      const writer = new PgKv({
        url,
        poolSize: 2,
        announce: (ops) => {
          const fence = ++fences;
          return { messages: feedMessages('writer', ops, fence), settle: own.expectAcks(fence) };
        },
      });
      await writer.open();
      // The other replica: a process whose listener acknowledges, and which the test stops and resumes.
      const module = new URL('../../src/storage/postgres/change-listener.js', import.meta.url).href;
      const script = `
        const { PgChangeListener } = await import(${JSON.stringify(module)});
        const l = new PgChangeListener(process.env.PGURL, undefined, 'other');
        await l.start();
        process.stdout.write('ready\\n');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PGURL: url }, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        assert.ok(await waitFor(async () => out.includes('ready'), 30_000, 20), 'the other replica listens');
        // Both replicas running: the acknowledgement comes and the batch resolves.
        await writer.batch([put(keys.tag('app', 'v1'), '{}')]);
        process.kill(child.pid!, 'SIGSTOP');
        let resolved = false;
        const pending = writer.batch([del(keys.tag('app', 'v1'))]).then(() => (resolved = true));
        await new Promise((ok) => setTimeout(ok, 400));
        assert.equal(resolved, false, 'the write waits while the other replica has not acknowledged');
        process.kill(child.pid!, 'SIGCONT');
        await pending;
        assert.equal(resolved, true);
      } finally {
        child.kill('SIGKILL');
        await once(child, 'exit').catch(() => undefined);
        await writer.close();
        await own.close();
      }
    });
  });
}
