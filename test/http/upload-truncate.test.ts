/**
 * A chunk cut off after more than 1 MiB, then a shorter retry at the same offset:
 * the blob must be exactly the retried bytes, on disk too (no tail of the cut chunk).
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { abs, bin, randomBlob, raw, repoName, sha256, startUpload, withQuery } from '../helpers/oci.js';

describe('upload truncate hardening', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.destroy());

  /** A PATCH that may meet the cut request still finishing (409): retried a bounded number of times. */
  async function patchWhenFree(location: string, data: Buffer, range: string): Promise<Response> {
    for (let i = 0; ; i++) {
      const res = await fetch(abs(srv.url, location), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': range },
        body: bin(data),
      });
      if (res.status !== 409 || i > 100) return res;
      await sleep(50);
    }
  }

  for (const framing of ['Content-Length', 'chunked'] as const) {
    test(`a chunk cut after >1 MiB (${framing}), then a 10-byte retry: the blob is those 10 bytes on disk`, async () => {
      const repo = repoName('trunc');
      const location = await startUpload(srv.url, repo);
      const big = randomBlob(2 * 1024 * 1024 + 4096);
      const parts = Array.from({ length: 9 }, (_, i) => big.subarray(i * 256 * 1024, (i + 1) * 256 * 1024));
      const cut = await raw(srv.url, location, {
        method: 'PATCH',
        headers:
          framing === 'chunked'
            ? { 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/octet-stream' }
            : { 'Content-Length': 8 * 1024 * 1024, 'Content-Type': 'application/octet-stream' },
        body: parts,
        cut: true,
      });
      assert.equal(cut, 'cut');

      const small = randomBlob(10);
      const retry = await patchWhenFree(location, small, '0-9');
      assert.equal(retry.status, 202, await retry.clone().text());
      assert.equal(retry.headers.get('range'), '0-9');
      const digest = sha256(small);
      const put = await fetch(abs(srv.url, withQuery(location, { digest })), { method: 'PUT' });
      assert.equal(put.status, 201, await put.clone().text());

      const get = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('content-length'), '10');
      const body = Buffer.from(await get.arrayBuffer());
      assert.ok(body.equals(small), 'served bytes');
      assert.equal(sha256(body), digest);
      const file = new Layout(srv.root).blobPath(parseDigest(digest));
      assert.equal((await stat(file)).size, 10, 'blob file size on disk');
    });
  }
});
