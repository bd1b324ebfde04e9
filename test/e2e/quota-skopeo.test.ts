/**
 * Quotas with a real client: skopeo pushes an image into a namespace, pushes
 * the same image to a second repository of it (counted once), and is refused
 * a different image that would take the namespace over, with the registry's
 * quota message on its stderr. `unireg usage` then shows the namespace's bytes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allBlobs, makeImage, writeOciLayout, type Image, type Layout } from '../helpers/images.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor(['skopeo']);

describe('quotas: skopeo pushes', { concurrency: false }, () => {
  let srv: TestServer;
  let work: string;
  let first: Layout<Image>;
  let second: Layout<Image>;
  let firstBytes: number;

  const copy = (src: string, dest: string) =>
    run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', src, `docker://${srv.host}/${dest}`], { timeout: 90_000, allowFailure: true });

  before(async () => {
    if (gate.blocked) return;
    work = await mkdtemp(join(tmpdir(), 'unireg-quota-'));
    const seed = `quota-${randomUUID()}`;
    first = await writeOciLayout(join(work, 'first'), 'latest', makeImage(`${seed}/first`));
    second = await writeOciLayout(join(work, 'second'), 'latest', makeImage(`${seed}/second`));
    firstBytes = allBlobs(first.content).reduce((sum, b) => sum + b.bytes.length, 0);
    // Room for the first image and a little more, not for the second's layers.
    srv = await startTestServer({ quotas: [{ repository: 'q/**', bytes: firstBytes + 200 }] });
  });
  after(async () => {
    await srv?.destroy();
    await removeScratch(work);
  });

  test('an image fits, the same image again counts once, another one is refused with the quota message', { timeout: 180_000 }, async (t) => {
    if (!gate.check(t)) return;
    const ok = await copy(first.transport, 'q/a:v1');
    assert.equal(ok.code, 0, ok.stderr);
    const again = await copy(first.transport, 'q/b:v1');
    assert.equal(again.code, 0, again.stderr);
    const refused = await copy(second.transport, 'q/c:v1');
    assert.notEqual(refused.code, 0, 'the second image must be refused');
    assert.match(refused.stderr, /quota exceeded: repositories q\/\*\* use \d+ of \d+ bytes/);
    const usage = await runCli(['usage', '--json', srv.host]);
    assert.equal(usage.code, 0, usage.stderr);
    const [ns] = (JSON.parse(usage.stdout) as { namespaces: { namespace: string; used: number }[] }).namespaces;
    assert.deepEqual(ns && { namespace: ns.namespace, used: ns.used }, { namespace: 'q/**', used: firstBytes });
  });
});
