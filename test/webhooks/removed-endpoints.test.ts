/**
 * An endpoint removed from the configuration: at the next start-up its pending and dead events are dropped
 * from the store (in batches), a log line per queue says how many, and the queues of endpoints still
 * configured are left as they were. Real servers over one data root, restarted with a new config; the
 * receivers are closed ports, so events stay queued (long backoff) or die (maxAttempts 1).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { pino, type Logger } from 'pino';
import type { MetadataStore } from '../../src/storage/types.js';
import { configSchema } from '../../src/config/schema.js';
import { WebhookEvents, endpointId } from '../../src/webhooks/events.js';
import { dropRemovedEndpoints } from '../../src/webhooks/removed-endpoints.js';
import { captureLogs } from '../helpers/auth-http.js';
import { pushImage } from '../helpers/oci.js';
import { freePort } from '../helpers/ports.js';
import { makeRoot, startTestServer, type Overrides, type TestServer } from '../helpers/server.js';

const roots: string[] = [];
const started: TestServer[] = [];
after(async () => {
  // A failed assertion leaves its server running: stop every one (stopping twice is harmless).
  for (const s of started) await s.stop().catch(() => undefined);
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function start(overrides: Overrides, root: string, logger?: Logger): Promise<TestServer> {
  const s = await startTestServer(overrides, root, logger);
  started.push(s);
  return s;
}

interface Counts {
  pending: number;
  dead: number;
}

async function counts(meta: MetadataStore, endpoint: string): Promise<Counts> {
  const pending = await meta.listPendingEvents(endpoint, { limit: 10_000 });
  const dead = (await meta.listDeadEvents({ limit: 10_000 })).filter((e) => e.endpoint === endpoint);
  return { pending: pending.length, dead: dead.length };
}

async function waitFor(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await done()) return;
    await sleep(50);
  }
  assert.fail(`still waiting for ${what}`);
}

function config(urls: string[], delivery: Record<string, unknown>): Overrides {
  return { webhooks: urls.map((url) => ({ url })), webhooksDelivery: delivery } as Overrides;
}

test('an endpoint removed from the config: its pending and dead events are dropped at start-up, others kept', { timeout: 60_000 }, async () => {
  let srv: TestServer;
  const root = await makeRoot();
  roots.push(root);
  const urlA = `http://127.0.0.1:${await freePort()}/a`;
  const urlC = `http://127.0.0.1:${await freePort()}/c`;
  const [a, c] = [endpointId(urlA), endpointId(urlC)];

  // Run 1: every delivery fails once and is dead-lettered.
  srv = await start(config([urlA, urlC], { maxAttempts: 1, backoff: '10ms', timeout: '2s' }), root);
  for (let i = 0; i < 2; i++) await pushImage(srv.url, 'removed/one', `t${i}`);
  const meta1 = srv.registry.deps.meta;
  await waitFor('every event dead', async () => {
    const [ca, cc] = [await counts(meta1, a), await counts(meta1, c)];
    return ca.pending === 0 && cc.pending === 0 && ca.dead > 0 && ca.dead === cc.dead;
  });
  await srv.stop();

  // Run 2: more events, which stay pending (a first failure, then an hour's backoff).
  srv = await start(config([urlA, urlC], { maxAttempts: 5, backoff: '1h', maxBackoff: '1h', timeout: '2s' }), root);
  await pushImage(srv.url, 'removed/two', 'v1');
  const queuedA = await counts(srv.registry.deps.meta, a);
  const queuedC = await counts(srv.registry.deps.meta, c);
  assert.ok(queuedA.pending > 0 && queuedA.dead > 0, `A has pending and dead events: ${JSON.stringify(queuedA)}`);
  assert.deepEqual(queuedC, queuedA);
  await srv.stop();

  // Run 3: A removed.
  const logs = captureLogs();
  srv = await start(config([urlC], { maxAttempts: 5, backoff: '1h', maxBackoff: '1h', timeout: '2s' }), root, logs.logger);
  const meta3 = srv.registry.deps.meta;
  assert.deepEqual(await counts(meta3, a), { pending: 0, dead: 0 });
  assert.deepEqual(await meta3.listEventQueues(), [c]);
  assert.deepEqual(await counts(meta3, c), queuedC, 'the configured endpoint keeps its queue');
  const lines = logs
    .text()
    .split('\n')
    .filter((l) => l.includes('no longer configured'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 1, logs.text());
  assert.equal(lines[0]!.endpoint, a);
  assert.equal(lines[0]!.pending, queuedA.pending);
  assert.equal(lines[0]!.dead, queuedA.dead);
  assert.equal(lines[0]!.level, 40);
  await srv.stop();

  // Run 4: no webhooks at all (delivery off): C's queue goes too.
  srv = await start({}, root);
  assert.deepEqual(await srv.registry.deps.meta.listEventQueues(), []);
  await srv.stop();
});

test('dropping goes in batches of the given size and stops at the end of the queue', async () => {
  let srv: TestServer;
  const root = await makeRoot();
  roots.push(root);
  srv = await start({}, root);
  const meta = srv.registry.deps.meta;
  const body = Buffer.from('{}');
  const gone = endpointId('http://127.0.0.1:1/gone');
  const kept = endpointId('http://127.0.0.1:1/kept');
  await meta.enqueueEvents(Array.from({ length: 7 }, (_, i) => ({ endpoint: gone, repo: `r${i % 2}`, body })));
  await meta.enqueueEvents([{ endpoint: kept, repo: 'r', body }]);
  const [first] = await meta.listPendingEvents(gone, { limit: 1 });
  assert.equal(await meta.deadLetterEvent(first!.key, { attempts: 1, lastError: 'x' }), true);
  assert.deepEqual(await meta.listEventQueues(), [gone, kept].sort());

  const calls: number[] = [];
  const counting: MetadataStore = Object.create(meta, {
    dropEventQueue: {
      value: async (endpoint: string, limit: number) => {
        const step = await meta.dropEventQueue(endpoint, limit);
        calls.push(step.pending + step.dead);
        return step;
      },
    },
  }) as MetadataStore;
  const cfg = configSchema.parse({ storage: { root }, webhooks: [{ url: 'http://127.0.0.1:1/kept' }] });
  const events = new WebhookEvents(cfg.webhooks, cfg.webhooksDelivery.source);
  const dropped = await dropRemovedEndpoints(counting, events, pino({ level: 'silent' }), 3);
  assert.deepEqual(dropped, [{ endpoint: gone, pending: 6, dead: 1 }]);
  assert.deepEqual(calls, [3, 3, 1]);
  assert.deepEqual(await meta.listEventQueues(), [kept]);
  assert.deepEqual(await counts(meta, kept), { pending: 1, dead: 0 });
  await srv.stop();
});
