/**
 * A lying or broken upstream (a tiny test server): wrong bytes for a digest,
 * a body cut off halfway, a manifest that is not what its digest says. The
 * cache stores nothing, the client gets an error (never a complete wrong
 * blob), and the next request asks the upstream again.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { buildImage, errorCode, randomBlob, randomConfig, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { parseDigest } from '../../src/oci/digest.js';
import { waitFor } from '../helpers/tools.js';

type Mode = 'ok' | 'wrong' | 'cut' | 'short';

/** GET with node:http: the body, or 'cut' when the response ended early (as a client sees it). */
function get(url: string): Promise<{ status: number; body: Buffer } | 'cut'> {
  return new Promise((resolve) => {
    const req = request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve('cut'));
      res.on('aborted', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
    req.end();
  });
}

describe('pull-through cache: a lying upstream', () => {
  const blob = randomBlob(3 * 1024 * 1024 + 17);
  const digest = sha256(blob);
  const image = buildImage(randomConfig(), [blob]);
  let mode: Mode = 'wrong';
  let blobGets = 0;
  let lieAboutManifest = true;
  let upstream: Server;
  let cache: TestServer;

  before(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url === `/v2/app/blobs/${digest}`) {
        blobGets++;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
        if (req.method === 'HEAD') return res.end();
        if (mode === 'ok') return res.end(blob);
        if (mode === 'wrong') {
          const wrong = Buffer.from(blob);
          wrong[wrong.length - 1] = (blob[blob.length - 1] ?? 0) ^ 0xff;
          return res.end(wrong);
        }
        if (mode === 'short') {
          // Declares the full length, sends less and ends cleanly: a truncated body.
          res.write(blob.subarray(0, blob.length >> 1));
          return res.socket?.end();
        }
        res.write(blob.subarray(0, blob.length >> 1));
        setTimeout(() => res.destroy(), 50);
        return;
      }
      if (req.url === '/v2/app/manifests/v1') {
        const bytes = lieAboutManifest ? Buffer.from(image.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":2 ')) : image.bytes;
        res.writeHead(200, { 'content-type': image.manifest.mediaType as string, 'docker-content-digest': image.digest, 'content-length': bytes.length });
        return res.end(req.method === 'HEAD' ? undefined : bytes);
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
      return;
    });
    await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok));
    const port = (upstream.address() as AddressInfo).port;
    cache = await startTestServer({ proxy: { upstreams: [{ prefix: 'up', url: `http://127.0.0.1:${port}` }] } });
  });

  after(async () => {
    await cache?.destroy();
    await new Promise<void>((ok) => (upstream ? upstream.close(() => ok()) : ok()));
  });

  for (const lie of ['wrong', 'cut', 'short'] as const) {
    it(`${lie} blob bytes: nothing stored, the client gets an error, the next request retries`, async () => {
      mode = lie;
      const before = blobGets;
      const answer = await get(`${cache.url}/v2/up/app/blobs/${digest}`);
      assert.ok(answer === 'cut' || !answer.body.equals(blob), 'the client must never get a complete blob from a lying upstream');
      if (answer !== 'cut') assert.ok(answer.status >= 500 || answer.body.length < blob.length, `status ${answer.status}, ${answer.body.length} bytes`);
      assert.equal(await cache.registry.deps.blobs.size(parseDigest(digest)), undefined, 'no blob file');
      assert.equal(await cache.registry.deps.meta.getBlobLink('up/app', parseDigest(digest)), undefined, 'no link');
      assert.equal(blobGets, before + 1);
      // Retried: the upstream is asked again (and lies again).
      await get(`${cache.url}/v2/up/app/blobs/${digest}`);
      assert.equal(blobGets, before + 2);
    });
  }

  it('once the upstream tells the truth, the blob is served and stored', async () => {
    mode = 'ok';
    const answer = await get(`${cache.url}/v2/up/app/blobs/${digest}`);
    assert.notEqual(answer, 'cut');
    if (answer === 'cut') return;
    assert.equal(answer.status, 200);
    assert.ok(answer.body.equals(blob));
    // The client has every byte once they match the digest; the store finishes (fsync, link) right after.
    assert.ok(await waitFor(async () => (await cache.registry.deps.blobs.size(parseDigest(digest))) === blob.length, 10_000), 'stored');
    const gets = blobGets;
    const again = await get(`${cache.url}/v2/up/app/blobs/${digest}`);
    assert.ok(again !== 'cut' && again.body.equals(blob));
    assert.equal(blobGets, gets, 'served from the store');
  });

  it('a manifest that does not match its digest: 502, nothing stored; the truth is then cached', async () => {
    const res = await fetch(`${cache.url}/v2/up/app/manifests/v1`);
    assert.equal(res.status, 502);
    assert.equal(errorCode(Buffer.from(await res.arrayBuffer())), 'UNAVAILABLE');
    assert.equal(await cache.registry.deps.meta.getTag('up/app', 'v1'), undefined);
    lieAboutManifest = false;
    const ok = await fetch(`${cache.url}/v2/up/app/manifests/v1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('docker-content-digest'), image.digest);
  });
});
