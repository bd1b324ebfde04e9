/** The `webhooks` and `webhooksDelivery` settings, endpoint filters and the retry backoff. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { backoffDelay } from '../../src/webhooks/endpoint-delivery.js';
import { compileEndpoint } from '../../src/webhooks/events.js';
import { deliverySettings } from '../../src/webhooks/delivery.js';

const refused = (webhooks: unknown, why: RegExp) => {
  const result = configSchema.safeParse({ webhooks });
  assert.equal(result.success, false, JSON.stringify(webhooks));
  assert.match(result.error!.message, why);
};

test('webhook endpoints are checked when the configuration loads', () => {
  refused([{ url: 'ftp://example.com/x' }], /http/);
  refused([{ url: 'not a url' }], /http/);
  refused([{ url: 'http://a.example/h' }, { url: 'http://a.example/h' }], /appears twice/);
  refused([{ url: 'http://a.example/h', events: ['manifest.pushd'] }], /manifest\.pushed/);
  refused([{ url: 'http://a.example/h', events: [] }], /too_small|>=1|at least/i);
  refused([{ url: 'http://a.example/h', headers: { 'X-Unireg-Signature': 'x' } }], /set by unireg/);
  refused([{ url: 'http://a.example/h', headers: { 'Bad Name': 'x' } }], /header name/);
  refused([{ url: 'http://a.example/h', headers: { 'X-A': 'a\r\nB: c' } }], /line break/);
  refused([{ url: 'http://a.example/h', repository: 'Bad Glob' }], /repository name/);
  refused([{ url: 'http://a.example/h', secret: '' }], /too_small|>=1|at least/i);
  const ok = configSchema.parse({ webhooks: [{ url: 'https://a.example/h', events: ['gc.completed'], headers: { Authorization: 'Bearer x' } }] });
  assert.deepEqual(ok.webhooks[0], { url: 'https://a.example/h', events: ['gc.completed'], headers: { Authorization: 'Bearer x' } });
});

test('delivery settings come from the file or UNIREG_WEBHOOKS_DELIVERY_* variables', async () => {
  const config = await loadConfig({ env: { UNIREG_WEBHOOKS_DELIVERY_MAX_ATTEMPTS: '3', UNIREG_WEBHOOKS_DELIVERY_BACKOFF: '250ms', UNIREG_WEBHOOKS_DELIVERY_TIMEOUT: '5' } });
  assert.deepEqual(deliverySettings(config), { maxAttempts: 3, backoffMs: 250, maxBackoffMs: 300_000, timeoutMs: 5000, concurrency: 8 });
  await assert.rejects(loadConfig({ env: { UNIREG_WEBHOOKS_DELIVERY_MAX_ATTEMPTS: '0' } }));
});

test('an endpoint wants the events and repositories it names; a repository filter excludes registry-wide events', () => {
  const all = compileEndpoint({ url: 'http://a.example/h', headers: {} });
  assert.ok(all.wants('manifest.pushed', 'x/y') && all.wants('gc.completed', ''));
  const some = compileEndpoint({ url: 'http://a.example/h', headers: {}, events: ['tag.deleted'], repository: 'team/*' });
  assert.ok(some.wants('tag.deleted', 'team/app'));
  assert.ok(!some.wants('tag.deleted', 'team/app/deep'));
  assert.ok(!some.wants('manifest.pushed', 'team/app'));
  assert.ok(!some.wants('tag.deleted', ''));
  assert.notEqual(all.id, compileEndpoint({ url: 'http://b.example/h', headers: {} }).id);
});

test('the backoff doubles from `backoff` up to `maxBackoff`, each wait between half and all of it', () => {
  const s = { maxAttempts: 10, backoffMs: 1000, maxBackoffMs: 10_000, timeoutMs: 1000, concurrency: 1 };
  assert.deepEqual([1, 2, 3, 4, 5, 40].map((a) => backoffDelay(s, a, () => 1)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.deepEqual([1, 2, 3].map((a) => backoffDelay(s, a, () => 0)), [500, 1000, 2000]);
});
