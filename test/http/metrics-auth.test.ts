/**
 * /metrics and authentication over real HTTP: 429 refusals from the failed-login limit counted by code, and
 * scraping in token mode with a `registry:metrics:*` token (granted only from a `**` rule).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HASH, basic, bearer, claimsOf, tokenFor } from '../helpers/auth-http.js';
import { delta, parseExposition, scrape } from '../helpers/metrics.js';
import { expectError } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const REFUSALS = 'unireg_http_refusals_total';

describe('metrics: 429 refusals from the failed-login limit (auth basic)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: {
        mode: 'basic',
        users: { ops: HASH, dev: HASH },
        access: [{ repository: '**', grants: { ops: ['metrics'], dev: ['pull'] } }],
        failedLogins: { limit: 2, window: '1m' },
      },
    });
  });
  after(async () => {
    await srv.destroy();
  });

  test('wrong passwords count as 401 UNAUTHORIZED up to the limit, then each held-back request as 429 TOOMANYREQUESTS', async () => {
    const asOps = { Authorization: basic('ops') };
    const before = await scrape(`${srv.url}/metrics`, asOps);
    for (let i = 0; i < 2; i++) await expectError(await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dev', `wrong-${i}`) } }), 401, 'UNAUTHORIZED');
    for (let i = 0; i < 3; i++) await expectError(await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dev', `wrong-${i}`) } }), 429, 'TOOMANYREQUESTS');
    // Held back even with the right password: counted as a refusal too.
    await expectError(await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dev') } }), 429, 'TOOMANYREQUESTS');
    const after = await scrape(`${srv.url}/metrics`, asOps);
    assert.equal(delta(before, after, REFUSALS, { status: '401', code: 'UNAUTHORIZED' }), 2);
    assert.equal(delta(before, after, REFUSALS, { status: '429', code: 'TOOMANYREQUESTS' }), 4);
    assert.equal(delta(before, after, REFUSALS, { status: '403', code: 'DENIED' }), 0);
    assert.equal(delta(before, after, 'unireg_http_requests_total', { method: 'GET', route: '/v2/', status: '429' }), 4);
  });
});

describe('metrics: scraping in token mode', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: {
        mode: 'token',
        users: { ops: HASH, dev: HASH, team: HASH },
        access: [
          { repository: 'team/**', grants: { team: ['pull', 'metrics'] } },
          { repository: '**', grants: { ops: ['metrics'], dev: ['pull', 'push', 'catalog', 'admin'] } },
        ],
      },
    });
  });
  after(async () => {
    await srv.destroy();
  });

  const metricsScope = (token: string) =>
    ((claimsOf(token).access ?? []) as Array<{ type: string; name: string; actions: string[] }>).filter((a) => a.type === 'registry' && a.name === 'metrics');

  test('without a token: 401 with a Bearer challenge naming registry:metrics:*', async () => {
    const res = await fetch(`${srv.url}/metrics`);
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /);
    assert.match(challenge, /scope="registry:metrics:\*"/);
    await res.arrayBuffer();
  });

  test('a user granted metrics on ** gets the scope and scrapes Prometheus text', async () => {
    const token = await tokenFor(srv.url, 'ops', ['registry:metrics:*']);
    assert.deepEqual(metricsScope(token), [{ type: 'registry', name: 'metrics', actions: ['*'] }]);
    const res = await fetch(`${srv.url}/metrics`, { headers: { Authorization: bearer(token) } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(text);
    assert.ok(samples.has('unireg_blobs'));
    assert.ok((samples.get('process_resident_memory_bytes') ?? 0) > 0);
  });

  test('users without metrics on ** (none at all, or only from a narrower rule) get no such scope and a 403', async () => {
    const opsToken = await tokenFor(srv.url, 'ops', ['registry:metrics:*']);
    const before = await scrape(`${srv.url}/metrics`, { Authorization: bearer(opsToken) });
    for (const user of ['dev', 'team']) {
      const token = await tokenFor(srv.url, user, ['registry:metrics:*']);
      assert.deepEqual(metricsScope(token), [], `${user} got the metrics scope`);
      await expectError(await fetch(`${srv.url}/metrics`, { headers: { Authorization: bearer(token) } }), 403, 'DENIED');
    }
    // Anonymous: a token without the scope, then 401 (no identity to deny).
    const anonymous = await tokenFor(srv.url, undefined, ['registry:metrics:*']);
    assert.deepEqual(metricsScope(anonymous), []);
    const res = await fetch(`${srv.url}/metrics`, { headers: { Authorization: bearer(anonymous) } });
    await expectError(res, 401, 'UNAUTHORIZED');
    const after = await scrape(`${srv.url}/metrics`, { Authorization: bearer(opsToken) });
    assert.equal(delta(before, after, REFUSALS, { status: '403', code: 'DENIED' }), 2);
    assert.equal(delta(before, after, REFUSALS, { status: '401', code: 'UNAUTHORIZED' }), 1);
  });
});
