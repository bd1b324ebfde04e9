/**
 * Token mode trusting an external issuer: tokens signed with a key from the
 * configured JWKS file are accepted with their access claims; the challenge
 * points at the issuer's realm; unireg serves no token endpoint of its own.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { bearer, postBlob } from '../helpers/auth-http.js';
import { expectError, randomBlob, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ISSUER = 'https://auth.example.test';
const SERVICE = 'registry.example.test';
const REALM = 'https://auth.example.test/token';

describe('auth: external token issuer', () => {
  let srv: TestServer;
  let dir: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  const repo = repoName('ext');
  const now = () => Math.floor(Date.now() / 1000);

  const sign = (claims: JWTPayload, signer: CryptoKey = key, alg = 'RS256') =>
    new SignJWT({ iss: ISSUER, aud: SERVICE, sub: 'ci-bot', iat: now(), exp: now() + 120, ...claims })
      .setProtectedHeader({ alg, kid: 'issuer-key-1' })
      .sign(signer);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unireg-jwks-'));
    ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
    const pair = await generateKeyPair('RS256', { extractable: true });
    otherKey = pair.privateKey;
    const { n, e, kty } = await exportJWK(key);
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ kty, n, e, kid: 'issuer-key-1', alg: 'RS256', use: 'sig' }] }));
    srv = await startTestServer({
      auth: { mode: 'token', token: { jwks: join(dir, 'jwks.json'), issuer: ISSUER, service: SERVICE, realm: REALM } },
    });
  });
  after(async () => {
    await srv.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test('the challenge names the external realm and service', async () => {
    const res = await fetch(`${srv.url}/v2/${repo}/tags/list`);
    await expectError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:${repo}:pull"`);
  });

  test('a token from the issuer works for exactly its access claim', async () => {
    const token = await sign({ access: [{ type: 'repository', name: repo, actions: ['pull', 'push'] }] });
    assert.equal((await postBlob(srv.url, repo, randomBlob(32), bearer(token))).status, 201);
    await expectError(await postBlob(srv.url, repoName('elsewhere'), randomBlob(32), bearer(token)), 401, 'UNAUTHORIZED');
  });

  test('tokens the issuer did not sign, or signed for someone else, are refused', async () => {
    const access = [{ type: 'repository', name: repo, actions: ['pull', 'push'] }];
    for (const token of [
      await sign({ access }, otherKey),
      await sign({ access, iss: 'https://evil.example.test' }),
      await sign({ access, aud: 'unireg' }),
      await sign({ access, exp: now() - 300, iat: now() - 600 }),
    ]) {
      const res = await postBlob(srv.url, repo, randomBlob(32), bearer(token));
      await expectError(res, 401, 'UNAUTHORIZED');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
  });

  test('unireg issues no tokens of its own here', async () => {
    await expectError(await fetch(`${srv.url}/auth/token?service=${SERVICE}`), 404, 'NOT_FOUND');
  });
});
