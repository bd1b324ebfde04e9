/**
 * The HTTP test suites on three replicas: S3 (radosgw) + PostgreSQL, three
 * `unireg serve` processes behind nginx round robin (no stickiness). Every
 * startTestServer() of the imported files becomes such a deployment
 * (test/helpers/replicated-server.ts), so uploads (monolithic, chunked, tiny
 * chunks, resumed), blobs, manifests, referrers, tags and catalog listings,
 * deletes, mounts and unikernel pack/merge/filter run with each request landing
 * on whichever replica nginx picks. The tests below show that it does: the chunks
 * of one upload land on different replicas, and a replica that cached a tag sees
 * another replica's move of it as soon as that move is answered.
 */
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { abs, bin, pushImage, randomBlob, sha256, withQuery } from '../helpers/oci.js';
import { usePostgres } from '../helpers/postgres.js';
import { replicasOf, targetReplicas, type ReplicatedTarget } from '../helpers/replicated-server.js';
import { s3Engine } from '../helpers/s3.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, skipOrFail } from '../helpers/tools.js';

const pg = usePostgres();
const s3 = s3Engine();

/** Why the replicated setup cannot run here, once the engines' hooks have run; undefined when it can. */
async function blocked(): Promise<string | undefined> {
  return (await gateFor(['nginx'])).blocked ?? pg.gate.blocked ?? s3.gate.blocked;
}

/** The engines as a target, read when the first test server starts (every root hook has run by then). */
function target(): ReplicatedTarget {
  const { prefix: _unused, ...bucket } = s3.settings();
  return { postgresUrl: pg.server().url, s3: bucket, count: 3 };
}

/** Skips (fails in CI) when an engine or nginx is missing. */
async function check(t: TestContext): Promise<boolean> {
  const reason = await blocked();
  if (reason === undefined) return true;
  skipOrFail(t, reason);
  return false;
}

describe('requests of one client go to every replica', () => {
  let srv: TestServer | undefined;
  after(async () => {
    await srv?.destroy();
  });

  test('a chunked upload: each PATCH, the status GET and the closing PUT on another replica; tiny chunks', async (t) => {
    if (!(await check(t))) return;
    srv = await startTestServer();
    const data = randomBlob(64 * 1024 + 7);
    const post = await fetch(`${srv.url}/v2/rr/chunks/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    let location = abs(srv.url, post.headers.get('location'));
    const id = new URL(location).pathname.split('/').at(-1)!;
    // Six chunks, then ten one-byte chunks (smaller than any S3 part), then the rest with the PUT.
    const cuts = [0, 1, 2, 1000, 5000, 30000, 60000];
    for (let i = 1; i <= 10; i++) cuts.push(60000 + i);
    let offset = 0;
    for (const cut of cuts.slice(1)) {
      const chunk = data.subarray(offset, cut);
      const res = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${cut - 1}`, 'Content-Length': String(chunk.length) },
        body: bin(chunk),
      });
      assert.equal(res.status, 202, `PATCH ${offset}-${cut - 1}: ${await res.text()}`);
      assert.equal(res.headers.get('range'), `0-${cut - 1}`);
      location = abs(srv.url, res.headers.get('location'));
      offset = cut;
      const status = await fetch(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${cut - 1}`);
    }
    const digest = sha256(data);
    const put = await fetch(withQuery(location, { digest }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: bin(data.subarray(offset)) });
    assert.equal(put.status, 201, await put.text());
    const get = await fetch(`${srv.url}/v2/rr/chunks/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest);

    const log = (await replicasOf(srv)!.accessLog()).filter((l) => l.uri.includes(id));
    const upstreams = (method: string) => new Set(log.filter((l) => l.method === method).map((l) => l.upstream));
    assert.equal(upstreams('PATCH').size, 3, `PATCHes landed on ${[...upstreams('PATCH')].join(', ')}`);
    assert.equal(upstreams('GET').size, 3);
    assert.equal(log.filter((l) => l.method === 'PATCH').length, cuts.length - 1);
  });

  test('a replica that served a tag sees another replica move it', async (t) => {
    if (!(await check(t))) return;
    srv ??= await startTestServer();
    const replicas = replicasOf(srv)!.replicas;
    const first = await pushImage(srv.url, 'rr/cache', 'v1');
    const digestOn = async (url: string) => (await fetch(`${url}/v2/rr/cache/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).headers.get('docker-content-digest');
    // Every replica answers (and caches) v1 = first.
    for (const r of replicas) assert.equal(await digestOn(r.url), first.digest);
    // Moved through replica 0 only: its answer comes once the others have dropped their cached entry, so
    // a read through any replica right after it sees the move.
    const second = await pushImage(replicas[0]!.url, 'rr/cache', 'v1');
    for (const r of replicas) assert.equal(await digestOn(r.url), second.digest, `${r.url} still serves the old v1`);
  });
});

// The suites themselves, unchanged: each startTestServer() in them is a three-replica deployment. Without nginx and
// the engines' tools they are not loaded (they would only repeat their in-process runs).
const tools = await gateFor(['nginx', 'initdb', 'pg_ctl', 'psql', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin']);
if (tools.blocked === undefined) {
  targetReplicas(target);
  await import('../http/base.test.js');
  await import('../http/uploads.test.js');
  await import('../http/blobs.test.js');
  await import('../http/manifests.test.js');
  await import('../http/manifest-errors.test.js');
  await import('../http/referrers.test.js');
  await import('../http/listings.test.js');
  await import('../http/deletes.test.js');
  await import('../http/mount.test.js');
  await import('../http/unikernel-pack.test.js');
  await import('../http/unikernel-merge.test.js');
  await import('../http/unikernel-filter.test.js');
}
