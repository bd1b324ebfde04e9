/** Cross-repository blob mounts: `POST uploads/?mount=&from=`. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { abs, bin, expectError, pushBlob, randomBlob, repoName, sha256, withQuery } from '../helpers/oci.js';

async function expectSession(base: string, res: Response, repo: string): Promise<string> {
  assert.equal(res.status, 202, await res.clone().text());
  const location = res.headers.get('location');
  assert.ok(location, 'a 202 carries the Location of a new session');
  assert.ok(new URL(location, base).pathname.startsWith(`/v2/${repo}/blobs/uploads/`), location);
  assert.ok(res.headers.get('docker-upload-uuid'));
  assert.equal(res.headers.get('range'), '0-0');
  return location;
}

async function expectMounted(base: string, res: Response, repo: string, digest: string, data: Buffer): Promise<void> {
  assert.equal(res.status, 201, await res.clone().text());
  const location = res.headers.get('location')!;
  const url = new URL(location, base);
  assert.equal(url.pathname + url.search, `/v2/${repo}/blobs/${digest}`);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  const get = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  assert.equal(get.status, 200);
  assert.ok(Buffer.from(await get.arrayBuffer()).equals(data));
}

describe('cross-repository mount (default settings)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });
  const mount = (repo: string, query: string) => fetch(`${srv.url}/v2/${repo}/blobs/uploads/?${query}`, { method: 'POST' });

  test('mount from a repository holding the blob: 201, exact Location, blob readable in the target', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    const data = randomBlob(42);
    const digest = await pushBlob(srv.url, src, data);
    await expectMounted(srv.url, await mount(dst, `mount=${digest}&from=${src}`), dst, digest, data);
    const head = await fetch(`${srv.url}/v2/${dst}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '42');
  });

  test('parameter order does not matter (containerd sends from after mount, others before)', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    const data = randomBlob(20);
    const digest = await pushBlob(srv.url, src, data);
    await expectMounted(srv.url, await mount(dst, `from=${src}&mount=${digest}`), dst, digest, data);
  });

  test('mounting a blob the target already holds is 201', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    const data = randomBlob(20);
    const digest = await pushBlob(srv.url, src, data);
    await pushBlob(srv.url, dst, data);
    await expectMounted(srv.url, await mount(dst, `mount=${digest}&from=${src}`), dst, digest, data);
  });

  test('from a repository that does not hold the blob: 202 and a usable new session', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    await pushBlob(srv.url, src, randomBlob(5));
    const elsewhere = repoName('other');
    const data = randomBlob(30);
    const digest = await pushBlob(srv.url, elsewhere, data); // stored, but not in src
    const location = await expectSession(srv.url, await mount(dst, `mount=${digest}&from=${src}`), dst);
    await expectError(await fetch(`${srv.url}/v2/${dst}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    // The new session works like any other.
    const put = await fetch(abs(srv.url, withQuery(location, { digest })), { method: 'PUT', body: bin(data) });
    assert.equal(put.status, 201);
    assert.equal((await fetch(`${srv.url}/v2/${dst}/blobs/${digest}`)).status, 200);
  });

  test('from a repository that does not exist, or a blob stored nowhere: 202', async () => {
    const dst = repoName('dst');
    await expectSession(srv.url, await mount(dst, `mount=${sha256('hello world')}&from=${repoName('ghost')}`), dst);
    const data = randomBlob(8);
    const digest = await pushBlob(srv.url, repoName('src'), data);
    await expectSession(srv.url, await mount(dst, `mount=${digest}&from=${repoName('ghost')}`), dst);
  });

  test('mount without from is 202 by default, even when some repository holds the blob', async () => {
    const dst = repoName('dst');
    await expectSession(srv.url, await mount(dst, `mount=${sha256('hello world')}`), dst);
    const data = randomBlob(8);
    const digest = await pushBlob(srv.url, repoName('src'), data);
    await expectSession(srv.url, await mount(dst, `mount=${digest}`), dst);
    await expectError(await fetch(`${srv.url}/v2/${dst}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('a mount with a malformed digest or from never crashes: 202 session or 400', async () => {
    const dst = repoName('dst');
    for (const q of ['mount=sha256:nothex&from=a', 'mount=md5:abcd&from=a', `mount=${sha256('x')}&from=UPPER`, 'mount=&from=']) {
      const res = await mount(dst, q);
      assert.ok(res.status === 202 || res.status === 400, `${q}: ${res.status}`);
      if (res.status === 400) await expectError(res, 400);
      else await expectSession(srv.url, res, dst);
    }
  });

  test('a mounted blob survives its deletion from the source repository', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    const data = randomBlob(16);
    const digest = await pushBlob(srv.url, src, data);
    await expectMounted(srv.url, await mount(dst, `mount=${digest}&from=${src}`), dst, digest, data);
    assert.equal((await fetch(`${srv.url}/v2/${src}/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    await expectError(await fetch(`${srv.url}/v2/${src}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const get = await fetch(`${srv.url}/v2/${dst}/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(data));
  });
});

describe('cross-repository mount with uploads.mountWithoutFrom', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ uploads: { mountWithoutFrom: true } });
  });
  after(async () => {
    await srv.destroy();
  });
  const mount = (repo: string, query: string) => fetch(`${srv.url}/v2/${repo}/blobs/uploads/?${query}`, { method: 'POST' });

  test('mount without from finds a blob some repository holds: 201', async () => {
    const dst = repoName('dst');
    const data = randomBlob(42);
    const digest = await pushBlob(srv.url, repoName('src'), data);
    await expectMounted(srv.url, await mount(dst, `mount=${digest}`), dst, digest, data);
  });

  test('mount without from of a blob stored nowhere: 202', async () => {
    const dst = repoName('dst');
    await expectSession(srv.url, await mount(dst, `mount=${sha256('hello world')}`), dst);
  });

  test('mount without from of a blob that was unlinked everywhere: 202', async () => {
    const src = repoName('src');
    const dst = repoName('dst');
    const digest = await pushBlob(srv.url, src, randomBlob(12));
    assert.equal((await fetch(`${srv.url}/v2/${src}/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    await expectSession(srv.url, await mount(dst, `mount=${digest}`), dst);
  });

  test('mount with from still requires from to hold the blob', async () => {
    const dst = repoName('dst');
    const digest = await pushBlob(srv.url, repoName('src'), randomBlob(12));
    await pushBlob(srv.url, repoName('empty'), randomBlob(3));
    await expectSession(srv.url, await mount(dst, `mount=${digest}&from=${repoName('empty')}`), dst);
  });
});
