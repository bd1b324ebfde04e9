/**
 * Restarts: upload sessions, manifests, tags, referrers and deletes survive a
 * stop and start on the same root. Also: upload sessions expire.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { abs, bin, expectError, prepareImage, pushBlob, pushImage, putManifest, randomBlob, repoName, sha256, sha512, startUpload } from '../helpers/oci.js';

describe('restart', () => {
  let srv: TestServer;
  after(async () => {
    await srv.destroy();
  });

  const restart = async () => {
    await srv.stop();
    srv = await startTestServer({}, srv.root);
  };
  const start = (repo: string) => startUpload(srv.url, repo);
  const patch = (location: string, data: Buffer, range?: string) =>
    fetch(abs(srv.url, location), { method: 'PATCH', headers: range ? { 'Content-Range': range } : {}, body: bin(data) });
  const status = async (location: string) => {
    const res = await fetch(abs(srv.url, location));
    assert.equal(res.status, 204);
    return res.headers.get('range');
  };

  test('everything survives a restart', async () => {
    srv = await startTestServer();
    const repo = 'restart/app';

    // A chunked upload (Content-Range), a streamed one, and a sha512 one, each with a first chunk.
    const chunked = randomBlob(3000);
    const chunkedAt = await start(repo);
    assert.equal((await patch(chunkedAt, chunked.subarray(0, 1200), '0-1199')).status, 202);
    const streamed = randomBlob(2500);
    const streamedAt = await start(repo);
    assert.equal((await patch(streamedAt, streamed.subarray(0, 1000))).status, 202);
    const long = randomBlob(900);
    const longAt = await start(repo);
    assert.equal((await patch(longAt, long.subarray(0, 400))).status, 202);
    const cancelled = await start(repo);
    assert.equal((await fetch(abs(srv.url, cancelled), { method: 'DELETE' })).status, 204);

    // Manifests, tags, a referrer, a deleted tag, a deleted blob.
    const image = await pushImage(srv.url, repo, 'v1');
    assert.equal((await putManifest(srv.url, repo, 'latest', image.bytes)).status, 201);
    assert.equal((await putManifest(srv.url, repo, 'gone', image.bytes)).status, 201);
    const docker = await pushImage(srv.url, repo, 'docker', { docker: true });
    const sig = await pushImage(srv.url, repo, undefined, { subject: image.descriptor, artifactType: 'application/x.sig' });
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/gone`, { method: 'DELETE' })).status, 202);
    const dropped = await pushBlob(srv.url, repo, randomBlob(10));
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${dropped}`, { method: 'DELETE' })).status, 202);
    // Read once so that caches are warm before the restart.
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/v1`)).status, 200);

    await restart();

    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
    assert.equal(await status(chunkedAt), '0-1199');
    assert.equal(await status(streamedAt), '0-999');
    assert.equal(await status(longAt), '0-399');
    assert.equal((await fetch(abs(srv.url, cancelled))).status, 404);

    // Finish the uploads on the same Locations.
    const c2 = await patch(chunkedAt, chunked.subarray(1200), '1200-2999');
    assert.equal(c2.status, 202);
    assert.equal(c2.headers.get('range'), '0-2999');
    assert.equal((await fetch(abs(srv.url, `${chunkedAt}?digest=${sha256(chunked)}`), { method: 'PUT' })).status, 201);
    const s2 = await patch(streamedAt, streamed.subarray(1000));
    assert.equal(s2.status, 202);
    assert.equal(s2.headers.get('range'), '0-2499');
    assert.equal((await fetch(abs(srv.url, `${streamedAt}?digest=${sha256(streamed)}`), { method: 'PUT' })).status, 201);
    const l2 = await fetch(abs(srv.url, `${longAt}?digest=${sha512(long)}`), { method: 'PUT', body: bin(long.subarray(400)) });
    assert.equal(l2.status, 201);
    for (const [data, digest] of [
      [chunked, sha256(chunked)],
      [streamed, sha256(streamed)],
      [long, sha512(long)],
    ] as const) {
      const res = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(data), digest);
    }

    // Manifests and tags.
    for (const ref of ['v1', 'latest', image.digest]) {
      const res = await fetch(`${srv.url}/v2/${repo}/manifests/${ref}`);
      assert.equal(res.status, 200, ref);
      assert.equal(res.headers.get('content-type'), image.manifest.mediaType);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(image.bytes), ref);
    }
    const d = await fetch(`${srv.url}/v2/${repo}/manifests/docker`);
    assert.equal(d.headers.get('content-type'), docker.manifest.mediaType);
    assert.ok(Buffer.from(await d.arrayBuffer()).equals(docker.bytes));
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/gone`)).status, 404);
    const tags = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['docker', 'latest', 'v1']);
    const refs = (await (await fetch(`${srv.url}/v2/${repo}/referrers/${image.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(refs.manifests.map((m) => m.digest), [sig.digest]);
    const catalog = (await (await fetch(`${srv.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, [repo]);

    // Blobs: still there, the deleted one still deleted.
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(image.config)}`)).status, 200);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${dropped}`)).status, 404);

    // New pushes work after the restart.
    const fresh = await prepareImage(srv.url, repo);
    assert.equal((await putManifest(srv.url, repo, 'v2', fresh.bytes)).status, 201);
  });

  test('a second restart in a row changes nothing', async () => {
    await restart();
    await restart();
    const tags = (await (await fetch(`${srv.url}/v2/restart/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['docker', 'latest', 'v1', 'v2']);
  });

  test('bytes past the durable offset (a crash mid-chunk) are discarded after a restart', async () => {
    const repo = 'restart/crash';
    const data = randomBlob(2000);
    const location = await start(repo);
    assert.equal((await patch(location, data.subarray(0, 800), '0-799')).status, 202);
    const id = new URL(abs(srv.url, location)).pathname.split('/').pop()!;
    await srv.stop();
    const uploads = await readdir(join(srv.root, 'uploads'));
    assert.ok(uploads.includes(id), 'the session has a data file named by its id');
    await appendFile(join(srv.root, 'uploads', id), randomBlob(333));
    srv = await startTestServer({}, srv.root);
    assert.equal(await status(location), '0-799');
    const rest = await patch(location, data.subarray(800), '800-1999');
    assert.equal(rest.status, 202);
    assert.equal(rest.headers.get('range'), '0-1999');
    assert.equal((await fetch(abs(srv.url, `${location}?digest=${sha256(data)}`), { method: 'PUT' })).status, 201);
    const res = await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(data)}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
  });
});

describe('upload expiry', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ uploads: { expiry: 1 } });
  });
  after(async () => {
    await srv.destroy();
  });

  test('a session untouched for longer than uploads.expiry is gone', async () => {
    const location = abs(srv.url, await startUpload(srv.url, repoName('exp')));
    assert.equal((await fetch(location)).status, 204);
    await new Promise((r) => setTimeout(r, 1200));
    await expectError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });
});
