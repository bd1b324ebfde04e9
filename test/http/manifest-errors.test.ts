/** Manifest PUT/GET refusals: missing references, digests, size limits, invalid JSON and references. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  MT,
  buildIndex,
  descriptorOf,
  errorCode,
  expectError,
  prepareImage,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  randomConfig,
  rawOk,
  repoName,
  sha256,
} from '../helpers/oci.js';

describe('manifest errors', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });
  const get = (repo: string, ref: string, method = 'GET') => fetch(`${srv.url}/v2/${repo}/manifests/${ref}`, { method });

  test('a manifest whose config or layer is missing: 400 MANIFEST_BLOB_UNKNOWN, nothing stored', async () => {
    const repo = repoName('merr');
    const config = randomConfig();
    const layer = randomBlob(50);
    await pushBlob(srv.url, repo, config);
    const noLayer = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: descriptorOf(MT.ociConfig, config),
      layers: [descriptorOf(MT.ociLayer, layer)],
    };
    await expectError(await putManifest(srv.url, repo, 'v1', noLayer), 400, 'MANIFEST_BLOB_UNKNOWN');
    const noConfig = { ...noLayer, config: descriptorOf(MT.ociConfig, randomConfig()), layers: [] };
    await expectError(await putManifest(srv.url, repo, 'v1', noConfig), 400, 'MANIFEST_BLOB_UNKNOWN');
    await expectError(await get(repo, 'v1'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await get(repo, sha256(JSON.stringify(noLayer))), 404, 'MANIFEST_UNKNOWN');
  });

  test('a blob held only by another repository the caller may pull is linked (shared bases); the repository then serves it', async () => {
    // Without auth everyone may pull every repository, so the base's blobs are linked on the manifest PUT
    // (test/http/shared-bases.test.ts covers the refusal when the caller may not pull the source).
    const other = repoName('merr');
    const image = await prepareImage(srv.url, other);
    const repo = repoName('merr');
    await pushBlob(srv.url, repo, randomBlob(4));
    const put = await putManifest(srv.url, repo, 'v1', image.bytes);
    assert.equal(put.status, 201);
    const layer = sha256(image.layers[0]!);
    const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${layer}`);
    assert.equal(blob.status, 200);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer);
  });

  test('an index with a missing child: 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = repoName('merr');
    const present = await pushImage(srv.url, repo);
    const absent = await prepareImage(srv.url, repo); // blobs pushed, manifest not
    const index = buildIndex([present.descriptor, absent.descriptor]);
    await expectError(await putManifest(srv.url, repo, 'idx', index, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
    await expectError(await get(repo, 'idx'), 404, 'MANIFEST_UNKNOWN');
  });

  test('an index whose child lives in another repository: MANIFEST_BLOB_UNKNOWN', async () => {
    const child = await pushImage(srv.url, repoName('merr'));
    const repo = repoName('merr');
    await pushBlob(srv.url, repo, randomBlob(4));
    const index = buildIndex([child.descriptor], {}, MT.dockerList);
    await expectError(await putManifest(srv.url, repo, 'idx', index, MT.dockerList), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('PUT by a digest that does not match the bytes: 400 DIGEST_INVALID, nothing stored', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    const wrong = sha256('not the manifest');
    await expectError(await putManifest(srv.url, repo, wrong, image.bytes), 400, 'DIGEST_INVALID');
    await expectError(await get(repo, wrong), 404, 'MANIFEST_UNKNOWN');
    await expectError(await get(repo, image.digest), 404, 'MANIFEST_UNKNOWN');
  });

  test('PUT by a malformed digest: 400 DIGEST_INVALID', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    await expectError(await putManifest(srv.url, repo, 'sha256:totallywrong', image.bytes), 400, 'DIGEST_INVALID');
  });

  test('a manifest over 4 MiB: 413', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    const bytes = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } }));
    const res = await putManifest(srv.url, repo, 'huge', bytes);
    await expectError(res, 413);
    await expectError(await get(repo, 'huge'), 404, 'MANIFEST_UNKNOWN');
  });

  test('malformed JSON and non-objects: 400 MANIFEST_INVALID', async () => {
    const repo = repoName('merr');
    for (const body of ['{', '', 'null', '[]', '"x"', '42', '{"schemaVersion":2,}', '\u0000\u0001']) {
      const res = await putManifest(srv.url, repo, 'bad', Buffer.from(body));
      await expectError(res, 400, 'MANIFEST_INVALID');
    }
  });

  test('a wrong or missing schemaVersion: 400 MANIFEST_INVALID', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    for (const schemaVersion of [1, '2', 3, null, undefined]) {
      const m = { ...image.manifest, schemaVersion };
      await expectError(await putManifest(srv.url, repo, 'bad', m), 400, 'MANIFEST_INVALID');
    }
  });

  test('bad descriptors: 400 MANIFEST_INVALID', async () => {
    const repo = repoName('merr');
    const config = randomConfig();
    await pushBlob(srv.url, repo, config);
    const good = descriptorOf(MT.ociConfig, config);
    const bad: unknown[] = [
      { ...good, digest: 'sha256:nothex' },
      { ...good, digest: 'md5:d41d8cd98f00b204e9800998ecf8427e' },
      { ...good, digest: 42 },
      { ...good, size: -1 },
      { ...good, size: '12' },
      { ...good, size: 1.5 },
      { digest: good.digest, size: good.size },
      { ...good, mediaType: 7 },
      'a string',
      null,
      [good],
      { ...good, annotations: { a: 1 } },
      { ...good, data: 'bm90IHRoZSBjb25maWc=' },
    ];
    for (const config of bad) {
      const m = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [] };
      await expectError(await putManifest(srv.url, repo, 'bad', m), 400, 'MANIFEST_INVALID');
    }
    for (const layers of [{}, 'x', [null], [{ ...good, size: -5 }]]) {
      const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: good, layers };
      await expectError(await putManifest(srv.url, repo, 'bad', m), 400, 'MANIFEST_INVALID');
    }
    const noConfig = { schemaVersion: 2, mediaType: MT.ociManifest, layers: [] };
    await expectError(await putManifest(srv.url, repo, 'bad', noConfig), 400, 'MANIFEST_INVALID');
    const badIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest }] };
    await expectError(await putManifest(srv.url, repo, 'bad', badIndex, MT.ociIndex), 400, 'MANIFEST_INVALID');
    const noManifests = { schemaVersion: 2, mediaType: MT.ociIndex };
    await expectError(await putManifest(srv.url, repo, 'bad', noManifests, MT.ociIndex), 400, 'MANIFEST_INVALID');
    const badSubject = { schemaVersion: 2, mediaType: MT.ociManifest, config: good, layers: [], subject: { digest: 'x' } };
    await expectError(await putManifest(srv.url, repo, 'bad', badSubject), 400, 'MANIFEST_INVALID');
    await expectError(await get(repo, 'bad'), 404, 'MANIFEST_UNKNOWN');
  });

  test('an invalid tag in PUT: 400', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    for (const tag of ['.INVALID_MANIFEST_NAME', '-dash', 'a'.repeat(129), 'sp%20ace', 'x%2Fy']) {
      const res = await putManifest(srv.url, repo, tag, image.bytes);
      assert.equal(res.status, 400, `${tag}: ${res.status}`);
      const code = errorCode(Buffer.from(await res.arrayBuffer()));
      assert.ok(code && ['TAG_INVALID', 'MANIFEST_INVALID', 'NAME_INVALID'].includes(code), `${tag}: ${code}`);
    }
    // 128 characters is the longest valid tag.
    assert.equal((await putManifest(srv.url, repo, 'a'.repeat(128), image.bytes)).status, 201);
  });

  test('GET/HEAD by an invalid tag: 404 MANIFEST_UNKNOWN', async () => {
    const repo = repoName('merr');
    await pushImage(srv.url, repo, 'tagtest0');
    await expectError(await get(repo, '.INVALID_MANIFEST_NAME'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await get(repo, '.INVALID_MANIFEST_NAME', 'HEAD'), 404);
    await expectError(await get(repo, 'a'.repeat(200)), 404, 'MANIFEST_UNKNOWN');
  });

  test('GET by sha256:totallywrong: 400 DIGEST_INVALID (even with a stray body)', async () => {
    const repo = repoName('merr');
    await pushImage(srv.url, repo, 'x');
    await expectError(await get(repo, 'sha256:totallywrong'), 400, 'DIGEST_INVALID');
    const res = await rawOk(srv.url, `/v2/${repo}/manifests/sha256:totallywrong`, {
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': 9 },
      body: ['blablabla'],
    });
    assert.equal(res.status, 400);
    assert.equal(errorCode(res.body), 'DIGEST_INVALID');
  });

  test('GET/HEAD of unknown tags, digests and repositories: 404', async () => {
    const repo = repoName('merr');
    await pushImage(srv.url, repo, 'x');
    await expectError(await get(repo, 'nope'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await get(repo, sha256('hello world')), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await get(repo, 'nope', 'HEAD')).status, 404);
    const res = await get(repoName('ghost'), 'latest');
    assert.equal(res.status, 404);
    const code = errorCode(Buffer.from(await res.arrayBuffer()));
    assert.ok(code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN', code);
  });

  test('a blob digest is not a manifest', async () => {
    const repo = repoName('merr');
    const digest = await pushBlob(srv.url, repo, randomBlob(10));
    await expectError(await get(repo, digest), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest is accepted up to the 4 MiB limit only, even without Content-Length (chunked)', async () => {
    const repo = repoName('merr');
    const image = await prepareImage(srv.url, repo);
    const bytes = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'y'.repeat(4 * 1024 * 1024) } }));
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1 << 20) parts.push(bytes.subarray(i, i + (1 << 20)));
    const res = await rawOk(srv.url, `/v2/${repo}/manifests/chunked`, {
      method: 'PUT',
      headers: { 'Content-Type': MT.ociManifest, 'Transfer-Encoding': 'chunked' },
      body: parts,
    });
    assert.equal(res.status, 413);
    await expectError(await get(repo, 'chunked'), 404, 'MANIFEST_UNKNOWN');
  });
});

describe('manifest size limit from the config', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ manifests: { maxSize: 1024 } });
  });
  after(async () => {
    await srv.destroy();
  });

  test('manifests.maxSize is enforced: 413 above, 201 at the limit', async () => {
    const repo = repoName('limit');
    const image = await prepareImage(srv.url, repo);
    const sized = (n: number) => {
      const base = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: '' } })).length;
      return Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'z'.repeat(n - base) } }));
    };
    const over = sized(1025);
    assert.equal(over.length, 1025);
    await expectError(await putManifest(srv.url, repo, 'over', over), 413);
    const at = sized(1024);
    assert.equal(at.length, 1024);
    const res = await putManifest(srv.url, repo, 'at', at);
    assert.equal(res.status, 201);
    const back = await fetch(`${srv.url}/v2/${repo}/manifests/at`);
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(at));
  });
});
