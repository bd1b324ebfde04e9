/**
 * The registry on `storage.blobs.driver: s3` (metadata in LevelDB) against a real
 * radosgw: chunked uploads with tiny chunks, monolithic uploads, Range GETs, blob
 * redirects to presigned URLs, unikernel packs (multipart bodies, server-built blobs),
 * and S3 failures answered as 503 UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { bytesOf, packOk, inspect } from '../helpers/kraft.js';
import { abs, bin, pushBlob, pushImage, repoName, sha256, startUpload, withQuery } from '../helpers/oci.js';
import { s3Engine } from '../helpers/s3.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { configSchema } from '../../src/config/schema.js';
import { createBlobDriver } from '../../src/storage/blob-driver.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { StorageUnavailableError } from '../../src/domain/errors.js';
import type { Digest } from '../../src/oci/digest.js';
import type { S3Settings } from '../../src/storage/s3/client.js';

const s3 = s3Engine();

describe('blobs on S3', () => {
  let plain: TestServer | undefined;
  let redirecting: TestServer | undefined;
  let plainS3: S3Settings | undefined;
  before(async () => {
    if (s3.gate.blocked) return;
    plainS3 = s3.settings();
    plain = await startTestServer({ storage: { blobs: { driver: 's3', s3: plainS3 } }, gc: { grace: '0s' } });
    redirecting = await startTestServer({ storage: { blobs: { driver: 's3', redirect: true, s3: s3.settings() } } });
  });
  after(async () => {
    await plain?.destroy();
    await redirecting?.destroy();
  });

  test('a chunked upload in tiny chunks (1 byte to 5 KiB, across a part boundary) pulls back identical', { timeout: 120_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const base = plain!.url;
    const repo = repoName('s3/chunked');
    const data = randomBytes(8 * 1024 * 1024 + 9000);
    let location = await startUpload(base, repo);
    let at = 0;
    const sizes = [1, 2, 3, 1000, 5120, 8 * 1024 * 1024 - 6126, 1];
    for (const size of sizes) {
      const piece = data.subarray(at, at + size);
      const res = await fetch(abs(base, location), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + size - 1}` },
        body: bin(piece),
      });
      assert.equal(res.status, 202, await res.text());
      at += size;
      assert.equal(res.headers.get('range'), `0-${at - 1}`);
      location = res.headers.get('location')!;
    }
    const digest = sha256(data);
    const put = await fetch(abs(base, withQuery(location, { digest })), { method: 'PUT', body: bin(data.subarray(at)) });
    assert.equal(put.status, 201, await put.text());
    const get = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest);
    // A chunk out of order is refused and leaves the session as it was.
    const bad = await startUpload(base, repo);
    const wrong = await fetch(abs(base, bad), { method: 'PATCH', headers: { 'Content-Range': '5-9' }, body: bin(randomBytes(5)) });
    assert.equal(wrong.status, 416);
  });

  test('monolithic uploads, HEAD, Range GETs and a wrong digest', { timeout: 60_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const base = plain!.url;
    const repo = repoName('s3/mono');
    const data = randomBytes(100_000);
    const digest = sha256(data);
    const post = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bin(data) });
    assert.equal(post.status, 201, await post.text());
    const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    const range = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), `bytes 1000-1999/${data.length}`);
    assert.deepEqual(Buffer.from(await range.arrayBuffer()), data.subarray(1000, 2000));
    const big = randomBytes(9 * 1024 * 1024);
    assert.equal(await pushBlob(base, repo, big), sha256(big));
    const tail = await fetch(`${base}/v2/${repo}/blobs/${sha256(big)}`, { headers: { Range: `bytes=${big.length - 10}-` } });
    assert.equal(tail.status, 206);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), big.subarray(-10));
    const wrong = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256('other')}`, { method: 'POST', body: bin(data) });
    assert.equal(wrong.status, 400);
    const unknown = await fetch(`${base}/v2/${repo}/blobs/${sha256('nothing')}`);
    assert.equal(unknown.status, 404);
  });

  test('with redirect: a GET answers 307 to a presigned URL with identical bytes; HEAD and Range stay here', { timeout: 60_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const base = redirecting!.url;
    const repo = repoName('s3/redirect');
    const data = randomBytes(300_000);
    const digest = await pushBlob(base, repo, data);
    const get = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { redirect: 'manual' });
    assert.equal(get.status, 307);
    const location = get.headers.get('location');
    assert.ok(location?.startsWith(new URL(s3.settings().endpoint).origin), `redirected to the object store: ${location}`);
    assert.match(location!, /X-Amz-Signature=/);
    const followed = await fetch(location!);
    assert.equal(followed.status, 200);
    assert.deepEqual(Buffer.from(await followed.arrayBuffer()), data);
    const auto = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await auto.arrayBuffer())), digest, 'a client following redirects gets the blob');
    const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
    assert.equal(head.status, 200);
    const range = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=0-9' }, redirect: 'manual' });
    assert.equal(range.status, 206);
    assert.deepEqual(Buffer.from(await range.arrayBuffer()), data.subarray(0, 10));
    const unlinked = await fetch(`${base}/v2/${repoName('s3/other')}/blobs/${digest}`, { redirect: 'manual' });
    assert.equal(unlinked.status, 404, 'no presigned URL for a blob the repository does not link');
  });

  test('a unikernel pack (multipart kernel, server-built layer and config) lands on S3', { timeout: 60_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const base = plain!.url;
    const repo = repoName('s3/uk');
    const packed = await packOk(base, repo, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('kernel', 200_000) });
    const view = await inspect(base, repo, 'v1');
    assert.ok(view);
    for (const digest of [packed.config, ...packed.layers.map((l) => l.digest)]) {
      const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
    }
  });

  test('GC lists the bucket and removes the objects of blobs nothing links any more', { timeout: 60_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const base = plain!.url;
    const repo = repoName('s3/gc');
    const image = await pushImage(base, repo, 'v1');
    const kept = sha256(image.layers[0]!);
    const dropped = await pushBlob(base, repo, randomBytes(2000));
    const config = configSchema.parse({ storage: { root: plain!.root, blobs: { driver: 's3', s3: plainS3 } } });
    const { blobs } = await createBlobDriver(config.storage, new Layout(plain!.root));
    assert.equal((await blobs.stat(dropped as Digest))?.size, 2000);
    assert.equal((await fetch(`${base}/v2/${repo}/blobs/${dropped}`, { method: 'DELETE' })).status, 202);
    const gc = await fetch(`${base}/_unireg/gc`, { method: 'POST' });
    assert.equal(gc.status, 200, await gc.text());
    assert.equal(await blobs.stat(dropped as Digest), undefined, 'the unlinked blob is gone from the bucket');
    assert.equal((await blobs.stat(kept as Digest))?.size, image.layers[0]!.length, 'a blob the tagged manifest references stays');
  });

  test('S3 refusing the credentials or not answering is 503 UNAVAILABLE, never a 500', { timeout: 60_000 }, async (t) => {
    if (!s3.gate.check(t)) return;
    const good = s3.settings();
    for (const s3Settings of [{ ...good, secretKey: 'wrong-secret' }, { ...good, endpoint: 'http://127.0.0.1:9' }]) {
      const config = configSchema.parse({ storage: { root: '/nonexistent', blobs: { driver: 's3', s3: s3Settings } } });
      const driver = await createBlobDriver(config.storage, new Layout('/nonexistent'));
      await assert.rejects(driver.blobs.stat(sha256('x') as Digest), StorageUnavailableError);
      await assert.rejects(driver.blobs.init(), StorageUnavailableError);
      await assert.rejects(driver.uploads.stage([Buffer.from('abc')], { update: () => undefined }).then((s) => s.commit(sha256('abc') as Digest)), StorageUnavailableError);
    }
  });
});
