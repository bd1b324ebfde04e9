/** Manifest PUT/GET/HEAD: exact bytes, media types, digests, every accepted manifest kind. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  buildImage,
  buildIndex,
  descriptorOf,
  prepareImage,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  randomConfig,
  repoName,
  sha256,
  sha512,
} from '../helpers/oci.js';

describe('manifests', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });

  /** GET and HEAD `ref` and check exact bytes, Content-Type, Content-Length and digest. */
  async function expectManifest(repo: string, ref: string, bytes: Buffer, mediaType: string, digest = sha256(bytes)) {
    const get = await fetch(`${srv.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: mediaType } });
    assert.equal(get.status, 200, `GET ${ref}`);
    assert.equal(get.headers.get('content-type'), mediaType);
    assert.equal(get.headers.get('content-length'), String(bytes.length));
    assert.equal(get.headers.get('docker-content-digest'), digest);
    const body = Buffer.from(await get.arrayBuffer());
    assert.ok(body.equals(bytes), `GET ${ref} returns the exact bytes pushed`);

    const head = await fetch(`${srv.url}/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: mediaType } });
    assert.equal(head.status, 200, `HEAD ${ref}`);
    assert.equal(head.headers.get('content-type'), mediaType);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  }

  test('PUT by tag: 201, Location, Docker-Content-Digest of the exact bytes; GET/HEAD by tag and digest', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    const res = await putManifest(srv.url, repo, 'v1', image.bytes);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    const location = new URL(res.headers.get('location')!, srv.url);
    assert.equal(location.pathname, `/v2/${repo}/manifests/${image.digest}`);
    await expectManifest(repo, 'v1', image.bytes, MT.ociManifest);
    await expectManifest(repo, image.digest, image.bytes, MT.ociManifest);
  });

  test('PUT by digest: 201 with Location and Docker-Content-Digest', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    const res = await putManifest(srv.url, repo, image.digest, image.bytes);
    assert.equal(res.status, 201);
    assert.ok(res.headers.get('location'));
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    await expectManifest(repo, image.digest, image.bytes, MT.ociManifest);
  });

  test('odd whitespace, key order and unknown fields are kept byte for byte', async () => {
    const repo = repoName('man');
    const config = randomConfig();
    const layer = randomBlob(200);
    await pushBlob(srv.url, repo, config);
    await pushBlob(srv.url, repo, layer);
    const odd =
      `{\n   "schemaVersion" :2,"zzUnknown": {"nested": [1, 2.50, "x"]},\n\t"config": {"size": ${config.length},` +
      ` "digest": "${sha256(config)}", "mediaType": "${MT.ociConfig}", "newUnspecifiedField": "aGVsbG8gd29ybGQ=",` +
      ` "data": "${config.toString('base64')}"},\r\n "layers": [ {"newUnspecifiedField": null, "mediaType": "${MT.ociLayer}",` +
      `"size":${layer.length},"digest":"${sha256(layer)}"} ],  "mediaType":"${MT.ociManifest}" ,"annotations":{"é":"ü ☃"} }\n\n`;
    const bytes = Buffer.from(odd);
    const digest = await pushManifest(srv.url, repo, 'odd', bytes);
    await expectManifest(repo, 'odd', bytes, MT.ociManifest);
    await expectManifest(repo, digest, bytes, MT.ociManifest);
  });

  test('a manifest without a mediaType field is served with the Content-Type it was pushed with', async () => {
    const repo = repoName('man');
    const config = randomConfig();
    await pushBlob(srv.url, repo, config);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, config: descriptorOf(MT.ociConfig, config), layers: [] }, null, '\t'));
    const res = await putManifest(srv.url, repo, 'emptylayer', bytes, MT.ociManifest);
    assert.equal(res.status, 201);
    assert.ok(res.headers.get('location'));
    await expectManifest(repo, 'emptylayer', bytes, MT.ociManifest);
  });

  test('descriptors with embedded data, and an empty layers list', async () => {
    const repo = repoName('man');
    const config = randomConfig();
    await pushBlob(srv.url, repo, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: descriptorOf(MT.ociConfig, config, { data: config.toString('base64') }),
      layers: [],
    };
    const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
    await pushManifest(srv.url, repo, 'data', bytes);
    await expectManifest(repo, 'data', bytes, MT.ociManifest);
  });

  test('an OCI index whose children were pushed by digest first', async () => {
    const repo = repoName('man');
    const amd = await pushImage(srv.url, repo);
    const arm = await pushImage(srv.url, repo);
    const bytes = buildIndex([
      { ...amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm.descriptor, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ]);
    const digest = await pushManifest(srv.url, repo, 'multi', bytes, MT.ociIndex);
    await expectManifest(repo, 'multi', bytes, MT.ociIndex);
    await expectManifest(repo, digest, bytes, MT.ociIndex);
    await expectManifest(repo, amd.digest, amd.bytes, MT.ociManifest);
  });

  test('a Docker schema-2 manifest and manifest list', async () => {
    const repo = repoName('man');
    const a = await pushImage(srv.url, repo, undefined, { docker: true, layers: 2 });
    await expectManifest(repo, a.digest, a.bytes, MT.dockerManifest);
    const b = await pushImage(srv.url, repo, 'single', { docker: true });
    await expectManifest(repo, 'single', b.bytes, MT.dockerManifest);
    const list = buildIndex(
      [
        { ...a.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
        { ...b.descriptor, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
      ],
      {},
      MT.dockerList,
    );
    await pushManifest(srv.url, repo, 'list', list, MT.dockerList);
    await expectManifest(repo, 'list', list, MT.dockerList);
  });

  test('an artifact with artifactType and the empty config', async () => {
    const repo = repoName('man');
    await pushBlob(srv.url, repo, EMPTY_JSON);
    const payload = randomBlob(77);
    await pushBlob(srv.url, repo, payload);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: 'application/vnd.example.sbom.v1',
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2, data: 'e30=' },
      layers: [descriptorOf('application/vnd.example.sbom.v1+json', payload)],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    await pushManifest(srv.url, repo, 'sbom', bytes);
    await expectManifest(repo, 'sbom', bytes, MT.ociManifest);
  });

  test('a tag may move to another manifest of another media type', async () => {
    const repo = repoName('man');
    const oci = await pushImage(srv.url, repo, 'moving');
    await expectManifest(repo, 'moving', oci.bytes, MT.ociManifest);
    const docker = await pushImage(srv.url, repo, 'moving', { docker: true });
    await expectManifest(repo, 'moving', docker.bytes, MT.dockerManifest);
    const index = buildIndex([oci.descriptor]);
    await pushManifest(srv.url, repo, 'moving', index, MT.ociIndex);
    await expectManifest(repo, 'moving', index, MT.ociIndex);
    // The earlier manifests stay reachable by digest.
    await expectManifest(repo, oci.digest, oci.bytes, MT.ociManifest);
    await expectManifest(repo, docker.digest, docker.bytes, MT.dockerManifest);
  });

  test('the same bytes pushed under several tags, and re-pushed: 201 each time', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    for (const tag of ['test0', 'test1', 'test2', 'test3', 'test0']) {
      const res = await putManifest(srv.url, repo, tag, image.bytes);
      assert.equal(res.status, 201, tag);
      assert.ok(res.headers.get('location'));
    }
    const list = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(list.tags, ['test0', 'test1', 'test2', 'test3']);
    await expectManifest(repo, 'test3', image.bytes, MT.ociManifest);
  });

  test('a narrow Accept header still gets what is stored', async () => {
    const repo = repoName('man');
    const image = await pushImage(srv.url, repo, 'acc');
    const res = await fetch(`${srv.url}/v2/${repo}/manifests/acc`, { headers: { Accept: MT.dockerManifest } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MT.ociManifest);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(image.bytes));
  });

  test('Content-Type parameters are ignored', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    const res = await putManifest(srv.url, repo, 'params', image.bytes, `${MT.ociManifest}; charset=utf-8`);
    assert.equal(res.status, 201);
    const get = await fetch(`${srv.url}/v2/${repo}/manifests/params`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-type')?.split(';')[0], MT.ociManifest);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(image.bytes));
  });

  test('a manifest PUT and fetched by its sha512 digest', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    const digest = sha512(image.bytes);
    const res = await putManifest(srv.url, repo, digest, image.bytes);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(new URL(res.headers.get('location')!, srv.url).pathname, `/v2/${repo}/manifests/${digest}`);
    await expectManifest(repo, digest, image.bytes, MT.ociManifest, digest);
  });

  test('manifests of sha512 blobs', async () => {
    const repo = repoName('man');
    const config = randomConfig();
    const post = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${sha512(config)}`, {
      method: 'POST',
      body: new Uint8Array(config),
    });
    assert.equal(post.status, 201);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: sha512(config), size: config.length },
        layers: [],
      }),
    );
    await pushManifest(srv.url, repo, 'sha512cfg', bytes);
    await expectManifest(repo, 'sha512cfg', bytes, MT.ociManifest);
  });

  test('a manifest of 4 MiB minus a little is accepted', async () => {
    const repo = repoName('man');
    const image = await prepareImage(srv.url, repo);
    const base = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: '' } }));
    const pad = 4 * 1024 * 1024 - base.length;
    const bytes = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'x'.repeat(pad) } }));
    assert.equal(bytes.length, 4 * 1024 * 1024);
    await pushManifest(srv.url, repo, 'big', bytes);
    await expectManifest(repo, 'big', bytes, MT.ociManifest);
  });

  test('the built helpers agree with the server on digests (sanity)', async () => {
    const image = buildImage(EMPTY_JSON, []);
    assert.equal(image.digest, sha256(image.bytes));
  });

  test('a manifest pushed to repo a is not visible in repo b', async () => {
    const a = repoName('man');
    const b = repoName('man');
    const image = await pushImage(srv.url, a, 'v1');
    await pushImage(srv.url, b, 'v1');
    // Warm any cache in a, then look through b.
    assert.equal((await fetch(`${srv.url}/v2/${a}/manifests/${image.digest}`)).status, 200);
    const res = await fetch(`${srv.url}/v2/${b}/manifests/${image.digest}`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_UNKNOWN');
    const tag = await fetch(`${srv.url}/v2/${b}/manifests/v1`);
    assert.notEqual(tag.headers.get('docker-content-digest'), image.digest);
    await tag.arrayBuffer();
  });
});
