/**
 * Basic mode over real HTTP: challenges, rights from the access rules, 401 vs
 * 403, no existence leaks, catalog filtering, mounts, the failed-login limit,
 * htpasswd files and the logs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { HASH, PASSWORD, basic, captureLogs, postBlob, pushImageAs, startUpload, type LogCapture } from '../helpers/auth-http.js';
import { expectError, randomBlob, repoName, sha256 } from '../helpers/oci.js';
import { makeRoot, startTestServer, type TestServer } from '../helpers/server.js';

const ACCESS: AccessRule[] = [
  { repository: 'public/**', grants: { anonymous: ['pull'], authenticated: ['pull', 'push'] } },
  { repository: 'team/*', grants: { 'group:devs': ['pull', 'push', 'delete'], alice: ['pull'] } },
  { repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog'], bob: ['pull', 'catalog'] } },
];

/** A one-component name under team/ (team/* matches one level only). */
const teamRepo = (prefix: string) => `team/${repoName(prefix).replace('/', '-')}`;

/** The error code of a response, leaving out details that name the request's own repository. */
async function codeOf(res: Response): Promise<[number, string | undefined, string | null]> {
  const body = (await res.json()) as { errors: { code: string }[] };
  return [res.status, body.errors[0]?.code, res.headers.get('www-authenticate')];
}

describe('auth: basic mode', () => {
  let srv: TestServer;
  let logs: LogCapture;
  let privateRepo: string;
  before(async () => {
    logs = captureLogs();
    srv = await startTestServer(
      { auth: { mode: 'basic', users: { alice: HASH, bob: HASH, carol: HASH }, groups: { devs: ['carol'] }, access: ACCESS, failedLogins: { limit: 50, window: '1m' } } },
      undefined,
      logs.logger,
    );
    privateRepo = repoName('private');
    await pushImageAs(srv.url, privateRepo, 'v1', basic('alice'));
  });
  after(async () => {
    await srv.destroy();
  });

  test('GET /v2/ without credentials: 401 UNAUTHORIZED with a Basic challenge and the API version header', async () => {
    const res = await fetch(`${srv.url}/v2/`);
    await expectError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="unireg"');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('GET /v2/ with good credentials: 200; with a wrong password: 401', async () => {
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice') } })).status, 200);
    const bad = await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('bob', 'wrong') } });
    await expectError(bad, 401, 'UNAUTHORIZED');
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  test('an unknown user and a wrong password get the same answer', async () => {
    const unknown = await fetch(`${srv.url}/v2/${privateRepo}/tags/list`, { headers: { Authorization: basic('nobody') } });
    const wrong = await fetch(`${srv.url}/v2/${privateRepo}/tags/list`, { headers: { Authorization: basic('alice', 'nope') } });
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.deepEqual(await unknown.json(), await wrong.json());
  });

  test('alice pulls the private repository; anonymous gets 401 and bob 403 on writes', async () => {
    const ok = await fetch(`${srv.url}/v2/${privateRepo}/tags/list`, { headers: { Authorization: basic('alice') } });
    assert.equal(ok.status, 200);
    assert.deepEqual((await ok.json()).tags, ['v1']);
    await expectError(await fetch(`${srv.url}/v2/${privateRepo}/tags/list`), 401, 'UNAUTHORIZED');
    // bob may pull, not push or delete.
    assert.equal((await fetch(`${srv.url}/v2/${privateRepo}/manifests/v1`, { headers: { Authorization: basic('bob') } })).status, 200);
    await expectError(await postBlob(srv.url, privateRepo, randomBlob(10), basic('bob')), 403, 'DENIED');
    await expectError(
      await fetch(`${srv.url}/v2/${privateRepo}/manifests/v1`, { method: 'DELETE', headers: { Authorization: basic('bob') } }),
      403,
      'DENIED',
    );
    assert.equal((await fetch(`${srv.url}/v2/${privateRepo}/manifests/v1`, { headers: { Authorization: basic('alice') } })).status, 200, 'still there');
  });

  test('a refusal does not tell whether a private repository exists', async () => {
    const missing = repoName('never-pushed');
    for (const path of ['tags/list', 'manifests/v1']) {
      const a = await fetch(`${srv.url}/v2/${privateRepo}/${path}`);
      const b = await fetch(`${srv.url}/v2/${missing}/${path}`);
      assert.equal(a.status, 401);
      assert.deepEqual(await codeOf(a), await codeOf(b));
    }
    const carolExisting = await fetch(`${srv.url}/v2/${privateRepo}/tags/list`, { headers: { Authorization: basic('carol') } });
    const carolMissing = await fetch(`${srv.url}/v2/${missing}/tags/list`, { headers: { Authorization: basic('carol') } });
    assert.equal(carolExisting.status, 403);
    assert.deepEqual(await codeOf(carolExisting), await codeOf(carolMissing));
  });

  test('public/**: anonymous pulls, anonymous push is refused with 401, any user may push', async () => {
    const repo = `public/${repoName('app')}`;
    const image = await pushImageAs(srv.url, repo, 'v1', basic('bob'));
    const pulled = await fetch(`${srv.url}/v2/${repo}/manifests/v1`);
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(image.config)}`)).status, 200);
    const push = await postBlob(srv.url, repo, randomBlob(10));
    await expectError(push, 401, 'UNAUTHORIZED');
    assert.equal(push.headers.get('www-authenticate'), 'Basic realm="unireg"');
  });

  test('groups: carol (group:devs) pushes and deletes under team/*, and only one level deep', async () => {
    const repo = teamRepo('svc');
    const image = await pushImageAs(srv.url, repo, 'v1', basic('carol'));
    const del = await fetch(`${srv.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE', headers: { Authorization: basic('carol') } });
    assert.equal(del.status, 202);
    // team/a/b is not matched by team/* but by **, where carol has nothing.
    await expectError(await postBlob(srv.url, `team/x/${repoName('deep')}`, randomBlob(10), basic('carol')), 403, 'DENIED');
  });

  test('the catalog needs the catalog right and lists only what the caller may pull', async () => {
    const publicRepo = `public/${repoName('listed')}`;
    await pushImageAs(srv.url, publicRepo, 'v1', basic('alice'));
    await pushImageAs(srv.url, teamRepo('hidden'), 'v1', basic('carol'));
    // The most specific rule decides: on team/* alice may pull but no longer push, although ** lets her.
    await expectError(await postBlob(srv.url, teamRepo('other'), randomBlob(10), basic('alice')), 403, 'DENIED');
    const all = (await (await fetch(`${srv.url}/v2/_catalog`, { headers: { Authorization: basic('alice') } })).json()) as { repositories: string[] };
    assert.ok(all.repositories.includes(privateRepo));
    assert.ok(all.repositories.includes(publicRepo));
    // bob: catalog right, pull on ** and public/** but nothing on team/*.
    const bobs = (await (await fetch(`${srv.url}/v2/_catalog`, { headers: { Authorization: basic('bob') } })).json()) as { repositories: string[] };
    assert.ok(bobs.repositories.includes(privateRepo));
    assert.ok(bobs.repositories.includes(publicRepo));
    assert.ok(!bobs.repositories.some((r) => r.startsWith('team/')), JSON.stringify(bobs.repositories));
    assert.ok(all.repositories.some((r) => r.startsWith('team/')));
    // carol has no catalog right: 403; anonymous: 401.
    await expectError(await fetch(`${srv.url}/v2/_catalog`, { headers: { Authorization: basic('carol') } }), 403, 'DENIED');
    await expectError(await fetch(`${srv.url}/v2/_catalog`), 401, 'UNAUTHORIZED');
  });

  test('a mount needs pull on `from`: without it the POST is an ordinary upload (202)', async () => {
    const source = teamRepo('src');
    const blob = randomBlob(300);
    assert.equal((await postBlob(srv.url, source, blob, basic('carol'))).status, 201);
    const target = `public/${repoName('dst')}`;
    // bob may push to public/** but cannot read team/*.
    const refused = await fetch(`${srv.url}/v2/${target}/blobs/uploads/?mount=${sha256(blob)}&from=${source}`, {
      method: 'POST',
      headers: { Authorization: basic('bob') },
    });
    assert.equal(refused.status, 202, await refused.text());
    assert.equal((await fetch(`${srv.url}/v2/${target}/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 404, 'nothing was linked');
    // alice may read it: the same mount links the blob.
    const mounted = await fetch(`${srv.url}/v2/${target}/blobs/uploads/?mount=${sha256(blob)}&from=${source}`, {
      method: 'POST',
      headers: { Authorization: basic('alice') },
    });
    assert.equal(mounted.status, 201);
    assert.equal((await fetch(`${srv.url}/v2/${target}/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 200);
  });

  test('uploads, the unikernel endpoints and referrers are guarded too', async () => {
    await expectError(await startUpload(srv.url, privateRepo), 401, 'UNAUTHORIZED');
    await expectError(await startUpload(srv.url, privateRepo, basic('bob')), 403, 'DENIED');
    const session = await startUpload(srv.url, privateRepo, basic('alice'));
    assert.equal(session.status, 202);
    const location = new URL(session.headers.get('location')!, srv.url).toString();
    // Someone else cannot write into alice's session, nor read its status.
    await expectError(await fetch(location, { method: 'PATCH', body: new Uint8Array(4) }), 401, 'UNAUTHORIZED');
    await expectError(await fetch(location, { headers: { Authorization: basic('bob') } }), 403, 'DENIED');
    await expectError(await fetch(`${srv.url}/v2/${privateRepo}/_unikraft/variants`), 401, 'UNAUTHORIZED');
    await expectError(
      await fetch(`${srv.url}/v2/${privateRepo}/_unikraft/pack`, { method: 'POST', headers: { Authorization: basic('bob'), 'Content-Type': 'application/json' }, body: '{}' }),
      403,
      'DENIED',
    );
    await expectError(await fetch(`${srv.url}/v2/${privateRepo}/referrers/${sha256('x')}`), 401, 'UNAUTHORIZED');
    assert.equal((await fetch(`${srv.url}/v2/${privateRepo}/_unikraft/variants`, { headers: { Authorization: basic('bob') } })).status, 200);
  });

  test('a request refused before its body was read is answered after the body is taken in, not cut off', async () => {
    const { port } = new URL(srv.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
    const half = 256 * 1024;
    socket.write(
      `POST /v2/${privateRepo}/blobs/uploads/?digest=${sha256('x')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
        `Authorization: ${basic('bob')}\r\nContent-Length: ${2 * half}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(half));
    await new Promise((r) => setTimeout(r, 300));
    // Refused (bob may not push) but not answered yet: answering and closing now would reset the connection
    // under the rest of the body, and the client could lose the answer.
    assert.equal(answer, '');
    socket.end(Buffer.alloc(half));
    await once(socket, 'close');
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.match(answer, /"code":"DENIED"/);
  });

  test('credentials never reach the logs', async () => {
    await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice', 'a-wrong-secret-123') } });
    const text = logs.text();
    assert.ok(text.includes('"path":"/v2/"'), 'requests are logged');
    for (const secret of [PASSWORD, 'a-wrong-secret-123', basic('alice').slice(6), HASH]) assert.ok(!text.includes(secret), `log holds ${secret}`);
  });
});

describe('auth: repeated wrong passwords', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ auth: { mode: 'basic', users: { alice: HASH, bob: HASH }, failedLogins: { limit: 3, window: '1m' } } });
  });
  after(async () => {
    await srv.destroy();
  });
  const hello = (user: string, password?: string) => fetch(`${srv.url}/v2/`, { headers: { Authorization: basic(user, password) } });

  test('after the limit for one name: 429 TOOMANYREQUESTS with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) await expectError(await hello('alice', `guess-${i}`), 401, 'UNAUTHORIZED');
    const held = await hello('alice', 'guess-4');
    await expectError(held, 429, 'TOOMANYREQUESTS');
    const retry = Number(held.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${held.headers.get('retry-after')}`);
    await expectError(await hello('alice'), 429, 'TOOMANYREQUESTS');
    // Another user at the same address is not locked out by alice's guesser.
    assert.equal((await hello('bob')).status, 200);
  });

  test('guessing across many names holds the whole address back', async () => {
    // 3 failures counted above; the address limit is 10 × 3.
    for (let i = 0; i < 27; i++) await expectError(await hello(`user${i}`, 'x'), 401, 'UNAUTHORIZED');
    await expectError(await hello('user-next', 'x'), 429, 'TOOMANYREQUESTS');
    await expectError(await hello('bob'), 429, 'TOOMANYREQUESTS');
  });
});

describe('auth: htpasswd file', () => {
  let srv: TestServer;
  let root: string;
  let file: string;
  before(async () => {
    root = await makeRoot();
    file = join(root, 'htpasswd');
    // $2y$ as htpasswd -B writes it, a comment, and a non-bcrypt line that must be ignored.
    const y = bcrypt.hashSync('first-pw', 4).replace(/^\$2b\$/, '$2y$');
    await writeFile(file, `# users\ndave:${y}\nmd5user:$apr1$abc$0123456789012345678901\n`);
    srv = await startTestServer({ auth: { mode: 'basic', htpasswd: file } });
  });
  after(async () => {
    await srv.destroy();
    await rm(root, { recursive: true, force: true });
  });

  test('bcrypt entries log in; other hash kinds do not', async () => {
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dave', 'first-pw') } })).status, 200);
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('md5user', 'x') } })).status, 401);
  });

  test('a changed file is read again: the new password works, the old one stops', async () => {
    await writeFile(file, `dave:${bcrypt.hashSync('second-pw', 4)}\n`);
    // The file is re-checked at most every 2 s.
    await new Promise((r) => setTimeout(r, 2200));
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dave', 'second-pw') } })).status, 200);
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dave', 'first-pw') } })).status, 401);
  });
});
