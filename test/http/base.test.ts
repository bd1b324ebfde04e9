/** The API base: `GET /v2/`, the version header on every response, and the error envelope. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectError, pushBlob, randomBlob, rawOk, repoName, sha256 } from '../helpers/oci.js';

const API = 'docker-distribution-api-version';

describe('base API', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.destroy();
  });

  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await fetch(`${srv.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get(API), 'registry/2.0');
    await res.arrayBuffer();
  });

  test('HEAD /v2/ answers 200 with the API version header', async () => {
    const res = await fetch(`${srv.url}/v2/`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get(API), 'registry/2.0');
  });

  test('GET /v2 (no trailing slash) is not a 500', async () => {
    const res = await fetch(`${srv.url}/v2`, { redirect: 'manual' });
    assert.ok(res.status < 500, `status ${res.status}`);
    await res.arrayBuffer();
  });

  test('an unknown route under /v2/ is a 404 with the version header and a JSON error body', async () => {
    for (const path of ['/v2/nothing/here/at/all', '/v2/foo/bar', '/v2/x/blobs/uploads/a/b/c/extra?']) {
      const res = await fetch(`${srv.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get(API), 'registry/2.0', path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, path);
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      assert.ok(Array.isArray(body.errors) && body.errors.length >= 1, path);
      assert.equal(typeof body.errors[0]!.code, 'string');
      assert.equal(typeof body.errors[0]!.message, 'string');
    }
  });

  test('error responses carry the version header and the OCI envelope', async () => {
    const repo = repoName();
    const missing = sha256('nothing here');
    await expectError(await fetch(`${srv.url}/v2/${repo}/blobs/${missing}`), 404, 'BLOB_UNKNOWN');
    await expectError(await fetch(`${srv.url}/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(`${srv.url}/v2/${repo}/tags/list`), 404, 'NAME_UNKNOWN');
    await expectError(await fetch(`${srv.url}/v2/${repo}/blobs/sha256:zz`), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${srv.url}/v2/UPPER/blobs/${missing}`), 400, 'NAME_INVALID');
  });

  test('HEAD errors carry the version header and no body', async () => {
    const res = await fetch(`${srv.url}/v2/${repoName()}/blobs/${sha256('nope')}`, { method: 'HEAD' });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get(API), 'registry/2.0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('successful responses of every kind carry the version header', async () => {
    const repo = repoName();
    const blob = randomBlob(10);
    const digest = await pushBlob(srv.url, repo, blob);
    const checks: [string, RequestInit][] = [
      [`/v2/${repo}/blobs/${digest}`, {}],
      [`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' }],
      [`/v2/${repo}/blobs/uploads/`, { method: 'POST' }],
      [`/v2/_catalog`, {}],
    ];
    for (const [path, init] of checks) {
      const res = await fetch(`${srv.url}${path}`, init);
      assert.ok(res.status < 300, `${path}: ${res.status}`);
      assert.equal(res.headers.get(API), 'registry/2.0', path);
      await res.arrayBuffer();
    }
  });

  test('paths outside /v2/ also answer without crashing', async () => {
    const res = await rawOk(srv.url, '/');
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    const res2 = await rawOk(srv.url, '/v3/');
    assert.ok(res2.status >= 400 && res2.status < 500, `status ${res2.status}`);
  });
});
