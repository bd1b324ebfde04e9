/**
 * Real clients and real failures against three replicas on S3 (radosgw) +
 * PostgreSQL behind nginx round robin:
 * - skopeo, podman and docker push and pull through the balancer, with identical digests;
 * - `unireg pack` of three variants to one tag from three concurrent clients merges
 *   to one index with the three variants;
 * - chaos: kill -9 of one replica during 20 concurrent pushes (clients retry as real
 *   clients do: a failed blob upload is started again, a failed manifest PUT resent);
 *   every acknowledged push then pulls with identical digests, and a GC with grace 0
 *   leaves every blob in the bucket referenced by a manifest and every referenced blob there;
 * - `unireg copy-storage` fs+level → s3+postgres → fs+level, each copy served with
 *   identical digests (the first one by three replicas).
 * Figures (chaos time, copy throughput) are printed as `#` lines.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { openCopyStores } from '../../src/maintenance/copy-stores.js';
import type { Digest } from '../../src/oci/digest.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { CLI, runCli, serveProcess } from '../helpers/cli.js';
import { PrivateDockerd } from '../helpers/dockerd.js';
import { gcOverHttp, pullCompletely } from '../helpers/gc.js';
import { dockerConvertibleImage, expectManifest, multiArchIndex, multiLayerImage, readDirImage, sha256 } from '../helpers/images.js';
import { abs, bin, buildImage, pushBlob, randomBlob, randomConfig, withQuery, type Image } from '../helpers/oci.js';
import { dotConfig, pack } from '../helpers/kraft.js';
import { makePodmanState, runPodman } from '../helpers/podman.js';
import { usePostgres } from '../helpers/postgres.js';
import { replicatedConfig, replicasOf, startReplicatedTestServer, type ReplicatedTarget } from '../helpers/replicated-server.js';
import { startReplicas } from '../helpers/replicas.js';
import { pushContent, snapshot } from '../helpers/registry-content.js';
import { s3Engine } from '../helpers/s3.js';
import type { TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run, skipOrFail } from '../helpers/tools.js';

const pg = usePostgres();
const s3 = s3Engine();
const TIMEOUT = { timeout: 300_000 };
const work = await mkdtemp(join(tmpdir(), 'unireg-replicas-'));
after(async () => {
  await srv?.stop();
  await removeScratch(work);
});

let target: ReplicatedTarget;
/** The three replicas (GC grace 0) the client tests share, started by the first test that runs. */
let srv: TestServer | undefined;

/**
 * True when the engines and nginx are there (every root hook has run once a test runs), after
 * starting the shared replicas; otherwise skips the test (fails it in CI).
 */
async function ready(t: TestContext): Promise<boolean> {
  const reason = (await gateFor(['nginx'])).blocked ?? pg.gate.blocked ?? s3.gate.blocked;
  if (reason !== undefined) {
    skipOrFail(t, reason);
    return false;
  }
  const { prefix: _unused, ...bucket } = s3.settings();
  target ??= { postgresUrl: pg.server().url, s3: bucket, count: 3 };
  srv ??= await startReplicatedTestServer(target, { gc: { grace: '0s' } }, join(work, 'main'));
  return true;
}

describe('clients through the balancer', { concurrency: false }, () => {
  const seed = `replicas-${randomUUID()}`;
  const skopeo = (...args: string[]) => run('skopeo', args, { timeout: 120_000 });

  test('skopeo pushes an image and a multi-arch index and pulls them back byte for byte', TIMEOUT, async (t) => {
    if (!(await ready(t)) || !(await gateFor(['skopeo'])).check(t)) return;
    const image = await multiLayerImage(join(work, 'skopeo-image'), seed);
    const index = await multiArchIndex(join(work, 'skopeo-index'), seed);
    const digestFile = join(work, 'skopeo-digest');
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, image.transport, `docker://${srv!.host}/clients/skopeo:v1`);
    assert.equal((await readFile(digestFile, 'utf8')).trim(), image.top.digest);
    await skopeo('copy', '--quiet', '--all', '--dest-tls-verify=false', index.transport, `docker://${srv!.host}/clients/skopeo:multi`);
    await expectManifest(srv!.url, 'clients/skopeo', 'multi', { digest: index.top.digest });
    const out = join(work, 'skopeo-pulled');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${srv!.host}/clients/skopeo:v1`, `dir:${out}`);
    const pulled = await readDirImage(out);
    assert.equal(sha256(pulled.manifest), image.top.digest);
    for (const [digest, bytes] of pulled.blobs) assert.equal(sha256(bytes), digest);
    assert.equal(pulled.blobs.size, image.content.layers.length + 1);
  });

  test('podman pulls, pushes to another repository and pulls back: same digest', TIMEOUT, async (t) => {
    if (!(await ready(t)) || !(await gateFor({ tools: ['podman', 'skopeo'], root: true })).check(t)) return;
    const state = await makePodmanState('/tmp/unireg-rpodman-');
    try {
      const podman = (...args: string[]) => runPodman(state, args);
      const image = await multiLayerImage(join(state, 'layout'), `${seed}-podman`);
      await skopeo('copy', '--quiet', '--dest-tls-verify=false', image.transport, `docker://${srv!.host}/clients/podman:src`);
      await podman('pull', '--quiet', '--tls-verify=false', `${srv!.host}/clients/podman:src`);
      const digestFile = join(state, 'digest');
      await podman('push', '--quiet', '--tls-verify=false', '--digestfile', digestFile, `${srv!.host}/clients/podman:src`, `${srv!.host}/clients/podman:pushed`);
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      await expectManifest(srv!.url, 'clients/podman', 'pushed', { digest: pushed });
      await podman('rmi', '--force', `${srv!.host}/clients/podman:src`, `${srv!.host}/clients/podman:pushed`);
      await podman('pull', '--quiet', '--tls-verify=false', `${srv!.host}/clients/podman:pushed`);
      const [img] = JSON.parse((await podman('image', 'inspect', `${srv!.host}/clients/podman:pushed`)).stdout) as { Digest: string }[];
      assert.equal(img!.Digest, pushed);
      await pullCompletely(srv!.url, 'clients/podman', 'pushed');
    } finally {
      await removeScratch(state);
    }
  });

  test('docker pushes (chunked PATCHes) and pulls back: same digest', TIMEOUT, async (t) => {
    if (!(await ready(t)) || !(await gateFor({ tools: ['dockerd', 'docker', 'skopeo'], root: true })).check(t)) return;
    const dockerd = await PrivateDockerd.create();
    try {
      const notReady = await dockerd.start([srv!.host]);
      if (notReady) return skipOrFail(t, notReady);
      const docker = (...args: string[]) => run('docker', args, { timeout: 150_000, env: dockerd.env() });
      const image = await dockerConvertibleImage(join(dockerd.dir, 'layout'), `${seed}-docker`);
      const local = `local/replicas-${seed.slice(-8)}:v1`;
      await skopeo('copy', '--quiet', image.transport, `docker-archive:${join(dockerd.dir, 'image.tar')}:${local}`);
      await docker('load', '-i', join(dockerd.dir, 'image.tar'));
      const name = `${srv!.host}/clients/docker:v1`;
      await docker('tag', local, name);
      const push = await docker('push', name);
      const pushed = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      assert.ok(pushed, push.stdout);
      await expectManifest(srv!.url, 'clients/docker', 'v1', { digest: pushed });
      await docker('rmi', name, local);
      const pull = await docker('pull', name);
      assert.equal(/Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout)?.[1], pushed);
      await pullCompletely(srv!.url, 'clients/docker', 'v1');
    } finally {
      await dockerd.stop();
    }
  });

  test('three concurrent `unireg pack` of three variants to one tag merge into one index of three', TIMEOUT, async (t) => {
    if (!(await ready(t))) return;
    const variants = [
      ['x86_64', 'qemu'],
      ['arm64', 'qemu'],
      ['x86_64', 'fc'],
    ];
    const results = await Promise.all(
      variants.map(async ([arch, plat], i) => {
        const kernel = join(work, `kernel-${i}`);
        await writeFile(kernel, randomBlob(256 * 1024 + i));
        return run(process.execPath, [CLI, 'pack', '--json', '--kernel', kernel, '--arch', arch!, '--plat', plat!, `${srv!.host}/clients/packed:v1`], { allowFailure: true, timeout: 120_000 });
      }),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const res = await fetch(`${srv!.url}/v2/clients/packed/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(res.status, 200);
    const index = (await res.json()) as { manifests: { platform: { architecture: string; os: string } }[] };
    const platforms = index.manifests.map((m) => `${m.platform.architecture}/${m.platform.os}`).sort();
    assert.deepEqual(platforms, ['arm64/qemu', 'x86_64/fc', 'x86_64/qemu']);
    await pullCompletely(srv!.url, 'clients/packed', 'v1');
  });

  test('twelve concurrent pack requests, spread over the replicas, merge into twelve variants of one tag', TIMEOUT, async (t) => {
    if (!(await ready(t))) return;
    // Same platform, different kconfig features: twelve variants the merge must all keep.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => pack(srv!.url, 'clients/packed-many', { kernel: randomBlob(4096 + i), kconfig: dotConfig([`CONFIG_VARIANT_${i}=y`]), arch: 'x86_64', plat: 'qemu', tag: 'v1' })),
    );
    for (const res of results) assert.equal(res.status, 201, await res.text());
    const res = await fetch(`${srv!.url}/v2/clients/packed-many/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    const index = (await res.json()) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 12, 'a variant was lost: two merges of the tag ran at once on different replicas');
  });
});

/** One push as a client that retries does it: each blob upload started again on failure, the manifest resent. */
async function pushRetrying(base: string, repo: string, tag: string, image: Image, log: string[], onBlob: () => void): Promise<boolean> {
  const attempt = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    for (let i = 1; ; i++) {
      try {
        return await step();
      } catch (err) {
        log.push(`${repo} ${what} attempt ${i}: ${(err as Error).message}`);
        if (i === 6) throw err;
        await new Promise((r) => setTimeout(r, 200 * i));
      }
    }
  };
  const ok = (res: Response, status: number, what: string) => {
    if (res.status !== status) throw new Error(`${what}: ${res.status}`);
    return res;
  };
  for (const blob of [image.config, ...image.layers]) {
    await attempt(`blob ${sha256(blob).slice(7, 19)}`, async () => {
      let location = abs(base, ok(await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 202, 'POST').headers.get('location'));
      const step = Math.ceil(blob.length / 4);
      for (let offset = 0; offset < blob.length; offset += step) {
        const chunk = blob.subarray(offset, Math.min(blob.length, offset + step));
        const res = ok(
          await fetch(location, {
            method: 'PATCH',
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
            body: bin(chunk),
          }),
          202,
          'PATCH',
        );
        location = abs(base, res.headers.get('location'));
      }
      ok(await fetch(withQuery(location, { digest: sha256(blob) }), { method: 'PUT' }), 201, 'PUT');
    });
    onBlob();
  }
  await attempt('manifest', async () =>
    ok(await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': image.manifest.mediaType as string }, body: bin(image.bytes) }), 201, 'manifest PUT'),
  );
  return true;
}

describe('chaos: kill -9 of one replica during 20 concurrent pushes', () => {
  test('every acknowledged push pulls with identical digests; GC leaves no orphan', TIMEOUT, async (t) => {
    if (!(await ready(t))) return;
    const chaos = await startReplicatedTestServer(target, { gc: { grace: '0s' } }, join(work, 'chaos'));
    const replicas = replicasOf(chaos)!;
    try {
      const images = Array.from({ length: 20 }, () => buildImage(randomConfig(), [randomBlob(1 << 20), randomBlob(300 * 1024)]));
      const log: string[] = [];
      const started = Date.now();
      // Once a third of the blobs are in, kill one replica hard while the rest are in flight.
      let blobs = 0;
      let killed: Promise<void> | undefined;
      const onBlob = () => {
        if (++blobs === 20) killed = replicas.kill9(1);
      };
      const pushes = images.map((image, i) =>
        pushRetrying(chaos.url, `chaos/r${i}`, 'v1', image, log, onBlob).then(
          () => true,
          () => false,
        ),
      );
      const acked = await Promise.all(pushes);
      const ms = Date.now() - started;
      assert.ok(killed, 'the replica was killed during the pushes');
      await killed;
      const failures = log.length;
      process.stderr.write(`# chaos: 20 pushes of 3 blobs (1.3 MiB) with one replica killed: ${acked.filter(Boolean).length} acknowledged, ${failures} retried steps, ${ms} ms\n`);
      assert.ok(acked.filter(Boolean).length >= 18, `most pushes succeed with two replicas left:\n${log.join('\n')}`);
      assert.ok(failures > 0, 'the kill cut some requests (else it proved nothing)');
      for (const [i, image] of images.entries()) {
        if (!acked[i]) continue;
        await expectManifest(chaos.url, `chaos/r${i}`, 'v1', { digest: image.digest });
        const pulled = await pullCompletely(chaos.url, `chaos/r${i}`, 'v1');
        assert.equal(pulled.blobs.size, 3);
      }
      await replicas.restart(1);

      // A push abandoned before its manifest: its blob is linked but no manifest references it; GC removes it.
      const abandoned = randomBlob(4096);
      await pushBlob(chaos.url, 'chaos/abandoned', abandoned);
      const report = await gcOverHttp(chaos.url);
      assert.ok(report.blobsDeleted >= 1, `GC removed the abandoned blob: ${JSON.stringify(report)}`);
      process.stderr.write(`# chaos GC: ${JSON.stringify(report).slice(0, 300)}\n`);
      // The bucket and the metadata, read directly: every blob is referenced by a manifest, every referenced blob is there.
      const config = await replicatedConfig(target, join(work, 'chaos'), {});
      const file = join(work, 'chaos-stores.json');
      await writeFile(file, JSON.stringify(config));
      const { loadConfig } = await import('../../src/config/load.js');
      const stores = await openCopyStores(await loadConfig({ file, env: {} }), 'source');
      try {
        const meta = new KvMetadataStore(stores.kv);
        const referenced = new Set<string>();
        for (const repo of await meta.listRepositories({ limit: 10_000 })) {
          for (const m of await meta.listManifests(repo, { limit: 10_000 })) {
            const doc = JSON.parse(m.bytes.toString()) as { config?: { digest: string }; layers?: { digest: string }[] };
            for (const d of [doc.config?.digest, ...(doc.layers ?? []).map((l) => l.digest)]) if (d) referenced.add(d);
          }
        }
        const stored = new Set<string>();
        for await (const info of stores.blobs.list()) stored.add(info.digest);
        assert.deepEqual([...stored].filter((d) => !referenced.has(d)), [], 'orphan blobs in the bucket after GC');
        assert.deepEqual([...referenced].filter((d) => !stored.has(d as Digest)), [], 'referenced blobs missing from the bucket');
      } finally {
        await stores.close();
      }
    } finally {
      await chaos.stop();
    }
  });
});

describe('copy-storage: fs+level → s3+postgres → fs+level', () => {
  test('each copy is served with identical digests (the S3+PostgreSQL one by three replicas)', TIMEOUT, async (t) => {
    if (!(await ready(t))) return;
    const procs: ChildProcess[] = [];
    const stop = async (proc: ChildProcess) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      process.kill(proc.pid!, 'SIGTERM');
      await exited;
    };
    const fsConfig = async (name: string) => {
      const file = join(work, `${name}.yaml`);
      await writeFile(file, `http:\n  addr: 127.0.0.1:0\nstorage:\n  root: ${join(work, name)}\nlog:\n  level: info\n`);
      return file;
    };
    const serve = async (file: string) => {
      const started = await serveProcess(['--config', file]);
      procs.push(started.proc);
      return started;
    };
    try {
      const from = await fsConfig('copy-fs');
      const first = await serve(from);
      const pushed = await pushContent(first.url, 64 << 20);
      const original = await snapshot(first.url, pushed.repos);
      await stop(first.proc);

      const shared = join(work, 'copy-shared.json');
      await writeFile(shared, JSON.stringify(await replicatedConfig(target, join(work, 'copy-shared'), {})));
      const there = await runCli(['copy-storage', '--from', from, '--to', shared]);
      assert.equal(there.code, 0, there.stderr + there.stdout);
      process.stderr.write(`# copy-storage fs+level → s3+postgres: ${there.stdout.split('\n').filter((l) => /^(blobs|metadata|took)/.test(l)).join('; ')}\n`);
      const replicas = await startReplicas({ dir: join(work, 'copy-nginx'), config: shared, count: 3 });
      try {
        assert.deepEqual(await snapshot(replicas.url, pushed.repos), original);
      } finally {
        await replicas.stop();
      }

      const back = await fsConfig('copy-back');
      const home = await runCli(['copy-storage', '--from', shared, '--to', back, '--verify']);
      assert.equal(home.code, 0, home.stderr + home.stdout);
      process.stderr.write(`# copy-storage s3+postgres → fs+level (--verify): ${home.stdout.split('\n').filter((l) => /^(blobs|metadata|took)/.test(l)).join('; ')}\n`);
      const last = await serve(back);
      assert.deepEqual(await snapshot(last.url, pushed.repos), original);
      await stop(last.proc);
    } finally {
      for (const p of procs) await stop(p);
    }
  });
});
