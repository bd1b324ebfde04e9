/** Hostile and malformed requests: never a 500, never a crash, and stored content stays intact. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  abs,
  bin,
  errorCode,
  expectError,
  pushBlob,
  pushImage,
  randomBlob,
  raw,
  rawOk,
  repoName,
  sha256,
  startUpload,
  type Image,
} from '../helpers/oci.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bad input', () => {
  let srv: TestServer;
  let keepRepo: string;
  let keepBlob: Buffer;
  let keepDigest: string;
  let keepImage: Image;

  before(async () => {
    srv = await startTestServer();
    keepRepo = repoName('keep');
    keepBlob = randomBlob(500);
    keepDigest = await pushBlob(srv.url, keepRepo, keepBlob);
    keepImage = await pushImage(srv.url, keepRepo, 'stable');
  });
  after(async () => {
    await srv.destroy();
  });

  const start = (repo: string) => startUpload(srv.url, repo);
  const rangeOf = async (location: string) => {
    const res = await fetch(abs(srv.url, location));
    assert.equal(res.status, 204);
    return res.headers.get('range');
  };
  /** PATCH, retrying while an aborted request may still hold the session (409). */
  const patchWhenFree = async (location: string, data: Buffer, range?: string) => {
    for (let i = 0; ; i++) {
      const res = await fetch(abs(srv.url, location), {
        method: 'PATCH',
        headers: range ? { 'Content-Range': range } : {},
        body: bin(data),
      });
      if (res.status !== 409 || i >= 40) return res;
      await res.arrayBuffer();
      await sleep(50);
    }
  };

  test('bad repository names: 400 NAME_INVALID (or 404), never 500', async () => {
    const d = sha256('x');
    const names = ['Upper', 'a/B', 'a//b', '-a', 'a-', 'a__b_', '.a', 'a/.b', 'a'.repeat(256), `${'a/'.repeat(130)}a`];
    for (const name of names) {
      for (const [method, path] of [
        ['GET', `/v2/${name}/blobs/${d}`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['GET', `/v2/${name}/manifests/latest`],
        ['PUT', `/v2/${name}/manifests/latest`],
        ['GET', `/v2/${name}/tags/list`],
      ] as const) {
        const res = await rawOk(srv.url, path, { method, headers: { 'Content-Length': 0 } });
        assert.ok(res.status === 400 || res.status === 404, `${method} ${path}: ${res.status}`);
        if (res.status === 400) assert.equal(errorCode(res.body), 'NAME_INVALID', `${method} ${path}`);
      }
    }
    // 255 characters is still a valid name.
    const longest = 'a'.repeat(255);
    assert.equal((await fetch(`${srv.url}/v2/${longest}/blobs/uploads/`, { method: 'POST' })).status, 202);
  });

  test('path traversal is refused with 4xx and leaks nothing', async () => {
    const d = sha256('x');
    const paths = [
      `/v2/../../etc/passwd/blobs/${d}`,
      `/v2/a/../../../etc/blobs/${d}`,
      `/v2/%2e%2e/%2e%2e/etc/passwd/blobs/${d}`,
      `/v2/a/%2e%2e/b/manifests/latest`,
      `/v2/a/blobs/..%2f..%2f..%2fetc%2fpasswd`,
      `/v2/a/blobs/sha256:..%2f..%2fetc`,
      `/v2/a/blobs/uploads/..%2f..%2fmeta`,
      `/v2/a/blobs/uploads/../../../etc/passwd`,
      `/v2/a/manifests/..%2f..%2fetc%2fpasswd`,
      `/v2/a%2fb/tags/list`,
      `/v2/a%00b/tags/list`,
      `/v2/a/manifests/x%00y`,
      `/v2/a/referrers/..%2f..%2fetc`,
      `/v2/${keepRepo}/blobs/${keepDigest}/../../../../etc/passwd`,
    ];
    for (const path of paths) {
      for (const method of ['GET', 'HEAD', 'DELETE', 'PATCH', 'PUT']) {
        const res = await rawOk(srv.url, path, { method, headers: { 'Content-Length': 0 } });
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`);
        assert.ok(!res.body.toString().includes('root:'), `${method} ${path} leaks a file`);
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0', `${method} ${path}`);
      }
    }
  });

  test('malformed blob digests: 400 DIGEST_INVALID', async () => {
    const hex = sha256('x').slice(7);
    const bad = [
      `md5:d41d8cd98f00b204e9800998ecf8427e`,
      `sha256:${hex.slice(1)}`,
      `sha256:${hex}0`,
      `sha256:${hex.slice(1)}g`,
      `sha256:${hex.toUpperCase()}`,
      `sha512:${hex}`,
      `sha256:`,
      `sha256`,
      `:${hex}`,
      `SHA256:${hex}`,
    ];
    for (const digest of bad) {
      const path = `${srv.url}/v2/${keepRepo}/blobs/${digest}`;
      await expectError(await fetch(path), 400, 'DIGEST_INVALID');
      const head = await fetch(path, { method: 'HEAD' });
      assert.equal(head.status, 400, `HEAD ${digest}`);
      await expectError(await fetch(path, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
    }
  });

  test('malformed digests on upload: 400 DIGEST_INVALID', async () => {
    const repo = repoName('bad');
    for (const digest of ['', 'md5:abc', 'sha256:xyz', `sha256:${'A'.repeat(64)}`]) {
      const post = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bin('x') });
      await expectError(post, 400, 'DIGEST_INVALID');
      const location = await start(repo);
      const put = await fetch(abs(srv.url, `${location}?digest=${digest}`), { method: 'PUT', body: bin('x') });
      await expectError(put, 400, 'DIGEST_INVALID');
    }
  });

  test('a bad Content-Range: 400 or 416, and the session keeps its offset', async () => {
    const repo = repoName('bad');
    const location = await start(repo);
    const data = randomBlob(20);
    assert.equal((await patchWhenFree(location, data.subarray(0, 10), '0-9')).status, 202);
    for (const range of ['abc', '5-2', '10-', '-5', '10-9', 'bytes=x', '10-99999999999999999999999']) {
      const res = await patchWhenFree(location, data.subarray(10), range);
      assert.ok(res.status === 400 || res.status === 416, `${range}: ${res.status}`);
      assert.ok(errorCode(Buffer.from(await res.arrayBuffer())), `${range}: OCI error body`);
      assert.equal(await rangeOf(location), '0-9', `after ${range}`);
    }
    // A chunked body longer than its Content-Range.
    const longer = await rawOk(srv.url, location, {
      method: 'PATCH',
      headers: { 'Transfer-Encoding': 'chunked', 'Content-Range': '10-14' },
      body: [data.subarray(10, 15), data.subarray(15)],
    });
    assert.ok(longer.status === 400 || longer.status === 416, `longer body: ${longer.status}`);
    assert.equal(await rangeOf(location), '0-9');
    // A Content-Range that disagrees with the body length.
    const lie = await patchWhenFree(location, data.subarray(10), '10-29');
    assert.ok(lie.status === 400 || lie.status === 416, `length mismatch: ${lie.status}`);
    assert.equal(await rangeOf(location), '0-9');
    const ok = await patchWhenFree(location, data.subarray(10), '10-19');
    assert.equal(ok.status, 202);
    const put = await fetch(abs(srv.url, `${location}?digest=${sha256(data)}`), { method: 'PUT' });
    assert.equal(put.status, 201);
  });

  test('a body cut off mid-upload (Content-Length lies): server up, session usable, offset unchanged', async () => {
    const repo = repoName('bad');
    const data = randomBlob(4000);
    const location = await start(repo);
    assert.equal((await patchWhenFree(location, data.subarray(0, 1000))).status, 202);
    assert.equal(await rangeOf(location), '0-999');

    // Streamed PATCH announcing 100000 bytes, sending 1500, then the socket goes away.
    const cut = await raw(srv.url, location, {
      method: 'PATCH',
      headers: { 'Content-Length': 100000, 'Content-Type': 'application/octet-stream' },
      body: [data.subarray(1000, 2000), data.subarray(2000, 2500)],
      cut: true,
    });
    assert.equal(cut, 'cut');
    // The same with a Content-Range, and with chunked transfer-encoding.
    await raw(srv.url, location, {
      method: 'PATCH',
      headers: { 'Content-Length': 3000, 'Content-Range': '1000-3999' },
      body: [data.subarray(1000, 1700)],
      cut: true,
    });
    await raw(srv.url, location, {
      method: 'PATCH',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: [data.subarray(1000, 1300), data.subarray(1300, 1600)],
      cut: true,
    });
    await sleep(100);

    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
    assert.equal(await rangeOf(location), '0-999');
    const next = await patchWhenFree(location, data.subarray(1000), '1000-3999');
    assert.equal(next.status, 202, await next.clone().text());
    assert.equal(next.headers.get('range'), '0-3999');
    const put = await fetch(abs(srv.url, `${location}?digest=${sha256(data)}`), { method: 'PUT' });
    assert.equal(put.status, 201);
    const get = await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(data)}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(data));
  });

  test('a cut-off closing PUT leaves the session usable', async () => {
    const repo = repoName('bad');
    const data = randomBlob(3000);
    const location = await start(repo);
    assert.equal((await patchWhenFree(location, data.subarray(0, 1000))).status, 202);
    await raw(srv.url, `${location}?digest=${sha256(data)}`, {
      method: 'PUT',
      headers: { 'Content-Length': 2000 },
      body: [data.subarray(1000, 1500)],
      cut: true,
    });
    await sleep(100);
    assert.equal(await rangeOf(location), '0-999');
    await expectError(await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(data)}`), 404, 'BLOB_UNKNOWN');
    let put: Response;
    for (let i = 0; ; i++) {
      put = await fetch(abs(srv.url, `${location}?digest=${sha256(data)}`), { method: 'PUT', body: bin(data.subarray(1000)) });
      if (put.status !== 409 || i > 40) break;
      await sleep(50);
    }
    assert.equal(put.status, 201);
  });

  test('cut-off single-request uploads and manifest PUTs store nothing', async () => {
    const repo = repoName('bad');
    const data = randomBlob(2000);
    await raw(srv.url, `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      headers: { 'Content-Length': 2000 },
      body: [data.subarray(0, 700)],
      cut: true,
    });
    await raw(srv.url, `/v2/${keepRepo}/manifests/cut`, {
      method: 'PUT',
      headers: { 'Content-Length': keepImage.bytes.length, 'Content-Type': keepImage.manifest.mediaType as string },
      body: [keepImage.bytes.subarray(0, 50)],
      cut: true,
    });
    await sleep(100);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(data)}`)).status, 404);
    assert.equal((await fetch(`${srv.url}/v2/${keepRepo}/manifests/cut`)).status, 404);
  });

  test('a single-request POST carrying only part of the blob: 400 DIGEST_INVALID, nothing stored', async () => {
    const repo = repoName('bad');
    const data = randomBlob(100);
    const res = await raw(srv.url, `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      headers: { 'Content-Length': 50, 'Content-Type': 'application/octet-stream' },
      body: [data.subarray(0, 50)],
    });
    assert.notEqual(res, 'cut');
    if (res !== 'cut') {
      assert.equal(res.status, 400);
      assert.equal(errorCode(res.body), 'DIGEST_INVALID');
    }
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(data)}`)).status, 404);
  });

  test('an unknown method on a known route: 405', async () => {
    const repo = keepRepo;
    const cases: [string, string][] = [
      ['PATCH', `/v2/${repo}/blobs/${keepDigest}`],
      ['PUT', `/v2/${repo}/blobs/${keepDigest}`],
      ['POST', `/v2/${repo}/manifests/stable`],
      ['PATCH', `/v2/${repo}/manifests/stable`],
      ['POST', `/v2/${repo}/tags/list`],
      ['DELETE', `/v2/${repo}/tags/list`],
      ['PUT', `/v2/_catalog`],
      ['DELETE', `/v2/`],
      ['POST', `/v2/${repo}/referrers/${keepImage.digest}`],
    ];
    for (const [method, path] of cases) {
      const res = await rawOk(srv.url, path, { method, headers: { 'Content-Length': 0 } });
      assert.equal(res.status, 405, `${method} ${path}: ${res.status} ${res.body}`);
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.equal(errorCode(res.body), 'UNSUPPORTED', `${method} ${path}`);
    }
    // Methods no route knows: a wrong method where a route is, no route elsewhere; never Koa's text/plain 501.
    for (const method of ['PROPFIND', 'TRACE']) {
      const weird = await rawOk(srv.url, `/v2/${repo}/manifests/stable`, { method });
      assert.equal(weird.status, 405, `${method}: ${weird.status} ${weird.body}`);
      assert.equal(errorCode(weird.body), 'UNSUPPORTED');
      assert.match(String(weird.headers.allow), /GET/);
      const nowhere = await rawOk(srv.url, '/nowhere', { method });
      assert.equal(nowhere.status, 404, `${method} /nowhere: ${nowhere.status}`);
      assert.equal(errorCode(nowhere.body), 'NOT_FOUND');
    }
  });

  test('requests the HTTP parser refuses get the OCI envelope too (HEAD without a body)', async () => {
    const long = `/v2/${keepRepo}/blobs/sha256:${'0'.repeat(20_000)}`;
    const get = await rawOk(srv.url, long);
    assert.equal(get.status, 431);
    assert.equal(get.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(errorCode(get.body), 'BAD_REQUEST', get.body.toString());
    const head = await rawOk(srv.url, long, { method: 'HEAD' });
    assert.equal(head.status, 431);
    assert.equal(head.body.length, 0);
    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
  });

  test('repository names containing route words work', async () => {
    for (const repo of ['x/blobs', 'x/manifests', 'x/tags', 'x/uploads', 'blobs/uploads', 'v2', 'x/referrers']) {
      const data = randomBlob(12);
      const digest = await pushBlob(srv.url, repo, data);
      const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(blob.status, 200, repo);
      assert.ok(Buffer.from(await blob.arrayBuffer()).equals(data), repo);
      const image = await pushImage(srv.url, repo, 'latest');
      const man = await fetch(`${srv.url}/v2/${repo}/manifests/latest`);
      assert.equal(man.status, 200, repo);
      assert.equal(man.headers.get('docker-content-digest'), image.digest, repo);
      const tags = await fetch(`${srv.url}/v2/${repo}/tags/list`);
      assert.equal(tags.status, 200, repo);
      assert.deepEqual(((await tags.json()) as { name: string; tags: string[] }).tags, ['latest'], repo);
    }
  });

  test('after all of it: the server answers and stored content is intact', async () => {
    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
    const blob = await fetch(`${srv.url}/v2/${keepRepo}/blobs/${keepDigest}`);
    assert.equal(blob.status, 200);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), keepDigest);
    const man = await fetch(`${srv.url}/v2/${keepRepo}/manifests/stable`);
    assert.equal(man.status, 200);
    assert.equal(sha256(Buffer.from(await man.arrayBuffer())), keepImage.digest);
    for (const b of [keepImage.config, ...keepImage.layers]) {
      const res = await fetch(`${srv.url}/v2/${keepRepo}/blobs/${sha256(b)}`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(b));
    }
  });
});
