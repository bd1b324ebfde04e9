/**
 * Token mode over real HTTP: the token endpoint (GET and OAuth2 POST), the
 * bearer challenges, scopes cut to the rules, and tokens that must be refused.
 * Forged tokens are made with the server's own key (read from its storage
 * root) so each differs from a valid one in exactly one way; a valid token made
 * the same way is accepted, which shows the forgery is refused for that reason.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { SignJWT, generateKeyPair, importJWK, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { HASH, PASSWORD, basic, bearer, captureLogs, claimsOf, postBlob, pushImageAs, tokenFor, type LogCapture } from '../helpers/auth-http.js';
import { expectError, randomBlob, repoName, sha256 } from '../helpers/oci.js';
import { makeRoot, startTestServer, type TestServer } from '../helpers/server.js';

const ACCESS: AccessRule[] = [
  { repository: 'public/**', grants: { anonymous: ['pull'], authenticated: ['pull', 'push'] } },
  { repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog'], bob: ['pull'] } },
];

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('auth: token mode', () => {
  let srv: TestServer;
  let logs: LogCapture;
  let root: string;
  let htpasswd: string;
  let key: CryptoKey;
  let jwk: JWK;
  let repo: string;
  const now = () => Math.floor(Date.now() / 1000);

  /** A token signed with the server's key: valid unless `claims`/`header` say otherwise. */
  async function forge(claims: JWTPayload, header: Record<string, unknown> = {}, signer: CryptoKey = key): Promise<string> {
    const base: JWTPayload = {
      iss: 'unireg',
      aud: 'unireg',
      sub: 'alice',
      iat: now(),
      nbf: now() - 1,
      exp: now() + 300,
      access: [{ type: 'repository', name: repo, actions: ['pull'] }],
    };
    return new SignJWT({ ...base, ...claims }).setProtectedHeader({ alg: 'ES256', kid: jwk.kid, ...header }).sign(signer);
  }

  const publicJwk = (): JWK => {
    const { d: _private, ...pub } = jwk;
    return pub;
  };

  /** An otherwise valid token, HS256-signed with `secret` (the classic algorithm-confusion attack). */
  async function hmacForgery(secret: string): Promise<string> {
    const head = b64url({ alg: 'HS256', typ: 'JWT', kid: jwk.kid });
    const body = b64url(claimsOf(await forge({})));
    return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
  }

  const tagsWith = (token: string, name = repo) => fetch(`${srv.url}/v2/${name}/tags/list`, { headers: { Authorization: bearer(token) } });

  before(async () => {
    logs = captureLogs();
    root = await makeRoot();
    htpasswd = join(root, 'htpasswd');
    await writeFile(htpasswd, `carol:${bcrypt.hashSync('carol-pw-1', 4)}\n`);
    srv = await startTestServer(
      {
        auth: {
          mode: 'token',
          users: { alice: HASH, bob: HASH },
          htpasswd,
          access: [{ repository: 'carol/**', grants: { carol: ['pull', 'push'] } }, ...ACCESS],
          failedLogins: { limit: 50, window: '1m' },
        },
      },
      join(root, 'data'),
      logs.logger,
    );
    jwk = JSON.parse(await readFile(join(srv.root, 'auth', 'token-key.json'), 'utf8')) as JWK;
    key = (await importJWK(jwk, 'ES256')) as CryptoKey;
    repo = repoName('tok');
    await pushImageAs(srv.url, repo, 'v1', bearer(await tokenFor(srv.url, 'alice', [`repository:${repo}:pull,push`])));
    const carols = `carol/${repoName('c').replace('/', '-')}`;
    await pushImageAs(srv.url, carols, 'v1', bearer(await tokenFor(srv.url, 'carol', [`repository:${carols}:pull,push`], 'carol-pw-1')));
  });
  after(async () => {
    await srv.destroy();
    await rm(root, { recursive: true, force: true });
  });

  test('no token: 401 with a Bearer challenge naming realm, service and the scope needed', async () => {
    const res = await fetch(`${srv.url}/v2/${repo}/tags/list`);
    await expectError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${srv.url}/auth/token",service="unireg",scope="repository:${repo}:pull"`);
    const push = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.match(push.headers.get('www-authenticate') ?? '', new RegExp(`scope="repository:${repo}:pull,push"`));
    const hello = await fetch(`${srv.url}/v2/`);
    assert.equal(hello.status, 401);
    assert.equal(hello.headers.get('www-authenticate'), `Bearer realm="${srv.url}/auth/token",service="unireg"`);
  });

  test('the token endpoint answers token, access_token, expires_in and issued_at; the token works', async () => {
    const res = await fetch(`${srv.url}/auth/token?service=unireg&scope=repository:${repo}:pull&account=alice`, {
      headers: { Authorization: basic('alice') },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 10_000);
    const claims = claimsOf(body.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, 'unireg');
    assert.equal(claims.aud, 'unireg');
    assert.deepEqual(claims.access, [{ type: 'repository', name: repo, actions: ['pull'] }]);
    const header = JSON.parse(Buffer.from(body.token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string };
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, jwk.kid);
    const tags = await tagsWith(body.token);
    assert.equal(tags.status, 200);
    assert.deepEqual((await tags.json()).tags, ['v1']);
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: bearer(body.token) } })).status, 200);
  });

  test('the granted scope is what was asked intersected with the rules', async () => {
    const bobs = claimsOf(await tokenFor(srv.url, 'bob', [`repository:${repo}:pull,push,delete`, 'registry:catalog:*']));
    assert.deepEqual(bobs.access, [{ type: 'repository', name: repo, actions: ['pull'] }]);
    const anon = claimsOf(await tokenFor(srv.url, undefined, [`repository:${repo}:pull`, 'repository:public/x:pull,push']));
    assert.deepEqual(anon.access, [{ type: 'repository', name: 'public/x', actions: ['pull'] }]);
    assert.equal(anon.sub, undefined);
  });

  test('a token for repository a is refused on b; a pull-only token cannot push or delete', async () => {
    const other = repoName('other');
    await pushImageAs(srv.url, other, 'v1', bearer(await tokenFor(srv.url, 'alice', [`repository:${other}:pull,push`])));
    const forA = await tokenFor(srv.url, 'alice', [`repository:${repo}:pull`]);
    const onB = await tagsWith(forA, other);
    await expectError(onB, 401, 'UNAUTHORIZED');
    // alice could have it: the challenge asks for a token with that scope.
    assert.match(onB.headers.get('www-authenticate') ?? '', new RegExp(`scope="repository:${other}:pull",error="insufficient_scope"`));
    const pullOnly = await tokenFor(srv.url, 'alice', [`repository:${repo}:pull`]);
    await expectError(await postBlob(srv.url, repo, randomBlob(8), bearer(pullOnly)), 401, 'UNAUTHORIZED');
    const del = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, { method: 'DELETE', headers: { Authorization: bearer(pullOnly) } });
    await expectError(del, 401, 'UNAUTHORIZED');
    // bob's rules do not allow pushing at all: 403, no point asking for another token.
    const bobs = await tokenFor(srv.url, 'bob', [`repository:${repo}:pull,push`]);
    await expectError(await postBlob(srv.url, repo, randomBlob(8), bearer(bobs)), 403, 'DENIED');
    assert.equal((await tagsWith(pullOnly)).status, 200, 'the manifest is still there');
  });

  test('a valid token made with the server key is accepted (the control for the forgeries below)', async () => {
    assert.equal((await tagsWith(await forge({}))).status, 200);
  });

  const forgeries: [string, () => Promise<string>][] = [
    ['alg none', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsOf(await forge({})))}.`],
    ['HS256 keyed with the public JWK', () => hmacForgery(JSON.stringify(publicJwk()))],
    ['HS256 keyed with the public key PEM', () => hmacForgery(createPublicKey({ key: publicJwk() as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString())],
    ['expired', () => forge({ iat: now() - 3600, nbf: now() - 3600, exp: now() - 600 })],
    ['not yet valid', () => forge({ nbf: now() + 3600, exp: now() + 7200 })],
    ['wrong issuer', () => forge({ iss: 'someone-else' })],
    ['wrong audience', () => forge({ aud: 'another-registry' })],
    ['unknown kid', () => forge({}, { kid: 'not-the-servers-key' })],
    [
      "another key under the server's kid",
      async () => forge({}, {}, (await generateKeyPair('ES256')).privateKey),
    ],
    [
      'tampered payload',
      async () => {
        const [h, , s] = (await forge({})).split('.');
        const widened = { ...claimsOf(await forge({})), access: [{ type: 'repository', name: repo, actions: ['pull', 'push', 'delete'] }] };
        return `${h}.${b64url(widened)}.${s}`;
      },
    ],
    ['no expiry', () => new SignJWT({ iss: 'unireg', aud: 'unireg', sub: 'alice', iat: now(), access: [{ type: 'repository', name: repo, actions: ['pull'] }] }).setProtectedHeader({ alg: 'ES256', kid: jwk.kid }).sign(key)],
    ['a refresh token used as an access token', () => forge({ token_use: 'refresh', pwh: 'x' })],
  ];
  for (const [name, make] of forgeries) {
    test(`refused: ${name} → 401 invalid_token`, async () => {
      const res = await tagsWith(await make());
      await expectError(res, 401, 'UNAUTHORIZED');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });
  }

  test('a token from an RSA key whose public half is published is still refused (only the server key counts)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await new SignJWT({ ...claimsOf(await forge({})) }).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(privateKey);
    await expectError(await tagsWith(token), 401, 'UNAUTHORIZED');
  });

  test('wrong credentials at the token endpoint: 401 with a Basic challenge; bad account and service: 400', async () => {
    const res = await fetch(`${srv.url}/auth/token?service=unireg&scope=repository:${repo}:pull`, { headers: { Authorization: basic('alice', 'wrong') } });
    await expectError(res, 401, 'UNAUTHORIZED');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    await expectError(
      await fetch(`${srv.url}/auth/token?service=unireg&account=bob`, { headers: { Authorization: basic('alice') } }),
      400,
      'BAD_REQUEST',
    );
    await expectError(await fetch(`${srv.url}/auth/token?service=elsewhere`, { headers: { Authorization: basic('alice') } }), 400, 'BAD_REQUEST');
  });

  test('OAuth2 POST: password grant with a refresh token, then a refresh_token grant', async () => {
    const pw = await fetch(`${srv.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD, service: 'unireg', scope: `repository:${repo}:pull`, client_id: 'test', access_type: 'offline' }),
    });
    assert.equal(pw.status, 200);
    const first = (await pw.json()) as { access_token: string; refresh_token: string; scope: string; token_type: string };
    assert.equal(first.token_type, 'Bearer');
    assert.equal(first.scope, `repository:${repo}:pull`);
    assert.equal((await tagsWith(first.access_token)).status, 200);
    const refreshed = await fetch(`${srv.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token, service: 'unireg', scope: `repository:${repo}:pull,push`, client_id: 'test' }),
    });
    assert.equal(refreshed.status, 200);
    const second = (await refreshed.json()) as { access_token: string; scope: string };
    assert.equal(second.scope, `repository:${repo}:pull,push`);
    assert.equal((await postBlob(srv.url, repo, randomBlob(8), bearer(second.access_token))).status, 201);
    // An access token is not a refresh token, and a wrong password gets nothing.
    const swapped = await fetch(`${srv.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.access_token, service: 'unireg' }),
    });
    await expectError(swapped, 401, 'UNAUTHORIZED');
    const wrong = await fetch(`${srv.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'nope', service: 'unireg' }),
    });
    await expectError(wrong, 401, 'UNAUTHORIZED');
    await expectError(
      await fetch(`${srv.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }) }),
      400,
      'BAD_REQUEST',
    );
  });

  test('a refresh token dies when the password changes', async () => {
    const res = await fetch(`${srv.url}/auth/token?service=unireg&offline_token=true&scope=repository:carol/x:pull`, {
      headers: { Authorization: basic('carol', 'carol-pw-1') },
    });
    const { refresh_token: refresh } = (await res.json()) as { refresh_token: string };
    assert.ok(refresh, 'offline_token=true returns a refresh token');
    const use = () =>
      fetch(`${srv.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'unireg' }) });
    assert.equal((await use()).status, 200);
    await writeFile(htpasswd, `carol:${bcrypt.hashSync('carol-pw-2', 4)}\n`);
    await new Promise((r) => setTimeout(r, 2200));
    await expectError(await use(), 401, 'UNAUTHORIZED');
  });

  test('catalog: needs registry:catalog:* in the token, lists only what the user may pull', async () => {
    const without = await fetch(`${srv.url}/v2/_catalog`, { headers: { Authorization: bearer(await tokenFor(srv.url, 'alice', [])) } });
    await expectError(without, 401, 'UNAUTHORIZED');
    assert.match(without.headers.get('www-authenticate') ?? '', /scope="registry:catalog:\*"/);
    const token = await tokenFor(srv.url, 'alice', ['registry:catalog:*']);
    const res = await fetch(`${srv.url}/v2/_catalog`, { headers: { Authorization: bearer(token) } });
    assert.equal(res.status, 200);
    const { repositories } = (await res.json()) as { repositories: string[] };
    assert.ok(repositories.includes(repo));
    assert.ok(!repositories.some((r) => r.startsWith('carol/')), `carol/** is not alice's: ${repositories.join(' ')}`);
  });

  test('a mount from a repository the token cannot read is an ordinary upload', async () => {
    const target = repoName('mount-dst');
    const blobRepo = repoName('mount-src');
    const blob = randomBlob(100);
    const src = await tokenFor(srv.url, 'alice', [`repository:${blobRepo}:pull,push`]);
    assert.equal((await postBlob(srv.url, blobRepo, blob, bearer(src))).status, 201);
    const pushOnly = await tokenFor(srv.url, 'alice', [`repository:${target}:pull,push`]);
    const url = `${srv.url}/v2/${target}/blobs/uploads/?mount=${sha256(blob)}&from=${blobRepo}`;
    assert.equal((await fetch(url, { method: 'POST', headers: { Authorization: bearer(pushOnly) } })).status, 202);
    const both = await tokenFor(srv.url, 'alice', [`repository:${target}:pull,push`, `repository:${blobRepo}:pull`]);
    assert.equal((await fetch(url, { method: 'POST', headers: { Authorization: bearer(both) } })).status, 201);
  });

  test('tokens, refresh tokens and passwords never reach the logs', async () => {
    const token = await tokenFor(srv.url, 'alice', [`repository:${repo}:pull`]);
    await tagsWith(token);
    await tagsWith(`${token}x`);
    const text = logs.text();
    assert.ok(text.includes('/auth/token'), 'token requests are logged');
    for (const secret of [token, token.split('.')[2]!, PASSWORD, 'carol-pw-1', basic('alice').slice(6)]) {
      assert.ok(!text.includes(secret), 'a secret reached the log');
    }
  });

  test('the signing key: mode 0600, published at /auth/jwks.json, the same after a restart', async () => {
    const file = join(srv.root, 'auth', 'token-key.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(srv.root, 'auth'))).mode & 0o777, 0o700);
    const jwks = (await (await fetch(`${srv.url}/auth/jwks.json`)).json()) as { keys: JWK[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kid, jwk.kid);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part');
    const token = await tokenFor(srv.url, 'alice', [`repository:${repo}:pull`]);
    await srv.stop();
    srv = await startTestServer({ auth: { mode: 'token', users: { alice: HASH }, access: ACCESS } }, srv.root);
    assert.equal((await tagsWith(token)).status, 200, 'a token from before the restart still verifies');
  });
});
