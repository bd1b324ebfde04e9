/**
 * The client's side of registry authentication (src/client/auth.ts): the
 * WWW-Authenticate parser, and `authorize` against small stand-in servers
 * (a registry and a token issuer on another port), which record what they got.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { authorize, LOGIN_HINT, parseChallenges, requestFailure } from '../../src/client/auth.js';
import type { Credentials } from '../../src/client/credentials.js';
import { basic } from '../helpers/auth-http.js';
import type { Exchange } from '../../src/client/http.js';
import { parseTarget, urlTarget } from '../../src/client/target.js';

describe('parseChallenges', () => {
  test('a Bearer challenge: quoted values keep their commas and colons', () => {
    assert.deepEqual(
      parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'),
      [{ scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } }],
    );
  });

  test('Basic, with case-insensitive scheme and names, spaces around = and commas', () => {
    assert.deepEqual(parseChallenges('BASIC Realm = "unireg" , charset="UTF-8"'), [{ scheme: 'basic', params: { realm: 'unireg', charset: 'UTF-8' } }]);
    assert.deepEqual(parseChallenges('Basic realm=unireg'), [{ scheme: 'basic', params: { realm: 'unireg' } }]);
  });

  test('escapes in quoted strings, and = and " inside them', () => {
    const [c] = parseChallenges(String.raw`Bearer realm="http://h/t?a=1,b=2",error_description="say \"hi\", \\ ok"`);
    assert.deepEqual(c?.params, { realm: 'http://h/t?a=1,b=2', error_description: 'say "hi", \\ ok' });
  });

  test('several challenges in one header (as Node joins repeated headers) and in an array', () => {
    const joined = 'Basic realm="a, b", Bearer realm="http://h/auth",service="s",scope="repository:x:pull,push", Negotiate';
    assert.deepEqual(parseChallenges(joined), [
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'http://h/auth', service: 's', scope: 'repository:x:pull,push' } },
      { scheme: 'negotiate', params: {} },
    ]);
    assert.deepEqual(parseChallenges(['Basic realm="r"', 'Bearer realm="t"']), [
      { scheme: 'basic', params: { realm: 'r' } },
      { scheme: 'bearer', params: { realm: 't' } },
    ]);
  });

  test('a token68 challenge, and the first of a repeated parameter wins', () => {
    assert.deepEqual(parseChallenges('Negotiate YWJjZA==, Basic realm="x"'), [
      { scheme: 'negotiate', params: {}, token68: 'YWJjZA==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="one",realm="two"')[0]?.params, { realm: 'one' });
  });

  test('nothing, or garbage, gives no challenge or skips the garbage; never throws', () => {
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
    assert.deepEqual(parseChallenges(' , ,'), []);
    assert.deepEqual(parseChallenges('"quoted" Bearer realm="r"'), [{ scheme: 'bearer', params: { realm: 'r' } }]);
    assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
    assert.deepEqual(parseChallenges('realm="orphan", Basic'), [{ scheme: 'basic', params: {} }]);
    for (const junk of ['=', '"', '\\', 'Bearer =', 'Bearer ,=,', '()<>@', 'Bearer realm=,,service']) {
      assert.doesNotThrow(() => parseChallenges(junk), junk);
    }
  });
});

describe('urlTarget', () => {
  test('host, port and scheme from a URL; IPv6 without brackets to connect to', () => {
    assert.deepEqual(urlTarget(new URL('https://Auth.Example.com/token')), {
      host: 'auth.example.com', hostname: 'auth.example.com', port: undefined, repo: '', tag: '', tagGiven: false, scheme: 'https',
    });
    const v6 = urlTarget(new URL('http://[::1]:5001/auth/token'));
    assert.deepEqual([v6.host, v6.hostname, v6.port, v6.scheme], ['[::1]:5001', '::1', 5001, 'http']);
    assert.throws(() => urlTarget(new URL('ftp://h/x')), /not an http or https URL/);
  });
});

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

/** A stand-in server that records requests and answers with `handle`. */
async function standIn(handle: (url: string, headers: IncomingHttpHeaders, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => handle(req.url ?? '', req.headers, res));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, seen, host };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('authorize', () => {
  const PASSWORD = 'p@ss:wörd, "quoted"';
  const creds: Credentials = { username: 'alice', password: PASSWORD, source: '--user' };
  const basicAlice = basic('alice', PASSWORD);
  const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
  let registry: Awaited<ReturnType<typeof standIn>>;
  let issuer: Awaited<ReturnType<typeof standIn>>;
  /** How the registry answers GET /v2/; how the issuer answers the token request. */
  let hello: (res: ServerResponse, url: string) => void;
  let tokenAnswer: (res: ServerResponse, headers: IncomingHttpHeaders) => void;

  before(async () => {
    registry = await standIn((url, _h, res) => hello(res, url));
    issuer = await standIn((_url, headers, res) => tokenAnswer(res, headers));
  });
  after(async () => {
    for (const s of [registry, issuer]) await new Promise((ok) => s?.server.close(ok));
  });

  const target = () => parseTarget(`${registry.host}/apps/hello:v1`);
  const reset = () => {
    registry.seen.length = 0;
    issuer.seen.length = 0;
  };
  const bearerHello = (realm: string) => (res: ServerResponse) =>
    json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
      'WWW-Authenticate': `Bearer realm="${realm}",service="unireg test",scope="registry:catalog:*"`,
    });

  test('an open registry: no header without credentials, Basic with them; the probe goes without', async () => {
    hello = (res) => json(res, 200, {});
    reset();
    assert.equal(await authorize(target(), undefined, 'repository:apps/hello:pull'), undefined);
    assert.equal(await authorize(target(), creds, 'repository:apps/hello:pull'), basicAlice);
    assert.deepEqual(registry.seen.map((s) => [s.url, s.headers.authorization]), [['/v2/', undefined], ['/v2/', undefined]]);
  });

  test('a Basic challenge (or a 401 without one, or another status): Basic with credentials, else none', async () => {
    for (const answer of [
      (res: ServerResponse) => json(res, 401, {}, { 'WWW-Authenticate': 'Basic realm="unireg"' }),
      (res: ServerResponse) => json(res, 401, {}),
      (res: ServerResponse) => json(res, 404, {}),
    ]) {
      hello = answer;
      assert.equal(await authorize(target(), creds, 'repository:apps/hello:pull'), basicAlice);
      assert.equal(await authorize(target(), undefined, 'repository:apps/hello:pull'), undefined);
    }
  });

  test('a Bearer challenge: a token from the realm on another host, for the scope, with Basic credentials', async () => {
    hello = bearerHello(`http://${issuer.host}/auth/token?realm_param=1`);
    tokenAnswer = (res) => json(res, 200, { token: TOKEN, access_token: 'other', expires_in: 300, issued_at: new Date().toISOString() });
    reset();
    assert.equal(await authorize(target(), creds, 'repository:apps/hello:pull,push'), `Bearer ${TOKEN}`);
    assert.equal(issuer.seen.length, 1);
    const req = new URL(issuer.seen[0]!.url, 'http://x');
    assert.equal(req.pathname, '/auth/token');
    assert.equal(req.searchParams.get('realm_param'), '1', 'the realm keeps its own query');
    assert.equal(req.searchParams.get('service'), 'unireg test');
    assert.deepEqual(req.searchParams.getAll('scope'), ['repository:apps/hello:pull,push'], 'the scope asked for, not the challenge\'s');
    assert.equal(req.searchParams.get('account'), 'alice');
    assert.equal(issuer.seen[0]!.headers.authorization, basicAlice);

    // Anonymous: no Authorization and no account on the token request; access_token when token is missing.
    tokenAnswer = (res) => json(res, 200, { access_token: 'anon.token.value' });
    reset();
    assert.equal(await authorize(target(), undefined, 'repository:apps/hello:pull'), 'Bearer anon.token.value');
    assert.equal(issuer.seen[0]!.headers.authorization, undefined);
    assert.equal(new URL(issuer.seen[0]!.url, 'http://x').searchParams.has('account'), false);
  });

  test('a relative realm is resolved against the registry', async () => {
    hello = (res, url) => {
      // The registry serves the token itself under /token.
      if (url.startsWith('/token?')) json(res, 200, { token: 'relative.token' });
      else json(res, 401, {}, { 'WWW-Authenticate': 'Bearer realm="/token",service="s"' });
    };
    assert.equal(await authorize(target(), undefined, 'repository:apps/hello:pull'), 'Bearer relative.token');
  });

  test('token failures are one line naming the realm, never the password or the token', async () => {
    hello = bearerHello(`http://user:secret@${issuer.host}/auth/token`);
    const realm = `http://${issuer.host}/auth/token`;
    const cases: Array<[(res: ServerResponse) => void, Credentials | undefined, string]> = [
      [(res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }), creds,
        `cannot get a token from ${realm}: 401 UNAUTHORIZED: invalid username or password`],
      [(res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'no anonymous tokens' }] }), undefined,
        `cannot get a token from ${realm}: 401 UNAUTHORIZED: no anonymous tokens (${LOGIN_HINT})`],
      [(res) => json(res, 200, { expires_in: 300 }), creds, `cannot get a token from ${realm}: the answer holds no token`],
      [(res) => { res.writeHead(200); res.end('<html>'); }, creds, `cannot get a token from ${realm}: the answer is not JSON`],
      [(res) => json(res, 200, { token: `${TOKEN}\r\nX-Evil: 1` }), creds, `cannot get a token from ${realm}: the token holds characters a header cannot carry`],
    ];
    for (const [answer, who, message] of cases) {
      tokenAnswer = answer;
      await assert.rejects(authorize(target(), who, 'repository:apps/hello:pull'), (err: Error) => {
        assert.equal(err.name, 'ClientError');
        assert.equal(err.message, message);
        assert.ok(!err.message.includes(PASSWORD) && !err.message.includes('secret') && !err.message.includes(TOKEN), err.message);
        return true;
      });
    }
  });

  test('a realm that is missing, not http(s), or not listening', async () => {
    const expect = async (realmHeader: string, message: RegExp) => {
      hello = (res) => json(res, 401, {}, { 'WWW-Authenticate': realmHeader });
      await assert.rejects(authorize(target(), creds, 'repository:apps/hello:pull'), message);
    };
    await expect('Bearer service="s"', /asks for a Bearer token but names no realm/);
    await expect('Bearer realm="ftp://h/token"', /^ClientError: the token realm ftp:\/\/h\/token is not an http or https URL$/);
    await expect('Bearer realm="http://127.0.0.1:1/auth/token"', /^ClientError: cannot get a token from http:\/\/127\.0\.0\.1:1\/auth\/token: cannot connect to http:\/\/127\.0\.0\.1:1: connection refused$/);
  });
});

describe('requestFailure', () => {
  const res = (status: number, code: string, message: string): Exchange => ({
    status,
    statusMessage: '',
    headers: {},
    body: Buffer.from(JSON.stringify({ errors: [{ code, message }] })),
  });
  const creds: Credentials = { username: 'bob', password: 'hunter2', source: '--user' };

  test('401 without credentials says how to log in; 403 says as whom; the rest as the registry wrote it', () => {
    assert.equal(requestFailure(res(401, 'UNAUTHORIZED', 'authentication required'), undefined), `401 UNAUTHORIZED: authentication required (${LOGIN_HINT})`);
    assert.equal(requestFailure(res(401, 'UNAUTHORIZED', 'invalid username or password'), creds), '401 UNAUTHORIZED: invalid username or password');
    assert.equal(requestFailure(res(403, 'DENIED', 'requested access to the resource is denied'), creds), '403 DENIED: requested access to the resource is denied (as user bob)');
    assert.equal(requestFailure(res(404, 'NAME_UNKNOWN', 'repository name not known to registry'), creds), '404 NAME_UNKNOWN: repository name not known to registry');
  });
});
