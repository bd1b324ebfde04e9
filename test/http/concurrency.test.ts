/** Concurrent requests: same blob from several clients, many manifests on one tag, racing chunks. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { abs, bin, prepareImage, pushBlob, putManifest, randomBlob, randomConfig, buildImage, sha256, startUpload } from '../helpers/oci.js';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

describe('concurrency', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });

  const start = (repo: string) => startUpload(srv.url, repo);
  const patch = (location: string, data: Buffer, range: string) =>
    fetch(abs(srv.url, location), { method: 'PATCH', headers: { 'Content-Range': range }, body: bin(data) });

  async function expectOneCopy(digest: string) {
    const hex = digest.slice(digest.indexOf(':') + 1);
    const algorithm = digest.slice(0, digest.indexOf(':'));
    const blobs = join(srv.root, 'blobs');
    const copies = (await filesUnder(blobs)).filter((f) => f.endsWith(hex));
    assert.deepEqual(copies.map((f) => relative(blobs, f)), [join(algorithm, hex.slice(0, 2), hex)]);
  }

  async function expectNoUploadsLeft() {
    assert.deepEqual(await readdir(join(srv.root, 'uploads')), []);
    assert.deepEqual(await filesUnder(join(srv.root, 'tmp')), []);
  }

  test('two clients upload the same blob at once: both 201, one copy on disk, no upload left', async () => {
    const data = randomBlob(256 * 1024);
    const digest = sha256(data);
    const half = data.length / 2;
    const [a, b] = await Promise.all([start('conc/one'), start('conc/two')]);
    const first = await Promise.all([patch(a, data.subarray(0, half), `0-${half - 1}`), patch(b, data.subarray(0, half), `0-${half - 1}`)]);
    assert.deepEqual(first.map((r) => r.status), [202, 202]);
    const second = await Promise.all([
      patch(b, data.subarray(half), `${half}-${data.length - 1}`),
      patch(a, data.subarray(half), `${half}-${data.length - 1}`),
    ]);
    assert.deepEqual(second.map((r) => r.status), [202, 202]);
    const done = await Promise.all(
      [a, b].map((l) => fetch(abs(srv.url, `${l}?digest=${digest}`), { method: 'PUT' })),
    );
    assert.deepEqual(done.map((r) => r.status), [201, 201]);
    for (const repo of ['conc/one', 'conc/two']) {
      const res = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
    }
    await expectOneCopy(digest);
    await expectNoUploadsLeft();
  });

  test('ten clients push the same blob to one repository at once (single POST and POST+PUT)', async () => {
    const data = randomBlob(100 * 1024);
    const digest = sha256(data);
    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        if (i % 2 === 0) {
          const res = await fetch(`${srv.url}/v2/conc/same/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bin(data) });
          return res.status;
        }
        const location = await start('conc/same');
        return (await fetch(abs(srv.url, `${location}?digest=${digest}`), { method: 'PUT', body: bin(data) })).status;
      }),
    );
    assert.deepEqual(results, Array(10).fill(201));
    const res = await fetch(`${srv.url}/v2/conc/same/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
    await expectOneCopy(digest);
    await expectNoUploadsLeft();
  });

  test('20 concurrent PUTs of different manifests to one tag: all 201 and the tag is consistent', async () => {
    const repo = 'conc/tag';
    const base = await prepareImage(srv.url, repo);
    const configs = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const config = randomConfig();
        await pushBlob(srv.url, repo, config);
        return config;
      }),
    );
    const images = configs.map((c) => buildImage(c, base.layers));
    const responses = await Promise.all(images.map((img) => putManifest(srv.url, repo, 'race', img.bytes)));
    assert.deepEqual(responses.map((r) => r.status), Array(20).fill(201));
    responses.forEach((r, i) => assert.equal(r.headers.get('docker-content-digest'), images[i]!.digest));

    const get = await fetch(`${srv.url}/v2/${repo}/manifests/race`);
    assert.equal(get.status, 200);
    const bytes = Buffer.from(await get.arrayBuffer());
    const dcd = get.headers.get('docker-content-digest');
    assert.equal(sha256(bytes), dcd);
    assert.ok(images.some((img) => img.digest === dcd), 'the tag names one of the pushed manifests');
    const head = await fetch(`${srv.url}/v2/${repo}/manifests/race`, { method: 'HEAD' });
    assert.equal(head.headers.get('docker-content-digest'), dcd);
    const tags = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['race']);
    for (const img of images) {
      const res = await fetch(`${srv.url}/v2/${repo}/manifests/${img.digest}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(img.bytes));
    }
    // Deleting the winner by digest removes the tag; the others stay.
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${dcd}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/race`)).status, 404);
    const after = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] | null };
    assert.deepEqual(after.tags ?? [], []);
  });

  test('30 tags pushed concurrently are all listed once, in order', async () => {
    const repo = 'conc/tags';
    const image = await prepareImage(srv.url, repo);
    const tags = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const statuses = await Promise.all(tags.map(async (t) => (await putManifest(srv.url, repo, t, image.bytes)).status));
    assert.deepEqual(statuses, Array(30).fill(201));
    const list = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(list.tags, tags);
    // Deleting the manifest by digest removes all 30 tags.
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
    const after = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] | null };
    assert.deepEqual(after.tags ?? [], []);
  });

  test('two racing PATCHes of the same chunk on one session: exactly one is accepted', async () => {
    const data = randomBlob(512 * 1024);
    const location = await start('conc/race');
    const results = await Promise.all([
      patch(location, data, `0-${data.length - 1}`),
      patch(location, data, `0-${data.length - 1}`),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 202).length, 1, `statuses ${statuses}`);
    assert.ok([409, 416].includes(statuses.find((s) => s !== 202)!), `statuses ${statuses}`);
    const status = await fetch(abs(srv.url, location));
    assert.equal(status.headers.get('range'), `0-${data.length - 1}`);
    const done = await fetch(abs(srv.url, `${location}?digest=${sha256(data)}`), { method: 'PUT' });
    assert.equal(done.status, 201);
    const res = await fetch(`${srv.url}/v2/conc/race/blobs/${sha256(data)}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(data));
  });

  test('reads during writes always see a complete manifest', async () => {
    const repo = 'conc/rw';
    const base = await prepareImage(srv.url, repo);
    assert.equal((await putManifest(srv.url, repo, 'live', base.bytes)).status, 201);
    const images = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = randomConfig();
        await pushBlob(srv.url, repo, c);
        return buildImage(c, base.layers);
      }),
    );
    const known = new Set([base.digest, ...images.map((i) => i.digest)]);
    const writes = images.map((img) => putManifest(srv.url, repo, 'live', img.bytes));
    const reads = Array.from({ length: 30 }, async () => {
      const res = await fetch(`${srv.url}/v2/${repo}/manifests/live`);
      assert.equal(res.status, 200);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256(bytes), res.headers.get('docker-content-digest'));
      assert.ok(known.has(sha256(bytes)));
    });
    const statuses = await Promise.all(writes.map(async (w) => (await w).status));
    await Promise.all(reads);
    assert.deepEqual(statuses, Array(10).fill(201));
  });
});
