/**
 * Two unireg server processes sharing one PostgreSQL (storage.metadata.driver
 * postgres) and one blob root, in token mode, as two replicas behind a
 * balancer would: both start at once (one signing key wins and both use it);
 * a token issued by A works on B; what is pushed through A pulls through B;
 * a tag or manifest deleted through A is 404 on B right after, although B had
 * it cached; quota admission counts both replicas' writes; two concurrent GC
 * requests, one to each, run one GC and answer GC_IN_PROGRESS to the other.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { keys } from '../../src/storage/metadata/keys.js';
import { PgLocks } from '../../src/storage/postgres/pg-locks.js';
import { HASH, bearer, postBlob, pushImageAs, tokenFor } from '../helpers/auth-http.js';
import { runCli, serveProcess } from '../helpers/cli.js';
import { MT, expectError, randomBlob, sha256 } from '../helpers/oci.js';
import { usePostgres } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { makeRoot } from '../helpers/server.js';
import { waitFor } from '../helpers/tools.js';
import { scrape, series } from '../helpers/metrics.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const pg = usePostgres();
const HOOKED = ['hooks/a', 'hooks/b', 'hooks/c'];

test('a PostgreSQL that cannot be reached stops start-up with the reason, and without the password', async () => {
  const root = await makeRoot();
  try {
    const res = await runCli(['serve'], {
      UNIREG_STORAGE_ROOT: root,
      UNIREG_HTTP_ADDR: '127.0.0.1:0',
      UNIREG_STORAGE_METADATA_DRIVER: 'postgres',
      UNIREG_STORAGE_METADATA_POSTGRES_URL: `postgresql://unireg:pw-not-shown@127.0.0.1:${await freePort()}/db`,
    });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /cannot start: cannot use the PostgreSQL metadata store .*ECONNREFUSED/);
    assert.doesNotMatch(res.stderr + res.stdout, /pw-not-shown/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

describe('two replicas on one PostgreSQL', () => {
  let root: string | undefined;
  const procs: ChildProcess[] = [];
  let a = '';
  let b = '';
  let url = '';
  let auth = '';
  let receiver: WebhookReceiver | undefined;

  before(async () => {
    if (pg.gate.blocked) return;
    root = await makeRoot();
    url = await pg.database();
    receiver = await WebhookReceiver.start();
    const config = join(root, 'unireg.yaml');
    await writeFile(
      config,
      stringify({
        http: { addr: '127.0.0.1:0' },
        storage: { root: join(root, 'data'), metadata: { driver: 'postgres', postgres: { url, poolSize: 4 } } },
        log: { level: 'info' },
        gc: { grace: '0s' },
        auth: {
          mode: 'token',
          users: { root: HASH },
          access: [{ repository: '**', grants: { root: ['pull', 'push', 'delete', 'admin', 'catalog', 'metrics'] } }],
        },
        quotas: [{ repository: 'quota/**', bytes: 1000 }],
        webhooks: [{ url: receiver.url, events: ['manifest.pushed'], repository: 'hooks/**' }],
        webhooksDelivery: { backoff: '10ms', maxBackoff: '50ms', concurrency: 4 },
      }),
    );
    // Both at once: their schema migrations and signing keys race.
    const started = await Promise.all([serveProcess(['--config', config]), serveProcess(['--config', config])]);
    procs.push(...started.map((s) => s.proc));
    [a, b] = started.map((s) => s.url) as [string, string];
    const repos = ['app', 'gone', 'quota/a', 'quota/b', 'quota/c', 'quota/d', ...HOOKED];
    const scopes = repos.map((r) => `repository:${r}:pull,push,delete`);
    auth = bearer(await tokenFor(a, 'root', [...scopes, 'registry:admin:*', 'registry:metrics:*']));
  });

  after(async () => {
    for (const proc of procs) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      const exited = once(proc, 'exit');
      process.kill(proc.pid!, 'SIGTERM');
      await exited;
    }
    await receiver?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const get = (base: string, path: string, accept: string = MT.ociManifest) => fetch(`${base}${path}`, { headers: { Authorization: auth, Accept: accept } });

  test('one signing key for both; a token issued by A is accepted by B', async (t) => {
    if (!pg.gate.check(t)) return;
    const [ja, jb] = await Promise.all([a, b].map(async (base) => (await fetch(`${base}/auth/jwks.json`)).json()));
    assert.deepEqual(ja, jb);
    const res = await get(b, '/v2/');
    assert.equal(res.status, 200, await res.text());
    const rows = await pg.sql<{ n: number }>('SELECT count(*)::integer AS n FROM unireg_kv WHERE key = $1', [Buffer.from(keys.signingKey())], url);
    assert.equal(rows[0]?.n, 1);
  });

  test('pushed through A, pulled through B: the same manifest and blobs', async (t) => {
    if (!pg.gate.check(t)) return;
    const image = await pushImageAs(a, 'app', 'v1', auth);
    const res = await get(b, '/v2/app/manifests/v1');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.bytes);
    for (const blob of [image.config, ...image.layers]) {
      const r = await get(b, `/v2/app/blobs/${sha256(blob)}`, '*/*');
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), blob);
    }
    const tags = (await (await get(b, '/v2/app/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
  });

  test('a tag and a manifest deleted through A are 404 on B at once, though B had them cached', async (t) => {
    if (!pg.gate.check(t)) return;
    const image = await pushImageAs(a, 'gone', 'v1', auth);
    const second = await pushImageAs(a, 'gone', 'v2', auth);
    // B reads (and caches) both tags and manifests, twice.
    for (let i = 0; i < 2; i++) {
      for (const ref of ['v1', 'v2', image.digest, second.digest]) assert.equal((await get(b, `/v2/gone/manifests/${ref}`)).status, 200, ref);
    }
    const delTag = await fetch(`${a}/v2/gone/manifests/v1`, { method: 'DELETE', headers: { Authorization: auth } });
    assert.equal(delTag.status, 202, await delTag.text());
    // A answered only once B acknowledged dropping the entries (the fence), so B's very next answer is a 404.
    await expectError(await get(b, '/v2/gone/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await get(b, `/v2/gone/manifests/${image.digest}`)).status, 200, 'the manifest itself stays');
    const delManifest = await fetch(`${a}/v2/gone/manifests/${second.digest}`, { method: 'DELETE', headers: { Authorization: auth } });
    assert.equal(delManifest.status, 202, await delManifest.text());
    await expectError(await get(b, `/v2/gone/manifests/${second.digest}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await get(b, '/v2/gone/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
  });

  test('quota admission counts both replicas: concurrent pushes through A and B take no more than the limit', async (t) => {
    if (!pg.gate.check(t)) return;
    // 1000 bytes for quota/**: three 300-byte blobs fit, a fourth does not, wherever they are pushed.
    const pushes = Array.from({ length: 8 }, (_, i) => postBlob(i % 2 === 0 ? a : b, `quota/${'abcd'[i % 4]}`, randomBlob(300), auth));
    const statuses = await Promise.all(pushes.map(async (p) => (await p).status));
    assert.equal(statuses.filter((s) => s === 201).length, 3, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 403).length, 5, `statuses: ${statuses.join(' ')}`);
    await expectError(await postBlob(b, 'quota/d', randomBlob(300), auth), 403, 'DENIED');
    await expectError(await postBlob(a, 'quota/a', randomBlob(300), auth), 403, 'DENIED');
  });

  test('two concurrent GC requests, one to each replica: one runs, the other answers GC_IN_PROGRESS', async (t) => {
    if (!pg.gate.check(t)) return;
    // This test process holds a repository's lock through PostgreSQL: whichever GC starts waits in it.
    const locks = new PgLocks({ url, waitPoolSize: 1 });
    let release!: () => void;
    const held = new Promise<void>((ok) => (release = ok));
    let holding: Promise<void> | undefined;
    await new Promise<void>((inside) => {
      const repo = 'app';
      holding = locks.run(repo, () => {
        inside();
        return held;
      });
    });
    try {
      const gc = (base: string) => fetch(`${base}/_unireg/gc`, { method: 'POST', headers: { Authorization: auth } });
      const requests = [gc(a), gc(b)];
      const first = await Promise.race(requests);
      await expectError(first, 409, 'GC_IN_PROGRESS');
      release();
      const statuses = await Promise.all(requests.map(async (r) => (await r).status));
      assert.deepEqual(statuses.sort(), [200, 409]);
    } finally {
      release();
      await holding;
      await locks.close();
    }
  });

  test('webhook events queued through both replicas are each delivered once: one replica delivers a queue', async (t) => {
    if (!pg.gate.check(t)) return;
    const pushed: string[] = [];
    for (let i = 0; i < 9; i++) pushed.push((await pushImageAs(i % 2 === 0 ? a : b, HOOKED[i % 3]!, `t${i}`, auth)).digest);
    const queued = async () =>
      (await pg.sql<{ n: number }>("SELECT count(*)::integer AS n FROM unireg_kv WHERE get_byte(key, 0) = ascii('e')", [], url))[0]!.n;
    assert.ok(await waitFor(async () => (await queued()) === 0 && receiver!.delivered.length >= 9, 30_000, 50), 'every event delivered');
    const ids = receiver!.requests.map((d) => d.event.id);
    assert.equal(new Set(ids).size, ids.length, `no event sent twice: ${ids.length} requests, ${new Set(ids).size} ids`);
    const digests = receiver!.delivered.map((d) => (d.event.data as { digest?: string }).digest).sort();
    assert.deepEqual(digests, [...pushed].sort());
  });

  test('stored-content metrics: both replicas count what either stored', async (t) => {
    if (!pg.gate.check(t)) return;
    await pushImageAs(b, 'app', 'from-b', auth);
    const figures = async (base: string) => {
      const m = await scrape(`${base}/metrics`, { Authorization: auth });
      return ['unireg_repositories', 'unireg_manifests', 'unireg_blobs'].map((name) => m.get(series(name)));
    };
    let last: unknown[] = [];
    const agree = await waitFor(async () => {
      const [fa, fb] = await Promise.all([figures(a), figures(b)]);
      last = [fa, fb];
      return JSON.stringify(fa) === JSON.stringify(fb);
    }, 5000, 50);
    assert.ok(agree, `A and B report the same figures: ${JSON.stringify(last)}`);
    const rows = await pg.sql<{ n: number }>("SELECT count(*)::integer AS n FROM unireg_kv WHERE get_byte(key, 0) = ascii('r')", [], url);
    assert.equal((last[1] as number[])[0], rows[0]!.n, 'repositories as in the store');
  });
});
