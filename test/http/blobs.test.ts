/** Blob reads: HEAD/GET, per-repository visibility, and Range requests. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectError, pushBlob, randomBlob, repoName, sha256 } from '../helpers/oci.js';

describe('blobs', () => {
  let srv: TestServer;
  let repo: string;
  let blob: Buffer;
  let digest: string;
  const url = (r: string, d: string) => `${srv.url}/v2/${r}/blobs/${d}`;

  before(async () => {
    srv = await startTestServer();
    repo = repoName('blobs');
    blob = randomBlob(1000);
    digest = await pushBlob(srv.url, repo, blob);
  });
  after(async () => {
    await srv.destroy();
  });

  test('HEAD answers 200 with Content-Length and Docker-Content-Digest, no body', async () => {
    const res = await fetch(url(repo, digest), { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('GET answers 200 with the exact bytes, Content-Length and Docker-Content-Digest', async () => {
    const res = await fetch(url(repo, digest));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(blob));
  });

  test('an empty blob can be pushed and read back', async () => {
    const r = repoName('blobs');
    const d = await pushBlob(srv.url, r, Buffer.alloc(0));
    assert.equal(d, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const res = await fetch(url(r, d));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('GET and HEAD of an unknown blob answer 404 BLOB_UNKNOWN', async () => {
    const missing = sha256('hello world');
    await expectError(await fetch(url(repo, missing)), 404, 'BLOB_UNKNOWN');
    const head = await fetch(url(repo, missing), { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('a blob pushed to repo a is not visible in repo b', async () => {
    const other = repoName('blobs');
    await pushBlob(srv.url, other, randomBlob(5)); // b exists, but does not link the blob
    await expectError(await fetch(url(other, digest)), 404, 'BLOB_UNKNOWN');
    assert.equal((await fetch(url(other, digest), { method: 'HEAD' })).status, 404);
    await expectError(await fetch(url(repoName('never'), digest)), 404, 'BLOB_UNKNOWN');
  });

  test('Range bytes=a-b answers 206 with Content-Range and those bytes', async () => {
    const res = await fetch(url(repo, digest), { headers: { Range: 'bytes=10-19' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 10-19/1000');
    assert.equal(res.headers.get('content-length'), '10');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(10, 20)));
  });

  test('Range bytes=a- answers 206 with the tail from a', async () => {
    const res = await fetch(url(repo, digest), { headers: { Range: 'bytes=990-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 990-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(990)));
  });

  test('Range bytes=-n answers 206 with the last n bytes', async () => {
    const res = await fetch(url(repo, digest), { headers: { Range: 'bytes=-7' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 993-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(993)));
  });

  test('Range whose end passes the size is clamped', async () => {
    const res = await fetch(url(repo, digest), { headers: { Range: 'bytes=995-5000' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 995-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(995)));
  });

  test('Range of a single first byte', async () => {
    const res = await fetch(url(repo, digest), { headers: { Range: 'bytes=0-0' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 0-0/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(0, 1)));
  });

  test('an unsatisfiable Range answers 416 with Content-Range: bytes */size', async () => {
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const res = await fetch(url(repo, digest), { headers: { Range: range } });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers.get('content-range'), 'bytes */1000', range);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      await res.arrayBuffer();
    }
  });

  test('a malformed Range is ignored (200, whole blob), never a 500', async () => {
    for (const range of ['bytes=abc', 'items=0-5', 'bytes=5-2', 'bytes=0-1,5-6']) {
      const res = await fetch(url(repo, digest), { headers: { Range: range } });
      assert.ok(res.status === 200 || res.status === 416, `${range}: ${res.status}`);
      if (res.status === 200) assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob), range);
      else await res.arrayBuffer();
    }
  });

  test('a Range on a blob in a repository that does not link it is 404', async () => {
    await expectError(await fetch(url(repoName('x'), digest), { headers: { Range: 'bytes=0-1' } }), 404, 'BLOB_UNKNOWN');
  });

  test('a multi-MiB blob: whole GET and ranges across 1 MiB boundaries', async () => {
    const r = repoName('blobs');
    const big = randomBlob(3 * 1024 * 1024 + 7);
    const d = await pushBlob(srv.url, r, big);
    const whole = await fetch(url(r, d));
    assert.equal(whole.headers.get('content-length'), String(big.length));
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big));
    for (const [a, b] of [
      [1048570, 1048590],
      [2 * 1048576 - 1, 2 * 1048576],
      [0, 2 * 1048576 + 5],
    ] as const) {
      const res = await fetch(url(r, d), { headers: { Range: `bytes=${a}-${b}` } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-range'), `bytes ${a}-${b}/${big.length}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(big.subarray(a, b + 1)));
    }
  });
});
