/** DELETE of tags, manifests and blobs, and the same with deletes disabled. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectError, prepareImage, pushBlob, pushImage, putManifest, randomBlob, repoName, sha256 } from '../helpers/oci.js';

async function tagList(base: string, repo: string): Promise<string[]> {
  const res = await fetch(`${base}/v2/${repo}/tags/list`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

describe('deletes', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });
  const del = (path: string) => fetch(`${srv.url}/v2/${path}`, { method: 'DELETE' });
  const get = (path: string, method = 'GET') => fetch(`${srv.url}/v2/${path}`, { method });

  test('DELETE of a tag: 202, the tag is gone, the manifest stays reachable by digest', async () => {
    const repo = repoName('del');
    const image = await pushImage(srv.url, repo, 'v1');
    assert.equal((await putManifest(srv.url, repo, 'v2', image.bytes)).status, 201);
    const res = await del(`${repo}/manifests/v1`);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await expectError(await get(`${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await get(`${repo}/manifests/v1`, 'HEAD')).status, 404);
    assert.deepEqual(await tagList(srv.url, repo), ['v2']);
    const byDigest = await get(`${repo}/manifests/${image.digest}`);
    assert.equal(byDigest.status, 200);
    assert.ok(Buffer.from(await byDigest.arrayBuffer()).equals(image.bytes));
    assert.equal((await get(`${repo}/manifests/v2`)).status, 200);
  });

  test('DELETE of a manifest by digest: 202, 404 afterwards, and every tag on it is gone', async () => {
    const repo = repoName('del');
    const image = await pushImage(srv.url, repo, 'a');
    for (const t of ['b', 'c']) assert.equal((await putManifest(srv.url, repo, t, image.bytes)).status, 201);
    const other = await pushImage(srv.url, repo, 'keep');
    assert.deepEqual(await tagList(srv.url, repo), ['a', 'b', 'c', 'keep']);

    assert.equal((await del(`${repo}/manifests/${image.digest}`)).status, 202);
    await expectError(await get(`${repo}/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await get(`${repo}/manifests/${image.digest}`, 'HEAD')).status, 404);
    for (const t of ['a', 'b', 'c']) await expectError(await get(`${repo}/manifests/${t}`), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(await tagList(srv.url, repo), ['keep']);
    assert.equal((await get(`${repo}/manifests/${other.digest}`)).status, 200);
    // The blobs stay: deleting a manifest does not delete blobs.
    assert.equal((await get(`${repo}/blobs/${sha256(image.config)}`)).status, 200);
  });

  test('a tag that moved away is kept when its former manifest is deleted', async () => {
    const repo = repoName('del');
    const first = await pushImage(srv.url, repo, 'moving');
    const second = await pushImage(srv.url, repo, 'moving');
    assert.equal((await del(`${repo}/manifests/${first.digest}`)).status, 202);
    const res = await get(`${repo}/manifests/moving`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), second.digest);
    assert.deepEqual(await tagList(srv.url, repo), ['moving']);
  });

  test('a deleted manifest can be pushed again', async () => {
    const repo = repoName('del');
    const image = await pushImage(srv.url, repo, 'again');
    assert.equal((await del(`${repo}/manifests/${image.digest}`)).status, 202);
    assert.equal((await putManifest(srv.url, repo, 'again', image.bytes)).status, 201);
    assert.equal((await get(`${repo}/manifests/again`)).status, 200);
    assert.deepEqual(await tagList(srv.url, repo), ['again']);
  });

  test('deleting a referrer by digest removes its referrers entry', async () => {
    const repo = repoName('del');
    const subject = await pushImage(srv.url, repo, 'subj');
    const ref = await pushImage(srv.url, repo, 'sig', { subject: subject.descriptor, artifactType: 'application/x.sig' });
    const before = (await (await get(`${repo}/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(before.manifests.map((m) => m.digest), [ref.digest]);
    assert.equal((await del(`${repo}/manifests/${ref.digest}`)).status, 202);
    const after = (await (await get(`${repo}/referrers/${subject.digest}`)).json()) as { manifests?: { digest: string }[] };
    assert.deepEqual(after.manifests ?? [], []);
    assert.deepEqual(await tagList(srv.url, repo), ['subj']);
  });

  test('DELETE of a blob: 202, then 404 in that repository, still present where else it is linked', async () => {
    const a = repoName('del');
    const b = repoName('del');
    const data = randomBlob(60);
    const digest = await pushBlob(srv.url, a, data);
    await pushBlob(srv.url, b, data);
    const res = await del(`${a}/blobs/${digest}`);
    assert.equal(res.status, 202);
    await expectError(await get(`${a}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await get(`${a}/blobs/${digest}`, 'HEAD')).status, 404);
    const inB = await get(`${b}/blobs/${digest}`);
    assert.equal(inB.status, 200);
    assert.ok(Buffer.from(await inB.arrayBuffer()).equals(data));
    await expectError(await del(`${a}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('a deleted blob can be uploaded again', async () => {
    const repo = repoName('del');
    const data = randomBlob(60);
    const digest = await pushBlob(srv.url, repo, data);
    assert.equal((await del(`${repo}/blobs/${digest}`)).status, 202);
    await pushBlob(srv.url, repo, data);
    const res = await get(`${repo}/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
  });

  test('deleting unknown things: 404 with the right code', async () => {
    const repo = repoName('del');
    await pushImage(srv.url, repo, 'x');
    await expectError(await del(`${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await del(`${repo}/manifests/${sha256('hello world')}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await del(`${repo}/blobs/${sha256('hello world')}`), 404, 'BLOB_UNKNOWN');
    const ghost = repoName('ghost');
    assert.equal((await del(`${ghost}/manifests/latest`)).status, 404);
    assert.equal((await del(`${ghost}/blobs/${sha256('x')}`)).status, 404);
  });

  test('deleting by a malformed digest: 400 DIGEST_INVALID', async () => {
    const repo = repoName('del');
    await pushImage(srv.url, repo, 'x');
    await expectError(await del(`${repo}/blobs/sha256:zzz`), 400, 'DIGEST_INVALID');
    await expectError(await del(`${repo}/manifests/sha256:totallywrong`), 400, 'DIGEST_INVALID');
  });
});

describe('deletes disabled', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ deletes: { enabled: false } });
  });
  after(async () => {
    await srv.destroy();
  });

  test('every DELETE answers 405 UNSUPPORTED and nothing is removed', async () => {
    const repo = repoName('nodel');
    const subject = await pushImage(srv.url, repo, 'v1');
    const ref = await pushImage(srv.url, repo, undefined, { subject: subject.descriptor, artifactType: 'application/x.sig' });
    const data = randomBlob(30);
    const digest = await pushBlob(srv.url, repo, data);
    const del = (path: string) => fetch(`${srv.url}/v2/${repo}/${path}`, { method: 'DELETE' });

    await expectError(await del('manifests/v1'), 405, 'UNSUPPORTED');
    await expectError(await del(`manifests/${subject.digest}`), 405, 'UNSUPPORTED');
    await expectError(await del(`manifests/${ref.digest}`), 405, 'UNSUPPORTED');
    await expectError(await del(`blobs/${digest}`), 405, 'UNSUPPORTED');
    await expectError(await del(`manifests/nope`), 405, 'UNSUPPORTED');

    const tag = await fetch(`${srv.url}/v2/${repo}/manifests/v1`);
    assert.equal(tag.status, 200);
    assert.ok(Buffer.from(await tag.arrayBuffer()).equals(subject.bytes));
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${ref.digest}`)).status, 200);
    const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(data));
    assert.deepEqual(await tagList(srv.url, repo), ['v1']);
    const refs = (await (await fetch(`${srv.url}/v2/${repo}/referrers/${subject.digest}`)).json()) as { manifests: unknown[] };
    assert.equal(refs.manifests.length, 1);
  });

  test('pushing still works with deletes disabled', async () => {
    const repo = repoName('nodel');
    const image = await prepareImage(srv.url, repo);
    assert.equal((await putManifest(srv.url, repo, 'ok', image.bytes)).status, 201);
  });
});
