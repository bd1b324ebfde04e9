/**
 * Webhook delivery end to end: a real unireg (in process, LevelDB on disk) and
 * a real receiving HTTP server on 127.0.0.1. What each event carries and how
 * it is signed; retries; order per repository while other repositories go on;
 * the dead-letter list and its replay; a receiver that does not answer never
 * holds up a push.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ConfigInput } from '../../src/config/schema.js';
import { HASH, basic } from '../helpers/auth-http.js';
import { expectError, pushImage, withQuery } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WebhookReceiver, type Delivery } from '../helpers/webhook-receiver.js';

const SECRET = 'correct horse battery staple';
const FAST = { backoff: '10ms', maxBackoff: '50ms', timeout: '60s' } as const;

type Hooks = Pick<ConfigInput, 'webhooks' | 'webhooksDelivery'>;

async function withServer(hooks: (receiver: WebhookReceiver) => Hooks, body: (server: TestServer, receiver: WebhookReceiver) => Promise<void>): Promise<void> {
  const receiver = await WebhookReceiver.start();
  const server = await startTestServer(hooks(receiver) as never);
  try {
    await body(server, receiver);
  } finally {
    await server.destroy();
    await receiver.close();
  }
}

const types = (list: Delivery[]) => list.map((d) => d.event.type);
const tagsOf = (list: Delivery[]) => list.map((d) => d.event.data.tag);

describe('webhooks', () => {
  test('each change is a signed CloudEvent: push, mount, tag delete, manifest delete', async () => {
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, secret: SECRET, headers: { Authorization: 'Bearer hook-token' } }], webhooksDelivery: FAST }),
      async (server, receiver) => {
        const base = server.url;
        const image = await pushImage(base, 'hooks/sig', 'v1');
        // Mount the config blob into another repository.
        const configDigest = (image.manifest.config as { digest: string }).digest;
        const mount = await fetch(withQuery(`${base}/v2/hooks/other/blobs/uploads/`, { mount: configDigest, from: 'hooks/sig' }), { method: 'POST' });
        assert.equal(mount.status, 201);
        assert.equal((await fetch(`${base}/v2/hooks/sig/manifests/v1`, { method: 'DELETE' })).status, 202);
        await pushImage(base, 'hooks/sig', 'v2').then(async (second) => {
          assert.equal((await fetch(`${base}/v2/hooks/sig/manifests/${second.digest}`, { method: 'DELETE' })).status, 202);
        });
        await receiver.until('5 events', () => receiver.delivered.length >= 5);
        const sig = receiver.deliveredFor('hooks/sig');
        assert.deepEqual(types(sig), ['io.unireg.manifest.pushed', 'io.unireg.tag.deleted', 'io.unireg.manifest.pushed', 'io.unireg.manifest.deleted']);
        for (const d of receiver.delivered) {
          // The signature is the HMAC-SHA256 of the exact bytes received.
          const expected = `sha256=${createHmac('sha256', SECRET).update(d.body).digest('hex')}`;
          assert.equal(d.headers['x-unireg-signature'], expected);
          assert.match(String(d.headers['content-type']), /^application\/cloudevents\+json/);
          assert.equal(d.headers.authorization, 'Bearer hook-token');
          assert.equal(d.event.specversion, '1.0');
          assert.equal(d.event.source, '/unireg');
          assert.match(d.event.id, /^[0-9a-f-]{36}$/);
          assert.ok(!Number.isNaN(Date.parse(d.event.time)));
        }
        assert.deepEqual(sig[0]!.event.data, { repository: 'hooks/sig', digest: image.digest, mediaType: image.manifest.mediaType, size: image.bytes.length, tag: 'v1' });
        assert.deepEqual(sig[1]!.event.data, { repository: 'hooks/sig', tag: 'v1', digest: image.digest, reason: 'request' });
        assert.deepEqual(sig[3]!.event.data, { repository: 'hooks/sig', digest: sig[2]!.event.data.digest, tags: ['v2'] });
        const [mounted] = receiver.deliveredFor('hooks/other');
        assert.equal(mounted?.event.type, 'io.unireg.blob.mounted');
        assert.deepEqual(mounted.event.data, { repository: 'hooks/other', digest: configDigest, size: image.config.length, from: 'hooks/sig' });
        assert.equal(new Set(receiver.delivered.map((d) => d.event.id)).size, receiver.delivered.length, 'one id per event');
      },
    );
  });

  test('an endpoint gets only the events and repositories it asked for', async () => {
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, events: ['manifest.pushed'], repository: 'only/*' }], webhooksDelivery: FAST }),
      async (server, receiver) => {
        await pushImage(server.url, 'elsewhere/x', 'v1');
        await pushImage(server.url, 'only/x', 'v1');
        assert.equal((await fetch(`${server.url}/v2/only/x/manifests/v1`, { method: 'DELETE' })).status, 202);
        await pushImage(server.url, 'only/x', 'v2');
        await receiver.until('2 events', () => receiver.delivered.length >= 2);
        assert.deepEqual(tagsOf(receiver.delivered), ['v1', 'v2']);
        assert.ok(receiver.delivered.every((d) => d.event.subject === 'only/x' && d.event.type === 'io.unireg.manifest.pushed'));
        // A GC result is registry-wide: an endpoint limited to repositories does not get it.
        assert.equal((await fetch(`${server.url}/_unireg/gc`, { method: 'POST' })).status, 200);
        await pushImage(server.url, 'only/x', 'v3');
        await receiver.until('v3', () => receiver.delivered.length >= 3);
        assert.deepEqual(tagsOf(receiver.delivered), ['v1', 'v2', 'v3']);
      },
    );
  });

  test('a failed delivery is retried with the same body until the receiver takes it', async () => {
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, secret: SECRET }], webhooksDelivery: FAST }),
      async (server, receiver) => {
        receiver.answer = (d) => (d.attempt <= 2 ? 500 : 200);
        const image = await pushImage(server.url, 'hooks/retry', 'v1');
        await receiver.until('the delivery', () => receiver.delivered.length === 1);
        const attempts = receiver.requests.filter((d) => d.event.id === receiver.delivered[0]!.event.id);
        assert.equal(attempts.length, 3);
        assert.deepEqual(attempts.map((d) => d.headers['x-unireg-delivery-attempt']), ['1', '2', '3']);
        for (const d of attempts) assert.ok(d.body.equals(attempts[0]!.body), 'every attempt sends the same bytes');
        assert.equal(receiver.delivered[0]!.event.data.digest, image.digest);
      },
    );
  });

  test('events of one repository arrive in order while other repositories go on', async () => {
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, events: ['manifest.pushed'] }], webhooksDelivery: { ...FAST, concurrency: 4 } }),
      async (server, receiver) => {
        const repos = ['order/a', 'order/b', 'order/c'];
        const count = 8;
        // A slow, flaky receiver: every answer after a wait, and about one in four a 503.
        let seed = 7;
        const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
        let releaseA: () => void = () => undefined;
        const aHeld = new Promise<void>((ok) => (releaseA = ok));
        receiver.answer = async (d) => {
          // order/a's first event is held until order/b's events have all arrived: B does not wait for A.
          if (d.event.subject === 'order/a' && d.event.data.tag === 't0') await aHeld;
          await new Promise((ok) => setTimeout(ok, Math.floor(rand() * 15)));
          return rand() < 0.25 ? 503 : 200;
        };
        // Concurrent pushes: each repository's tags one after the other, the repositories at once.
        const pushes = repos.map(async (repo) => {
          for (let i = 0; i < count; i++) await pushImage(server.url, repo, `t${i}`);
        });
        await Promise.all(pushes);
        await receiver.until('order/b complete', () => receiver.deliveredFor('order/b').length === count);
        assert.equal(receiver.deliveredFor('order/a').length, 0, 'order/a waits behind its held first event');
        releaseA();
        await receiver.until('every event', () => receiver.delivered.length === repos.length * count);
        const expected = Array.from({ length: count }, (_, i) => `t${i}`);
        for (const repo of repos) assert.deepEqual(tagsOf(receiver.deliveredFor(repo)), expected, `${repo} in push order`);
        assert.ok(receiver.maxOpen > 1, 'repositories are delivered concurrently');
      },
    );
  });

  test('after maxAttempts failures an event is dead-lettered; a replay delivers it with the same id and body', async () => {
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, secret: SECRET }], webhooksDelivery: { ...FAST, maxAttempts: 3 } }),
      async (server, receiver) => {
        receiver.answer = () => 500;
        await pushImage(server.url, 'hooks/dead', 'v1');
        const dead = async () => {
          const res = await fetch(`${server.url}/_unireg/webhooks/dead`);
          assert.equal(res.status, 200);
          return (await res.json()) as { events: { endpoint: string; id: string; type: string; subject: string; attempts: number; lastError: string }[] };
        };
        await receiver.until('3 attempts', () => receiver.requests.length >= 3);
        let listed = await dead();
        for (let i = 0; listed.events.length === 0 && i < 200; i++) {
          await new Promise((ok) => setTimeout(ok, 25));
          listed = await dead();
        }
        assert.equal(listed.events.length, 1);
        const [entry] = listed.events;
        const { endpoint, type, subject, attempts, lastError } = entry!;
        assert.deepEqual({ endpoint, type, subject, attempts, lastError }, { endpoint: receiver.url, type: 'io.unireg.manifest.pushed', subject: 'hooks/dead', attempts: 3, lastError: 'answered 500' });
        assert.equal(receiver.requests.length, 3, 'no attempt after the last');
        assert.equal(entry!.id, receiver.requests[0]!.event.id);
        // The next event of the repository is not held up by the dead one.
        receiver.answer = () => 200;
        await pushImage(server.url, 'hooks/dead', 'v2');
        await receiver.until('v2', () => receiver.delivered.length === 1);
        assert.equal(receiver.delivered[0]!.event.data.tag, 'v2');

        const replay = await fetch(`${server.url}/_unireg/webhooks/dead/replay`, { method: 'POST' });
        assert.equal(replay.status, 200);
        assert.deepEqual(await replay.json(), { replayed: 1 });
        await receiver.until('the replayed event', () => receiver.delivered.length === 2);
        const replayed = receiver.delivered[1]!;
        assert.equal(replayed.event.id, entry!.id);
        assert.ok(replayed.body.equals(receiver.requests[0]!.body), 'the replay sends the original bytes');
        assert.deepEqual((await dead()).events, []);
        assert.deepEqual(await (await fetch(`${server.url}/_unireg/webhooks/dead/replay`, { method: 'POST' })).json(), { replayed: 0 });
      },
    );
  });

  test('a receiver that does not answer never holds up a push', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((ok) => (release = ok));
    await withServer(
      (r) => ({ webhooks: [{ url: r.url, events: ['manifest.pushed'] }], webhooksDelivery: { ...FAST, concurrency: 2 } }),
      async (server, receiver) => {
        receiver.answer = async () => {
          await gate;
          return 200;
        };
        const repos = ['slow/a', 'slow/b', 'slow/c'];
        for (let i = 0; i < 6; i++) await Promise.all(repos.map((repo) => pushImage(server.url, repo, `t${i}`)));
        // Every push completed while not one delivery had been answered.
        assert.equal(receiver.delivered.length, 0);
        assert.ok(receiver.requests.length <= 2, `at most concurrency (2) requests in flight, saw ${receiver.requests.length}`);
        release();
        await receiver.until('every event', () => receiver.delivered.length === 18);
        for (const repo of repos) assert.deepEqual(tagsOf(receiver.deliveredFor(repo)), ['t0', 't1', 't2', 't3', 't4', 't5']);
      },
    );
  });
});

describe('webhook admin endpoints', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      auth: {
        mode: 'basic',
        users: { root: HASH, dev: HASH },
        access: [{ repository: '**', grants: { root: ['pull', 'push', 'delete', 'catalog', 'admin'], dev: ['pull', 'push', 'delete', 'catalog'] } }],
      },
    });
  });
  after(() => server.destroy());

  test('need the admin action', async () => {
    for (const [method, path] of [['GET', 'dead'], ['POST', 'dead/replay']] as const) {
      const url = `${server.url}/_unireg/webhooks/${path}`;
      await expectError(await fetch(url, { method }), 401, 'UNAUTHORIZED');
      await expectError(await fetch(url, { method, headers: { Authorization: basic('dev') } }), 403, 'DENIED');
      assert.equal((await fetch(url, { method, headers: { Authorization: basic('root') } })).status, 200);
    }
  });

  test('the dead-letter list is empty without webhooks, and refuses a foreign cursor', async () => {
    const headers = { Authorization: basic('root') };
    const res = await fetch(`${server.url}/_unireg/webhooks/dead`, { headers });
    assert.deepEqual(await res.json(), { events: [] });
    const bad = await fetch(`${server.url}/_unireg/webhooks/dead?last=bm9wZQ`, { headers });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BAD_REQUEST');
  });
});
