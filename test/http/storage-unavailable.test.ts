/**
 * A metadata database that has failed (here: closed under the running server)
 * answers 503 UNAVAILABLE with Retry-After on every route that needs it, reads
 * and writes alike, instead of a 500 "internal server error".
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bin, MT, pushImage, randomBlob, sha256, type Image } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

async function expectUnavailable(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, `${what}: ${text}`);
  if (res.headers.get('content-length') !== '0' && text !== '') {
    const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'UNAVAILABLE', what);
    assert.equal(body.errors[0]?.message, 'storage temporarily unavailable', what);
  }
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
}

describe('a failed metadata database', () => {
  let srv: TestServer;
  let image: Image;
  const repo = 'down/app';

  before(async () => {
    srv = await startTestServer();
    image = await pushImage(srv.url, repo, 'v1');
    await srv.registry.deps.meta.close();
  });
  after(async () => {
    await srv.destroy();
  });

  test('reads are 503 UNAVAILABLE with Retry-After', async () => {
    // (v1 itself may be answered from the hot manifest cache, which needs no database.)
    await expectUnavailable(await fetch(`${srv.url}/v2/${repo}/manifests/v0`, { headers: { Accept: MT.ociManifest } }), 'GET manifest');
    await expectUnavailable(await fetch(`${srv.url}/v2/${repo}/manifests/v0`, { method: 'HEAD' }), 'HEAD manifest');
    await expectUnavailable(await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(image.config)}`), 'GET blob');
    await expectUnavailable(await fetch(`${srv.url}/v2/${repo}/tags/list`), 'tags');
    await expectUnavailable(await fetch(`${srv.url}/v2/_catalog`), 'catalog');
  });

  test('writes are 503 UNAVAILABLE with Retry-After', async () => {
    const blob = randomBlob(1000);
    await expectUnavailable(
      await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: bin(blob) }),
      'monolithic blob',
    );
    await expectUnavailable(await fetch(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 'start upload');
    await expectUnavailable(
      await fetch(`${srv.url}/v2/${repo}/manifests/v2`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bin(image.bytes) }),
      'PUT manifest',
    );
  });

  test('the API root still answers', async () => {
    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
  });
});
