/**
 * 20 concurrent pulls of an uncached large blob (PROXY_BLOB_MIB, default 256
 * MiB) through the cache: the upstream (a real unireg behind a counting proxy)
 * serves it exactly once, every client gets identical bytes, and the
 * process's RSS is printed before, at its peak and after (no timed or memory
 * assertion: figures only).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.PROXY_BLOB_MIB ?? 256);
const CLIENTS = 20;

/** Streams `mib` MiB of pseudo-random bytes (one random MiB, each copy varied) as a monolithic upload; returns the digest. */
async function pushLarge(base: string, repo: string, mib: number): Promise<string> {
  const seed = randomBytes(MIB);
  const chunk = (i: number) => {
    const b = Buffer.from(seed);
    b.writeUInt32BE(i, 0);
    return b;
  };
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) hash.update(chunk(i));
  const digest = `sha256:${hash.digest('hex')}`;
  await new Promise<void>((ok, fail) => {
    const req = request(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': mib * MIB } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? ok() : fail(new Error(`push answered ${res.statusCode}`))));
    });
    req.on('error', fail);
    let i = 0;
    const write = () => {
      while (i < mib) {
        if (!req.write(chunk(i++))) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
  return digest;
}

/** GETs the blob, hashing it as it arrives; the digest and byte count. */
function pull(url: string): Promise<{ status: number; digest: string; bytes: number }> {
  return new Promise((ok, fail) => {
    request(url, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => ok({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes }));
      res.on('error', fail);
    })
      .on('error', fail)
      .end();
  });
}

const rssMiB = () => Math.round(process.memoryUsage().rss / MIB);

describe(`pull-through cache: ${CLIENTS} concurrent pulls of an uncached ${SIZE_MIB} MiB blob`, () => {
  let upstream: TestServer;
  let counting: CountingProxy;
  let cache: TestServer;
  let digest: string;

  before(async () => {
    upstream = await startTestServer();
    digest = await pushLarge(upstream.url, 'big/blob', SIZE_MIB);
    counting = await startCountingProxy(upstream.url);
    cache = await startTestServer({ proxy: { upstreams: [{ prefix: 'up', url: counting.url }] } });
  });

  after(async () => {
    await cache?.destroy();
    await counting?.close();
    await upstream?.destroy();
  });

  it('the upstream serves it once, every client gets identical bytes, RSS is printed', async () => {
    const before = rssMiB();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 50);
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: CLIENTS }, () => pull(`${cache.url}/v2/up/big/blob/blobs/${digest}`)));
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.bytes, SIZE_MIB * MIB);
      assert.equal(r.digest, digest);
    }
    assert.equal(counting.count('GET', `/v2/big/blob/blobs/${digest}`), 1, `upstream blob GETs: ${JSON.stringify([...counting.counts])}`);
    const live = cache.proxy?.stats;
    console.log(
      `${CLIENTS} clients × ${SIZE_MIB} MiB through the cache in ${seconds.toFixed(1)} s; upstream blob GETs: 1, ` +
        `upstream bytes ${Math.round(counting.bytes / MIB)} MiB; RSS before ${before} MiB, peak ${peak} MiB, after ${rssMiB()} MiB ` +
        `(this process: test clients, cache and upstream together); blob fetches started ${live?.blobFetches}`,
    );
    // And now a hit: served by the store, the upstream not asked.
    const hit = await pull(`${cache.url}/v2/up/big/blob/blobs/${digest}`);
    assert.equal(hit.digest, digest);
    assert.equal(counting.count('GET', `/v2/big/blob/blobs/${digest}`), 1);
  });
});
