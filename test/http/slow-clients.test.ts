/**
 * Slow and stalled clients: a body that stops arriving is cut off after the
 * idle timeout (and an upload session it was writing is usable again), a body
 * that keeps arriving slowly is not, a request head that never completes gets
 * 408, and connections beyond http.maxConnections are refused with 503.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { abs, bin, expectError, prepareImage, randomBlob, repoName, sha256, startUpload, withQuery } from '../helpers/oci.js';
import { openRaw, sendHead, type RawConnection } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestPKI, tlsServerConfig, type TestPKI } from '../helpers/tls.js';
import { gateFor, removeScratch } from '../helpers/tools.js';
import { request as httpsRequest, type Agent } from 'node:https';

const tlsGate = await gateFor(['openssl']);

function tlsStatus(url: string, agent: Agent): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Far longer than the test timeouts below: the bound on how long a test waits for the server to act. */
const WAIT = 5_000;

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe('slow and stalled clients', () => {
  let srv: TestServer;
  const open: RawConnection[] = [];
  before(async () => {
    srv = await startTestServer({ http: { bodyIdleTimeout: '300ms', headersTimeout: '300ms', maxConnections: 1000 } });
  });
  after(async () => {
    for (const c of open) c.end();
    await srv.destroy();
  });
  const raw = async () => {
    const c = await openRaw(srv.url);
    open.push(c);
    return c;
  };
  /** A PATCH of `data` at `range` to the session at `location` that sends its head and first 100 bytes, then stalls. */
  const stalledPatch = async (location: string, data: Buffer, range: string) => {
    const conn = await raw();
    const url = new URL(abs(srv.url, location));
    sendHead(conn, 'PATCH', url.pathname + url.search, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length, 'Content-Range': range }, data.subarray(0, 100));
    return conn;
  };

  test('a PATCH whose body stalls is cut off, and the session takes the retry at the same Location', async () => {
    const repo = repoName('stall');
    const location = await startUpload(srv.url, repo);
    const first = randomBlob(1000);
    const res = await fetch(abs(srv.url, location), { method: 'PATCH', headers: { 'Content-Range': '0-999' }, body: bin(first) });
    assert.equal(res.status, 202);

    const second = randomBlob(5000);
    const conn = await stalledPatch(location, second, '1000-5999');
    const answer = await conn.closed(WAIT);
    assert.equal(answer, '', 'a stalled request is not answered, its connection is closed');

    // The cut-off chunk is gone: the session still stands at 1000 and takes the whole chunk again.
    const status = await fetch(abs(srv.url, location));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-999');
    const retry = await fetch(abs(srv.url, location), { method: 'PATCH', headers: { 'Content-Range': '1000-5999' }, body: bin(second) });
    assert.equal(retry.status, 202, await retry.text());
    const blob = Buffer.concat([first, second]);
    const done = await fetch(abs(srv.url, withQuery(location, { digest: sha256(blob) })), { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    const get = await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(blob)}`);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob));
  });

  test('a retry sent while a stalled PATCH still holds the session waits for it to be cut off, and is taken', async () => {
    const repo = repoName('stall');
    const location = await startUpload(srv.url, repo);
    const data = randomBlob(5000);
    const conn = await stalledPatch(location, data, '0-4999');
    // The stalled PATCH is writing to the session now; the server cuts it off after 300 ms without data.
    await sleep(100);
    const retry = await fetch(abs(srv.url, location), { method: 'PATCH', headers: { 'Content-Range': '0-4999' }, body: bin(data) });
    assert.equal(retry.status, 202, await retry.text());
    assert.equal(retry.headers.get('range'), '0-4999');
    assert.equal(await conn.closed(WAIT), '', 'the stalled request was cut off, not answered');
    const done = await fetch(abs(srv.url, withQuery(location, { digest: sha256(data) })), { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
  });

  test('a manifest PUT whose body stalls is cut off; the retry is stored', async () => {
    const repo = repoName('stall');
    const image = await prepareImage(srv.url, repo);
    const conn = await raw();
    sendHead(conn, 'PUT', `/v2/${repo}/manifests/v1`, { 'Content-Type': image.manifest.mediaType as string, 'Content-Length': image.bytes.length }, image.bytes.subarray(0, 10));
    assert.equal(await conn.closed(WAIT), '');
    const missing = await fetch(`${srv.url}/v2/${repo}/manifests/v1`);
    await expectError(missing, 404, 'MANIFEST_UNKNOWN');
    const put = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': image.manifest.mediaType as string },
      body: bin(image.bytes),
    });
    assert.equal(put.status, 201, await put.text());
  });

  test('a body that keeps arriving slowly lives longer than the idle timeout', async () => {
    const repo = repoName('slow');
    const location = await startUpload(srv.url, repo);
    const data = randomBlob(1000);
    const conn = await raw();
    const url = new URL(abs(srv.url, location));
    sendHead(conn, 'PATCH', url.pathname + url.search, { 'Content-Type': 'application/octet-stream', 'Content-Length': 1000 });
    // 10 pieces, 100 ms apart: a second in all, never idle for the 300 ms timeout.
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      conn.socket.write(data.subarray(i * 100, (i + 1) * 100));
    }
    const answer = await conn.answered(WAIT, '\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 202 /, answer);
    assert.match(answer, /\r\nrange: 0-999\r\n/i);
  });

  test('a request head that never completes gets 408 and the connection is closed', async () => {
    const conn = await raw();
    conn.socket.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\n`);
    const answer = await conn.closed(WAIT);
    assert.match(answer, /^HTTP\/1\.1 408 /, answer);
  });
});

describe('the connection cap', () => {
  let srv: TestServer;
  const open: RawConnection[] = [];
  before(async () => {
    srv = await startTestServer({ http: { maxConnections: 3 } });
  });
  after(async () => {
    for (const c of open) c.end();
    await srv.destroy();
  });

  test('connections beyond http.maxConnections get 503 TOOMANYREQUESTS with Retry-After; freed ones serve again', async () => {
    for (let i = 0; i < 3; i++) open.push(await openRaw(srv.url));
    const refused = await fetch(`${srv.url}/v2/`);
    assert.equal(refused.headers.get('retry-after'), '1');
    await expectError(refused, 503, 'TOOMANYREQUESTS');
    for (const c of open) c.end();
    // The server sees the closes shortly after; until then it may still refuse.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      if (i > 0) await sleep(20);
      status = (await fetch(`${srv.url}/v2/`, { headers: { Connection: 'close' } })).status;
    }
    assert.equal(status, 200);
  });
});

describe('the connection cap under TLS', () => {
  let pki: TestPKI | undefined;
  let srv: TestServer | undefined;
  const open: RawConnection[] = [];
  before(async () => {
    if (tlsGate.blocked) return;
    pki = await makeTestPKI();
    srv = await startTestServer({ http: { ...tlsServerConfig(pki), maxConnections: 2 } });
  });
  after(async () => {
    for (const c of open) c.end();
    await srv?.destroy();
    pki?.agent.destroy();
    await removeScratch(pki?.dir);
  });

  test('connections still in (or before) their handshake count; the next one is answered 503 over TLS', async (t) => {
    if (!tlsGate.check(t)) return;
    for (let i = 0; i < 2; i++) open.push(await openRaw(srv!.url.replace('https:', 'http:')));
    const refused = await tlsStatus(`${srv!.url}/v2/`, pki!.agent);
    assert.equal(refused.status, 503, refused.body);
    assert.equal(refused.retryAfter, '1');
    assert.equal((JSON.parse(refused.body) as { errors: { code: string }[] }).errors[0]!.code, 'TOOMANYREQUESTS');
    for (const c of open) c.end();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      if (i > 0) await sleep(20);
      status = (await tlsStatus(`${srv!.url}/v2/`, pki!.agent)).status;
    }
    assert.equal(status, 200);
  });
});
