/**
 * Garbage collection over a real server (real LevelDB, real files): mark and
 * sweep, dry run, grace, untagged manifests, shared blobs, referrers, indexes,
 * a pack whose final write failed, one GC at a time.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../src/oci/digest.js';
import { GcRunningError } from '../../src/domain/errors.js';
import { GarbageCollector } from '../../src/gc/collector.js';
import { PackService } from '../../src/unikernel/pack-service.js';
import { blobFiles, gcOverHttp, pullCompletely } from '../helpers/gc.js';
import {
  buildIndex,
  MT,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  repoName,
  sha256,
} from '../helpers/oci.js';
import { makeRoot, startTestServer, type TestServer } from '../helpers/server.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { utimes } from 'node:fs/promises';
import { waitFor } from '../helpers/tools.js';

const servers: TestServer[] = [];
after(async () => {
  for (const srv of servers) await srv.destroy();
});

async function server(gc: { grace?: string; untagged?: string; schedule?: string }): Promise<TestServer> {
  const srv = await startTestServer({ gc });
  servers.push(srv);
  return srv;
}

const del = (base: string, path: string) => fetch(`${base}${path}`, { method: 'DELETE' });

describe('gc: mark and sweep (untagged manifests kept)', () => {
  test('unreferenced links and files go, tagged and untagged images stay; dry run reports exactly that', async () => {
    const srv = await server({ grace: '0s' });
    const repo = repoName('gc-keep');
    const kept = await pushImage(srv.url, repo, 'v1', { layers: 2 });
    const untagged = await pushImage(srv.url, repo, undefined, { layers: 1 });
    const deleted = await pushImage(srv.url, repo, 'v2', { layers: 2 });
    assert.equal((await del(srv.url, `/v2/${repo}/manifests/${deleted.digest}`)).status, 202);
    const stray = randomBlob(77);
    const strayDigest = await pushBlob(srv.url, repo, stray);
    const garbage = new Set([sha256(deleted.config), ...deleted.layers.map((l) => sha256(l)), strayDigest]);

    const before = await blobFiles(srv);
    const dry = await gcOverHttp(srv.url, { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(new Set(dry.blobs!.map((b) => b.digest)), garbage);
    assert.deepEqual(new Set(dry.links!.map((l) => l.digest)), garbage);
    assert.equal(dry.manifestsDeleted, 0);
    assert.equal(dry.bytesFreed, deleted.config.length + deleted.layers.reduce((n, l) => n + l.length, 0) + stray.length);
    assert.deepEqual(await blobFiles(srv), before, 'a dry run deletes nothing');

    const real = await gcOverHttp(srv.url);
    assert.equal(real.dryRun, false);
    assert.equal(real.blobs, undefined, 'lists only in a dry run');
    assert.deepEqual(
      [real.blobsDeleted, real.linksDeleted, real.bytesFreed, real.manifestsDeleted],
      [dry.blobsDeleted, dry.linksDeleted, dry.bytesFreed, 0],
    );
    assert.ok(real.durationMs >= 0);
    const after = await blobFiles(srv);
    for (const d of garbage) assert.ok(!after.has(d), `${d} removed`);
    assert.equal(after.size, before.size - garbage.size);
    await pullCompletely(srv.url, repo, 'v1');
    await pullCompletely(srv.url, repo, untagged.digest);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/${strayDigest}`)).status, 404);
    assert.ok(kept);

    const again = await gcOverHttp(srv.url);
    assert.deepEqual([again.blobsDeleted, again.linksDeleted, again.manifestsDeleted], [0, 0, 0], 'a second GC finds nothing');
  });

  test('a blob shared by two repositories loses only the link of the one that dropped it', async () => {
    const srv = await server({ grace: '0s' });
    const [a, b] = [repoName('gc-share-a'), repoName('gc-share-b')];
    const shared = randomBlob(300);
    const config = randomBlob(20);
    const otherConfig = randomBlob(21);
    const manifest = (cfg: Buffer) => ({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256(cfg), size: cfg.length },
      layers: [{ mediaType: MT.ociLayer, digest: sha256(shared), size: shared.length }],
    });
    for (const [repo, cfg] of [[a, config], [b, otherConfig]] as const) {
      await pushBlob(srv.url, repo, cfg);
      await pushBlob(srv.url, repo, shared);
    }
    const da = await pushManifest(srv.url, a, 'v1', manifest(config));
    await pushManifest(srv.url, b, 'v1', manifest(otherConfig));
    assert.equal((await del(srv.url, `/v2/${a}/manifests/${da}`)).status, 202);
    const report = await gcOverHttp(srv.url);
    assert.equal(report.linksDeleted, 2, 'a loses its config and layer links');
    assert.equal(report.blobsDeleted, 1, 'only a’s config file goes');
    assert.equal((await fetch(`${srv.url}/v2/${a}/blobs/${sha256(shared)}`)).status, 404);
    await pullCompletely(srv.url, b, 'v1');
  });

  test('links and manifests written before GC existed read as time 0: old enough for any grace period', async () => {
    const root = await makeRoot();
    let srv = await startTestServer({ gc: { grace: '1h' } }, root);
    const repo = repoName('gc-legacy');
    const image = await pushImage(srv.url, repo, 'v1');
    const stray = (await pushBlob(srv.url, repo, randomBlob(40))) as Digest;
    const layout = srv.registry.deps.layout;
    await srv.stop();
    // Rewrite the records as the previous version stored them: a link holds its size, a manifest header has no pushedAt.
    const kv = new LevelKv(layout.metaDir);
    await kv.open();
    await kv.batch([{ type: 'put', key: keys.link(repo, stray), value: Buffer.from('40') }]);
    const m = await kv.get(keys.manifest(repo, image.digest));
    const headLen = m!.readUInt32BE(0);
    const head = JSON.parse(m!.subarray(4, 4 + headLen).toString()) as Record<string, unknown>;
    delete head.pushedAt;
    const newHead = Buffer.from(JSON.stringify(head));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(newHead.length);
    await kv.batch([{ type: 'put', key: keys.manifest(repo, image.digest), value: Buffer.concat([len, newHead, m!.subarray(4 + headLen)]) }]);
    await kv.close();
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(layout.blobPath(stray), old, old);

    srv = await startTestServer({ gc: { grace: '1h' } }, root);
    servers.push(srv);
    assert.deepEqual(await srv.registry.deps.meta.getLink(repo, stray), { digest: stray, size: 40, linkedAt: 0, touchedAt: 0 });
    assert.equal((await srv.registry.deps.meta.getManifest(repo, image.digest as Digest))?.pushedAt, 0);
    const report = await gcOverHttp(srv.url);
    assert.deepEqual([report.linksDeleted, report.blobsDeleted], [1, 1], 'the old stray blob goes despite the 1h grace');
    await pullCompletely(srv.url, repo, 'v1');
  });
});

describe('gc: grace', () => {
  test('nothing uploaded, linked or touched within the grace period goes; it does once the period has passed', async () => {
    const srv = await server({ grace: '3s' });
    const repo = repoName('gc-grace');
    const image = await pushImage(srv.url, repo, 'v1');
    const stray = await pushBlob(srv.url, repo, randomBlob(50));
    assert.equal((await del(srv.url, `/v2/${repo}/manifests/v1`)).status, 202);
    const first = await gcOverHttp(srv.url);
    assert.deepEqual([first.blobsDeleted, first.linksDeleted], [0, 0], 'all of it is younger than the grace period');

    await sleep(3100);
    // A manifest PUT touches the links it references: they get a new grace period.
    const config = sha256(image.config);
    const layer = sha256(image.layers[0]!);
    const again = await pushManifest(srv.url, repo, 'v2', image.bytes);
    assert.equal((await del(srv.url, `/v2/${repo}/manifests/${again}`)).status, 202);
    const second = await gcOverHttp(srv.url);
    assert.deepEqual(second.blobsDeleted, 1, 'only the stray blob: the touched ones keep their grace');
    const files = await blobFiles(srv);
    assert.ok(!files.has(stray) && files.has(config) && files.has(layer));

    await sleep(3100);
    const third = await gcOverHttp(srv.url);
    assert.equal(third.blobsDeleted, 2);
    assert.ok(!(await blobFiles(srv)).has(layer));
  });
});

describe('gc: untagged manifests', () => {
  test('gc.untagged 0s: manifests no tag, index or subject reaches go with their referrers; the rest stays', async () => {
    const srv = await server({ grace: '0s', untagged: '0s' });
    const repo = repoName('gc-untagged');
    const old = await pushImage(srv.url, repo, 'latest');
    const current = await pushImage(srv.url, repo, 'latest'); // moves the tag: `old` is untagged now
    const oldSig = await pushImage(srv.url, repo, undefined, { artifactType: 'application/x-sig', subject: old.descriptor });
    const curSig = await pushImage(srv.url, repo, undefined, { artifactType: 'application/x-sig', subject: current.descriptor });
    const childA = await pushImage(srv.url, repo);
    const childB = await pushImage(srv.url, repo);
    await pushManifest(srv.url, repo, 'multi', buildIndex([childA.descriptor, childB.descriptor]), MT.ociIndex);
    // A tagged referrer keeps its (untagged) subject.
    const subject = await pushImage(srv.url, repo);
    const tagSig = await pushImage(srv.url, repo, 'sig', { artifactType: 'application/x-sig', subject: subject.descriptor });

    const dry = await gcOverHttp(srv.url, { dryRun: true });
    const report = await gcOverHttp(srv.url);
    const gone = new Set([old.digest, oldSig.digest]);
    assert.deepEqual(new Set(dry.manifests!.map((m) => m.digest)), gone);
    assert.equal(report.manifestsDeleted, 2);
    assert.equal(report.blobsDeleted, dry.blobsDeleted);
    for (const d of gone) assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${d}`)).status, 404);
    for (const ref of ['latest', curSig.digest, 'multi', subject.digest, 'sig', tagSig.digest]) await pullCompletely(srv.url, repo, ref);
    const files = await blobFiles(srv);
    for (const b of [old.config, ...old.layers, oldSig.config, ...oldSig.layers]) assert.ok(!files.has(sha256(b)));
    const referrers = (await (await fetch(`${srv.url}/v2/${repo}/referrers/${old.digest}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(referrers.manifests, []);
  });

  test('a pack whose final write failed leaves its layers and manifest behind: GC collects them', async () => {
    const srv = await server({ grace: '0s', untagged: '0s' });
    const repo = repoName('gc-pack');
    const registry = srv.registry;
    const put = registry.manifests.put.bind(registry.manifests);
    registry.manifests.put = async (r, reference, ...rest) => {
      if (reference === 'v1') throw new Error('disk full (injected)');
      return put(r, reference, ...rest);
    };
    const kernel = randomBlob(4096);
    const before = await blobFiles(srv);
    try {
      const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = await mkdtemp(join(tmpdir(), 'unireg-gc-pack-'));
      try {
        await writeFile(join(dir, 'kernel'), kernel);
        await assert.rejects(
          new PackService(registry).pack({
            repo,
            displayName: `${srv.host}/${repo}`,
            tag: 'v1',
            arch: 'x86_64',
            plat: 'qemu',
            cmd: [],
            env: [],
            labels: [],
            kernel: { kind: 'file', path: join(dir, 'kernel') },
          }),
          /disk full/,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      registry.manifests.put = put;
    }
    const left = [...(await blobFiles(srv))].filter((d) => !before.has(d));
    assert.equal(left.length, 4, 'the kernel layer, the config, and the provenance statement with its empty config are stored');
    const manifests = await registry.deps.meta.listManifests(repo, { limit: 10 });
    assert.equal(manifests.length, 2, 'the variant manifest and its provenance referrer are stored, untagged');
    const report = await gcOverHttp(srv.url);
    assert.deepEqual([report.manifestsDeleted, report.linksDeleted, report.blobsDeleted], [2, 4, 4]);
    assert.deepEqual(await registry.deps.meta.listManifests(repo, { limit: 10 }), []);
    assert.deepEqual(await blobFiles(srv), before);
  });

  test('with untagged manifests kept, a pack that failed before its manifest still loses its layers', async () => {
    const srv = await server({ grace: '0s' });
    const repo = repoName('gc-pack-keep');
    const registry = srv.registry;
    const put = registry.manifests.put.bind(registry.manifests);
    registry.manifests.put = async () => {
      throw new Error('disk full (injected)');
    };
    const before = await blobFiles(srv);
    try {
      await assert.rejects(
        new PackService(registry).pack({
          repo,
          displayName: `${srv.host}/${repo}`,
          tag: 'v1',
          arch: 'x86_64',
          plat: 'qemu',
          cmd: [],
          env: [],
          labels: [],
          kernel: { kind: 'blob', digest: await pushBlob(srv.url, repo, randomBlob(1000)) },
        }),
        /disk full/,
      );
    } finally {
      registry.manifests.put = put;
    }
    const report = await gcOverHttp(srv.url);
    assert.equal(report.linksDeleted, 3, 'kernel blob, layer, config');
    assert.deepEqual(await blobFiles(srv), before);
  });
});

describe('gc: prelude', () => {
  test('the prelude (retention) runs inside the GC before the mark: what it untags is collected in the same run', async () => {
    const srv = await server({ grace: '0s', untagged: '0s' });
    const repo = repoName('gc-prelude');
    const image = await pushImage(srv.url, repo, 'old');
    const seen: boolean[] = [];
    const gc = new GarbageCollector(srv.registry.deps, async (dryRun) => {
      seen.push(dryRun);
      await srv.registry.manifests.delete(repo, 'old');
    });
    const report = await gc.run();
    assert.deepEqual(seen, [false]);
    assert.equal(report.manifestsDeleted, 1);
    assert.ok(!(await blobFiles(srv)).has(sha256(image.config)));
  });
});

describe('gc: schedule', () => {
  test('gc.schedule runs GC every interval', async () => {
    const srv = await server({ grace: '0s', schedule: '1s' });
    const digest = await pushBlob(srv.url, repoName('gc-schedule'), randomBlob(33));
    const collected = await waitFor(async () => !(await blobFiles(srv)).has(digest), 15_000, 100);
    assert.ok(collected, 'a scheduled GC removed the stray blob');
  });
});

describe('gc: one at a time', () => {
  test('a second run while one runs is refused with GcRunningError', async () => {
    const srv = await server({ grace: '0s' });
    await pushImage(srv.url, repoName('gc-one'), 'v1');
    const first = srv.registry.gc.run();
    await assert.rejects(srv.registry.gc.run(), GcRunningError);
    await first;
    await srv.registry.gc.run();
  });
});
