/** POST /_unireg/gc over HTTP: the report, dry run, bad input, 409 while one runs, and who may call it. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HASH, basic } from '../helpers/auth-http.js';
import { gcOverHttp } from '../helpers/gc.js';
import { expectError, pushBlob, randomBlob, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('admin: POST /_unireg/gc', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ gc: { grace: '0s' } });
  });
  after(async () => {
    await srv.destroy();
  });

  test('answers the figures as JSON; a dry run adds the lists', async () => {
    const repo = repoName('admin-gc');
    const digest = await pushBlob(srv.url, repo, randomBlob(123));
    const dry = await gcOverHttp(srv.url, { dryRun: true });
    for (const key of ['blobsDeleted', 'bytesFreed', 'linksDeleted', 'manifestsDeleted', 'durationMs'] as const) {
      assert.equal(typeof dry[key], 'number', key);
    }
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.blobs, [{ digest, size: 123 }]);
    assert.deepEqual(dry.links, [{ repository: repo, digest, size: 123 }]);
    const real = await gcOverHttp(srv.url);
    assert.deepEqual([real.dryRun, real.blobsDeleted, real.bytesFreed, real.linksDeleted], [false, 1, 123, 1]);
  });

  test('a dryRun that is not a boolean is a 400', async () => {
    await expectError(await fetch(`${srv.url}/_unireg/gc?dryRun=maybe`, { method: 'POST' }), 400, 'BAD_REQUEST');
  });

  test('GET is not a way to run it', async () => {
    const res = await fetch(`${srv.url}/_unireg/gc`);
    assert.equal(res.status, 405);
  });

  test('409 GC_IN_PROGRESS while a GC runs', async () => {
    const repo = repoName('admin-gc-busy');
    await pushBlob(srv.url, repo, randomBlob(10));
    // Hold the repository's lock: the first GC waits in its link sweep.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holding = srv.registry.deps.locks.run(repo, () => held);
    const first = fetch(`${srv.url}/_unireg/gc`, { method: 'POST' });
    let second: Response | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${srv.url}/_unireg/gc?dryRun=true`, { method: 'POST' });
      if (res.status === 409) {
        second = res;
        break;
      }
      await res.arrayBuffer();
    }
    release();
    await holding;
    assert.ok(second, 'a second GC was never refused');
    await expectError(second, 409, 'GC_IN_PROGRESS');
    assert.equal((await first).status, 200);
  });
});

describe('admin: POST /_unireg/gc needs the admin action', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: {
        mode: 'basic',
        users: { root: HASH, dev: HASH },
        access: [{ repository: '**', grants: { root: ['pull', 'push', 'delete', 'catalog', 'admin'], dev: ['pull', 'push', 'delete', 'catalog'] } }],
      },
    });
  });
  after(async () => {
    await srv.destroy();
  });

  test('anonymous: 401 with a challenge; a user without admin: 403 DENIED; an admin: 200', async () => {
    const anonymous = await fetch(`${srv.url}/_unireg/gc`, { method: 'POST' });
    assert.ok(anonymous.headers.get('www-authenticate'));
    await expectError(anonymous, 401, 'UNAUTHORIZED');
    await expectError(await fetch(`${srv.url}/_unireg/gc`, { method: 'POST', headers: { Authorization: basic('dev') } }), 403, 'DENIED');
    const report = await gcOverHttp(srv.url, { authorization: basic('root') });
    assert.equal(report.dryRun, false);
  });
});
