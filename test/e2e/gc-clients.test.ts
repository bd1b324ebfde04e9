/**
 * GC with real clients: skopeo pushes three images (one a multi-arch index),
 * skopeo deletes one, `unireg gc` (the CLI, a real process) collects it, and
 * podman pulls every image that remains; every remaining tag also pulls
 * completely over HTTP. `du` of the blob directory before and after is printed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { blobFiles, pullCompletely } from '../helpers/gc.js';
import { dockerConvertibleImage, multiArchIndex, multiLayerImage, allBlobs, type Layout, type Image, type ImageIndex } from '../helpers/images.js';
import { makePodmanState, runPodman } from '../helpers/podman.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, gateFor, removeScratch, run } from '../helpers/tools.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const gate = await gateFor({ tools: ['podman', 'skopeo', 'du'], root: true });
const TIMEOUT = { timeout: 240_000 };

async function du(dir: string): Promise<number> {
  const r = await run('du', ['-sb', dir]);
  return Number(r.stdout.split(/\s+/)[0]);
}

describe('gc with skopeo, unireg gc and podman', { concurrency: false }, () => {
  let srv: TestServer;
  let state: string;
  let small: Layout<Image>;
  let doomed: Layout<Image>;
  let multi: Layout<ImageIndex>;
  const seed = `gc-${randomUUID()}`;
  const skopeo = (...args: string[]) => run('skopeo', args, { timeout: 90_000 });

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer({ gc: { grace: '0s' } });
    state = await makePodmanState('/tmp/unireg-gc-podman-');
    small = await multiLayerImage(join(state, 'layouts', 'small'), seed);
    doomed = await dockerConvertibleImage(join(state, 'layouts', 'doomed'), seed);
    multi = await multiArchIndex(join(state, 'layouts', 'multi'), seed);
  });

  after(async () => {
    if (srv) await srv.destroy();
    await removeScratch(state);
  });

  test('push, delete a tag, GC, pull everything that remains', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const reg = (ref: string) => `docker://${srv.host}/${ref}`;
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', small.transport, reg('e2e/gc/small:v1'));
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', doomed.transport, reg('e2e/gc/doomed:v1'));
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', '--all', multi.transport, reg('e2e/gc/multi:v1'));
    await skopeo('delete', '--tls-verify=false', reg('e2e/gc/doomed:v1'));

    const blobsDir = join(srv.root, 'blobs');
    const before = await du(blobsDir);
    const dry = await run(process.execPath, [CLI, 'gc', '--dry-run', srv.host]);
    assert.match(dry.stdout, /^dry run: would remove [1-9]\d* blob\(s\)/, describeRun(dry));
    assert.equal(await du(blobsDir), before, 'a dry run removes nothing');
    const real = await run(process.execPath, [CLI, 'gc', '--json', srv.host]);
    const report = JSON.parse(real.stdout) as { blobsDeleted: number; bytesFreed: number };
    const afterGc = await du(blobsDir);
    t.diagnostic(`du -sb blobs: before ${before} B, after ${afterGc} B; GC reported ${report.blobsDeleted} blobs, ${report.bytesFreed} B freed`);

    const doomedOnly = allBlobs(doomed.content).filter((b) => b.digest !== doomed.top.digest);
    assert.equal(report.blobsDeleted, doomedOnly.length, 'exactly the deleted image’s config and layers');
    assert.equal(report.bytesFreed, doomedOnly.reduce((n, b) => n + b.bytes.length, 0));
    assert.ok(afterGc < before);
    const files = await blobFiles(srv);
    for (const b of doomedOnly) assert.ok(!files.has(b.digest), `${b.digest} removed`);

    await pullCompletely(srv.url, 'e2e/gc/small', 'v1');
    await pullCompletely(srv.url, 'e2e/gc/multi', 'v1');
    const podman = (...args: string[]) => runPodman(state, args);
    await podman('pull', '--tls-verify=false', `${srv.host}/e2e/gc/small:v1`);
    await podman('pull', '--tls-verify=false', '--arch', 'amd64', `${srv.host}/e2e/gc/multi:v1`);
    await podman('pull', '--tls-verify=false', '--arch', 'arm64', '--variant', 'v8', `${srv.host}/e2e/gc/multi:v1`);
    const gone = await podman('pull', '--tls-verify=false', `${srv.host}/e2e/gc/doomed:v1`).catch((err: Error) => err);
    assert.ok(gone instanceof Error, 'the deleted image no longer pulls');
  });
});
