/**
 * A refused token is not refused silently: the server logs, at debug, why it
 * refused it (expired, bad signature, unknown key, wrong kind of token,
 * malformed) with the key id the token named, and never the token itself.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { HASH, basic, bearer, captureLogs, type LogCapture } from '../helpers/auth-http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ACCESS: AccessRule[] = [{ repository: '**', grants: { alice: ['pull', 'push'] } }];

interface Rejection {
  msg: string;
  use: string;
  reason: string;
  code?: string;
  kid?: string;
}

describe('auth: refused tokens are logged at debug with the reason', () => {
  let srv: TestServer;
  let logs: LogCapture;
  let jwk: JWK;
  let key: CryptoKey;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    logs = captureLogs();
    srv = await startTestServer({ auth: { mode: 'token', users: { alice: HASH }, access: ACCESS } }, undefined, logs.logger);
    jwk = JSON.parse(await readFile(join(srv.root, 'auth', 'token-key.json'), 'utf8')) as JWK;
    key = (await importJWK(jwk, 'ES256')) as CryptoKey;
  });
  after(async () => {
    await srv.destroy();
  });

  const sign = (claims: Record<string, unknown>, signer: CryptoKey = key, kid = jwk.kid) =>
    new SignJWT({ iss: 'unireg', aud: 'unireg', sub: 'alice', iat: now() - 600, nbf: now() - 600, exp: now() + 300, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(signer);

  const rejections = (): Rejection[] =>
    logs
      .text()
      .split('\n')
      .filter((line) => line.includes('"token rejected"'))
      .map((line) => JSON.parse(line) as Rejection);

  /** Sends `token` as a bearer token; returns the rejection logged for it. */
  async function refuse(token: string): Promise<Rejection> {
    const before = rejections().length;
    const res = await fetch(`${srv.url}/v2/any/repo/tags/list`, { headers: { Authorization: bearer(token) } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    const found = rejections().slice(before);
    assert.equal(found.length, 1, 'one debug line for the refusal');
    return found[0]!;
  }

  test('expired, forged, unknown key, malformed: each with its reason', async () => {
    const expired = await refuse(await sign({ exp: now() - 3600 }));
    assert.equal(expired.use, 'access');
    assert.equal(expired.code, 'ERR_JWT_EXPIRED');
    assert.match(expired.reason, /exp/);
    assert.equal(expired.kid, jwk.kid);

    const other = (await generateKeyPair('ES256')).privateKey;
    const forged = await refuse(await sign({}, other));
    assert.equal(forged.code, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');

    const unknownKid = await refuse(await sign({}, other, 'some-other-key'));
    assert.equal(unknownKid.code, 'ERR_JWKS_NO_MATCHING_KEY');
    assert.equal(unknownKid.kid, 'some-other-key');

    const garbage = await refuse('not.a.jwt');
    assert.ok(garbage.reason.length > 0);

    const refreshAsAccess = await refuse(await sign({ token_use: 'refresh', pwh: 'x' }));
    assert.equal(refreshAsAccess.reason, 'not an access token');
  });

  test('a refused refresh grant is logged too', async () => {
    const access = await sign({ access: [] });
    const before = rejections().length;
    const res = await fetch(`${srv.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('nobody', 'x') },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: access, service: 'unireg', client_id: 't' }),
    });
    assert.equal(res.status, 401);
    const found = rejections().slice(before);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.use, 'refresh');
    assert.equal(found[0]!.reason, 'not a refresh token');
  });

  test('no token reaches the log', async () => {
    const token = await sign({ exp: now() - 3600 });
    await refuse(token);
    const text = logs.text();
    for (const part of token.split('.')) assert.ok(!text.includes(part), 'a part of a token reached the log');
  });
});
