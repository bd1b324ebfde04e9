/**
 * Quotas over real HTTP: a namespace glob shares one quota, a blob shared by
 * several repositories counts once, refusals come before the bytes are stored
 * (Content-Length known, mount, commit) or at the manifest PUT, and usage is
 * visible at /_unireg/usage and through `unireg usage`.
 */
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { basic, HASH, PASSWORD } from '../helpers/auth-http.js';
import { runCli } from '../helpers/cli.js';
import { abs, bin, buildImage, MT, pushBlob, putManifest, randomBlob, raw, sha256, startUpload, withQuery } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Usage {
  namespace: string;
  used: number;
  limit: number;
  digests: number;
}

interface ErrorBody {
  errors: { code: string; message: string; detail: { namespace: string; used: number; limit: number; requested: number } }[];
}

const QUOTAS = [
  { repository: 'team/**', bytes: 1000 },
  { repository: 'team/big', bytes: '1MiB' },
  { repository: 'solo', bytes: 300 },
];

describe('quotas', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ quotas: QUOTAS });
  });
  after(() => srv.destroy());

  async function usage(): Promise<Record<string, Usage>> {
    const res = await fetch(`${srv.url}/_unireg/usage`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { namespaces: Usage[] };
    return Object.fromEntries(body.namespaces.map((n) => [n.namespace, n]));
  }

  async function expectQuotaError(res: Response, used: number, requested: number, namespace = 'team/**', limit = 1000) {
    const text = await res.text();
    assert.equal(res.status, 403, text);
    const body = JSON.parse(text) as ErrorBody;
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.match(body.errors[0]!.message, /quota exceeded/);
    assert.deepEqual(body.errors[0]!.detail, { namespace, used, limit, requested });
  }

  async function onDisk(digest: string): Promise<boolean> {
    return access(new Layout(srv.root).blobPath(parseDigest(digest))).then(
      () => true,
      () => false,
    );
  }

  const mount = (repo: string, digest: string, from: string) =>
    fetch(`${srv.url}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });

  test('every namespace is listed, empty at first', async () => {
    const all = await usage();
    assert.deepEqual(Object.keys(all).sort(), ['solo', 'team/**', 'team/big']);
    assert.deepEqual(all['team/**'], { namespace: 'team/**', used: 0, limit: 1000, digests: 0 });
    assert.equal(all['team/big']!.limit, 1024 * 1024);
  });

  const shared = randomBlob(400);
  test('a blob in several repositories of a namespace counts once', async () => {
    const digest = await pushBlob(srv.url, 'team/a', shared);
    assert.equal((await mount('team/b', digest, 'team/a')).status, 201);
    await pushBlob(srv.url, 'team/sub/c', shared);
    // team/big has its own, more specific quota: it counts there, not in team/**.
    await pushBlob(srv.url, 'team/big', shared);
    const all = await usage();
    assert.equal(all['team/**']!.used, 400);
    assert.equal(all['team/**']!.digests, 1);
    assert.equal(all['team/big']!.used, 400);
    assert.equal(all.solo!.used, 0);
  });

  test('a single-request upload with a Content-Length that cannot fit is refused before anything is stored', async () => {
    const data = randomBlob(700);
    const res = await fetch(`${srv.url}/v2/team/a/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: bin(data) });
    await expectQuotaError(res, 400, 700);
    assert.equal(await onDisk(sha256(data)), false);
    // The same bytes again in the same namespace are free: already counted.
    const again = await fetch(`${srv.url}/v2/team/b/blobs/uploads/?digest=${sha256(shared)}`, { method: 'POST', body: bin(shared) });
    assert.equal(again.status, 201);
    assert.equal((await usage())['team/**']!.used, 400);
  });

  test('a PATCH whose length cannot fit is refused; a streamed one is refused at the closing PUT, and the session stays', async () => {
    const data = randomBlob(700);
    const location = await startUpload(srv.url, 'team/a');
    const patch = await fetch(abs(srv.url, location), { method: 'PATCH', body: bin(data) });
    await expectQuotaError(patch, 400, 700);
    const streamed = await raw(srv.url, location, {
      method: 'PATCH',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: [data.subarray(0, 300), data.subarray(300)],
    });
    assert.notEqual(streamed, 'cut');
    assert.equal(streamed !== 'cut' && streamed.status, 202);
    const put = await fetch(abs(srv.url, withQuery(location, { digest: sha256(data) })), { method: 'PUT' });
    await expectQuotaError(put, 400, 700);
    assert.equal(await onDisk(sha256(data)), false);
    assert.equal((await fetch(`${srv.url}/v2/team/a/blobs/${sha256(data)}`, { method: 'HEAD' })).status, 404);
    assert.equal((await fetch(abs(srv.url, location))).status, 204, 'the session is still there');
    assert.equal((await usage())['team/**']!.used, 400);
  });

  test('mounting a blob the namespace does not count yet is refused when it cannot fit; one it counts is free', async () => {
    const outside = await pushBlob(srv.url, 'elsewhere/x', randomBlob(700));
    await expectQuotaError(await mount('team/a', outside, 'elsewhere/x'), 400, 700);
    assert.equal((await fetch(`${srv.url}/v2/team/a/blobs/${outside}`, { method: 'HEAD' })).status, 404);
    assert.equal((await mount('team/d', sha256(shared), 'team/a')).status, 201);
    assert.equal((await usage())['team/**']!.used, 400);
  });

  test('a manifest that takes the namespace over is refused at its PUT; one that fits is stored', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
    await pushBlob(srv.url, 'team/a', config);
    const fits = buildImage(config, [shared]);
    const used = 400 + config.length;
    assert.equal((await usage())['team/**']!.used, used);
    assert.equal((await putManifest(srv.url, 'team/a', 'v1', fits.bytes)).status, 201);
    assert.equal((await usage())['team/**']!.used, used + fits.bytes.length);
    // Fill the namespace to a few bytes short of its limit, then a manifest cannot fit.
    const filler = randomBlob(1000 - used - fits.bytes.length - 5);
    await pushBlob(srv.url, 'team/a', filler);
    const big = buildImage(config, [shared, filler], { annotations: { note: 'x'.repeat(40) } });
    const full = 1000 - 5;
    await expectQuotaError(await putManifest(srv.url, 'team/a', 'v2', big.bytes), full, big.bytes.length);
    assert.equal((await fetch(`${srv.url}/v2/team/a/manifests/v2`)).status, 404);
    // A manifest the namespace already counts, pushed to another repository of it, is free.
    await mount('team/b', sha256(config), 'team/a');
    assert.equal((await putManifest(srv.url, 'team/b', 'v1', fits.bytes, MT.ociManifest)).status, 201);
    assert.equal((await usage())['team/**']!.used, full);
    // Full to the byte: a chunk longer than anything counted is refused at once; one that may be
    // a re-upload of counted content (the shared blob, 400 bytes) goes on to the commit.
    await pushBlob(srv.url, 'team/a', randomBlob(5));
    const location = await startUpload(srv.url, 'team/z');
    const longest = Math.max(shared.length, config.length, fits.bytes.length, filler.length) + 1;
    const long = await fetch(abs(srv.url, location), { method: 'PATCH', body: bin(randomBlob(longest)) });
    await expectQuotaError(long, 1000, longest);
    const again = await fetch(abs(srv.url, location), { method: 'PATCH', body: bin(shared) });
    assert.equal(again.status, 202);
    const put = await fetch(abs(srv.url, withQuery(location, { digest: sha256(shared) })), { method: 'PUT' });
    assert.equal(put.status, 201, 'a re-upload of counted content costs nothing');
  });

  test('usage falls when the last repository lets go of a digest; recompute() and a restart agree with the live figures', async () => {
    const digest = sha256(shared);
    const before = (await usage())['team/**']!;
    for (const repo of ['team/b', 'team/sub/c', 'team/d', 'team/z']) {
      assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    }
    assert.equal((await usage())['team/**']!.used, before.used, 'team/a still links it');
    assert.equal((await fetch(`${srv.url}/v2/team/a/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    const live = await usage();
    assert.equal(live['team/**']!.used, before.used - 400);
    await srv.registry.quotas.recompute();
    assert.deepEqual(await usage(), live);
    await srv.stop();
    srv = await startTestServer({ quotas: QUOTAS }, srv.root);
    assert.deepEqual(await usage(), live);
  });

  test('a write that bypasses the services (as a GC sweeping a link does) is counted too', async () => {
    const blob = randomBlob(50);
    const digest = await pushBlob(srv.url, 'team/gc', blob);
    const before = (await usage())['team/**']!.used;
    assert.equal(await srv.registry.deps.meta.unlinkBlob('team/gc', parseDigest(digest)), true);
    assert.equal((await usage())['team/**']!.used, before - 50);
  });

  test('unireg usage prints the namespaces, and --json the answer', async () => {
    const table = await runCli(['usage', srv.host]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAMESPACE\s+USED\s+LIMIT\s+USE%\s+DIGESTS\n/);
    assert.match(table.stdout, /^team\/\*\*\s+\d+ B\s+1000 B\s+\d+\.\d%\s+\d+$/m);
    assert.match(table.stdout, /^team\/big\s+400 B\s+1\.0 MiB\s/m);
    const json = await runCli(['usage', '--json', srv.host]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { namespaces: Usage[] }).namespaces, Object.values(await usage()));
    const bad = await runCli(['usage', `${srv.host}/repo`]);
    assert.equal(bad.code, 2);
  });
});

describe('quotas: the usage endpoint needs the admin action', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: {
        mode: 'basic',
        users: { root: HASH, dev: HASH },
        access: [{ repository: '**', grants: { root: ['pull', 'push', 'admin'], dev: ['pull', 'push'] } }],
      },
      quotas: [{ repository: 'team/**', bytes: '1KB' }],
    });
  });
  after(() => srv.destroy());

  test('401 without credentials, 403 without admin, 200 for an administrator (HTTP and unireg usage)', async () => {
    const get = (authorization?: string) => fetch(`${srv.url}/_unireg/usage`, { headers: authorization ? { Authorization: authorization } : {} });
    assert.equal((await get()).status, 401);
    assert.equal((await get(basic('dev'))).status, 403);
    const ok = await get(basic('root'));
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { namespaces: [{ namespace: 'team/**', used: 0, limit: 1000, digests: 0 }] });
    const asRoot = await runCli(['usage', '--json', '--user', 'root', '--password', PASSWORD, srv.host]);
    assert.equal(asRoot.code, 0, asRoot.stderr);
    assert.equal((JSON.parse(asRoot.stdout) as { namespaces: Usage[] }).namespaces[0]!.limit, 1000);
    const asDev = await runCli(['usage', '--user', 'dev', '--password', PASSWORD, srv.host]);
    assert.equal(asDev.code, 1);
    assert.match(asDev.stderr, /usage failed: .*DENIED.*as user dev/);
  });
});
