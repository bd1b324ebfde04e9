/**
 * Webhook events survive a crash: a real `unireg serve` process is killed
 * with SIGKILL while events are queued and deliveries are in flight, then
 * started again over the same data. Delivery is at-least-once: every event
 * arrives (answered 2xx) after the restart; an event whose delivery was cut
 * by the crash arrives again with the same CloudEvents `id` and the same bytes,
 * so receivers deduplicate by id. Each repository's events still arrive in
 * push order (counting each id at its first successful delivery).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { kill9, serveProcess } from '../helpers/cli.js';
import { pushImage } from '../helpers/oci.js';
import { makeRoot } from '../helpers/server.js';
import { WebhookReceiver, type Delivery } from '../helpers/webhook-receiver.js';


let root: string | undefined;
let child: ChildProcess | undefined;
let receiver: WebhookReceiver | undefined;
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await receiver?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Starts `unireg serve --config FILE`; resolves with its base URL once it listens. */
async function serve(config: string): Promise<{ proc: ChildProcess; url: string }> {
  const started = await serveProcess(['--config', config]);
  child = started.proc;
  return started;
}

test('kill -9 with events queued and in flight: after a restart every event arrives, duplicates with the same id and body', { timeout: 120_000 }, async () => {
  root = await makeRoot();
  receiver = await WebhookReceiver.start();
  const config = join(root, 'unireg.yaml');
  await writeFile(
    config,
    stringify({
      http: { addr: '127.0.0.1:0' },
      storage: { root: join(root, 'data') },
      log: { level: 'info' },
      webhooks: [{ url: receiver.url, events: ['manifest.pushed'], secret: 's3cret' }],
      webhooksDelivery: { backoff: '10ms', maxBackoff: '50ms', timeout: '60s', concurrency: 3 },
    }),
  );
  // The first 4 deliveries are taken; later ones are held open, as by a stuck receiver, until the crash.
  receiver.answer = (d) => (receiver!.requests.indexOf(d) < 4 ? 200 : 'hang');
  const first = await serve(config);
  const repos = ['crash/a', 'crash/b', 'crash/c'];
  const pushed = new Map<string, string[]>(repos.map((r) => [r, []])); // repo → manifest digests in push order
  await Promise.all(
    repos.map(async (repo) => {
      for (let i = 0; i < 5; i++) pushed.get(repo)!.push((await pushImage(first.url, repo, `t${i}`)).digest);
    }),
  );
  // Some deliveries done, some in flight (held), the rest queued behind them.
  await receiver.until('deliveries in flight', () => receiver!.requests.length >= 5);
  const inFlight = receiver.requests.slice(4).map((d) => d.event.id);
  assert.ok(receiver.delivered.length < 15, 'events are still pending at the kill');
  await kill9(first.proc);
  receiver.dropHung();
  receiver.answer = () => 200;

  const second = await serve(config);
  const all = [...pushed.values()].flat();
  const deliveredDigests = () => new Set(receiver!.delivered.map((d) => d.event.data.digest));
  await receiver.until('every event after the restart', () => all.every((digest) => deliveredDigests().has(digest)));

  // Every id always carries the same bytes; one id per event.
  const byId = new Map<string, Delivery[]>();
  for (const d of receiver.requests) byId.set(d.event.id, [...(byId.get(d.event.id) ?? []), d]);
  for (const [id, copies] of byId) for (const c of copies) assert.ok(c.body.equals(copies[0]!.body), `event ${id}: every copy has the same body`);
  assert.equal(byId.size, all.length, 'one CloudEvents id per pushed manifest');
  // What the crash cut off arrives again, same id, answered this time.
  for (const id of inFlight) assert.ok(receiver.delivered.some((d) => d.event.id === id), `in-flight event ${id} delivered after the restart`);
  // Order per repository, counting each id at its first delivery.
  for (const repo of repos) {
    const seen: string[] = [];
    for (const d of receiver.deliveredFor(repo)) if (!seen.includes(String(d.event.data.digest))) seen.push(String(d.event.data.digest));
    assert.deepEqual(seen, pushed.get(repo), `${repo} in push order`);
  }
  const exited = once(second.proc, 'exit');
  second.proc.kill('SIGTERM');
  await exited;
});
