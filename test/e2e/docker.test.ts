/**
 * The Docker engine against a real listening unireg. The test starts its own
 * dockerd (no iptables, no bridge, its own data-root/exec-root/pidfile/socket in
 * a short temp dir, `--insecure-registry` for unireg), loads an image built in the
 * test (docker-archive made by skopeo), pushes it (Docker schema 2, chunked PATCH),
 * removes it, pulls it back and compares digests; then pulls one platform out of
 * a multi-arch OCI index. The containerd that dockerd runs is then driven with
 * `ctr` (monolithic PUT uploads, several at once). dockerd is stopped by its PID
 * in after().
 *
 * If dockerd cannot start here for a reason outside unireg (no privileges, no
 * cgroups, ...), every test reports that reason: skipped on a developer machine,
 * failed with CI=true.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  MediaType,
  dockerConvertibleImage,
  expectBlobs,
  expectManifest,
  getBlob,
  multiArchIndex,
  sha256,
  type Image,
  type ImageIndex,
  type Layout,
} from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, requireTool, run, which } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['dockerd', 'docker', 'skopeo'], root: true });
const TIMEOUT = { timeout: 180_000 };

interface DockerImage {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Variant?: string;
  Os: string;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('Docker engine against unireg', { concurrency: false }, () => {
  let srv: TestServer;
  let x: string; // short temp dir: sockets, exec-root, data-root, pidfile, log
  let dockerd: ChildProcess | undefined;
  let small: Layout<Image>;
  let multi: Layout<ImageIndex>;
  let pushed = { digest: '', size: 0 };
  const seed = `docker-${randomUUID()}`;
  const localName = `local/unireg-e2e-${seed.slice(-8)}:v1`;

  const env = () => ({
    ...process.env,
    DOCKER_HOST: `unix://${join(x, 'docker.sock')}`,
    DOCKER_CONFIG: join(x, 'cli'),
    DOCKER_CLI_HINTS: 'false',
  });
  const docker = (...args: string[]) => run('docker', args, { timeout: 150_000, env: env() });
  const inspect = async (ref: string): Promise<DockerImage> => {
    const list = JSON.parse((await docker('image', 'inspect', ref)).stdout) as DockerImage[];
    assert.equal(list.length, 1);
    return list[0]!;
  };
  const name = (repoRef: string) => `${srv.host}/${repoRef}`;
  const logTail = async () => {
    const text = await readFile(join(x, 'dockerd.log'), 'utf8').catch(() => '');
    const lines = text.trim().split('\n');
    return lines.slice(-25).join('\n');
  };

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    x = await mkdtemp('/tmp/dx.');
    small = await dockerConvertibleImage(join(x, 'layouts', 'small'), seed);
    multi = await multiArchIndex(join(x, 'layouts', 'multi'), seed);

    const log = await open(join(x, 'dockerd.log'), 'a');
    const dockerdPath = (await which('dockerd'))!;
    dockerd = spawn(
      dockerdPath,
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--ip-masq=false',
        '--insecure-registry', srv.host,
        '--data-root', join(x, 'data'),
        '--exec-root', x,
        '--pidfile', join(x, 'dockerd.pid'),
        '-H', `unix://${join(x, 'docker.sock')}`,
      ],
      { stdio: ['ignore', log.fd, log.fd] },
    );
    await log.close();
    let spawnError: Error | undefined;
    dockerd.on('error', (err) => (spawnError = err));

    const deadline = Date.now() + 60_000;
    let ready = false;
    while (!ready && Date.now() < deadline && !exited(dockerd) && !spawnError) {
      ready = await ping(join(x, 'docker.sock'));
      if (!ready) await new Promise((r) => setTimeout(r, 250));
    }
    if (!ready) {
      const why = spawnError
        ? `cannot spawn dockerd: ${spawnError.message}`
        : exited(dockerd)
          ? `dockerd exited (code ${dockerd.exitCode}, signal ${dockerd.signalCode}) before it was ready`
          : 'dockerd did not answer on its socket within 60 s';
      gate.block(`the Docker engine cannot run in this environment (not a unireg problem): ${why}\n--- dockerd log ---\n${await logTail()}`);
      return;
    }

    // Docker 20.10 cannot load OCI layouts: make a docker-archive with skopeo.
    await run('skopeo', ['copy', '--quiet', small.transport, `docker-archive:${join(x, 'small.tar')}:${localName}`], { timeout: 90_000 });
    await run('skopeo', ['copy', '--quiet', '--all', '--dest-tls-verify=false', multi.transport, `docker://${name('e2e/docker/multi:v1')}`], {
      timeout: 90_000,
    });
  });

  after(async () => {
    if (dockerd && !exited(dockerd)) {
      dockerd.kill('SIGTERM');
      if (!(await waitExit(dockerd, 30_000))) {
        dockerd.kill('SIGKILL');
        await waitExit(dockerd, 10_000);
        // dockerd's own containerd outlives a SIGKILLed dockerd: stop it by its pidfile.
        const pid = Number(await readFile(join(x, 'containerd', 'containerd.pid'), 'utf8').catch(() => ''));
        if (pid > 1) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
    }
    await srv?.destroy();
    await removeScratch(x);
  });

  test('docker load, tag and push (Docker schema 2 with chunked PATCH uploads)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const loaded = await docker('load', '-i', join(x, 'small.tar'));
    assert.match(loaded.stdout, new RegExp(`Loaded image: ${localName}`));
    await docker('tag', localName, name('e2e/docker/small:v1'));
    const push = await docker('push', name('e2e/docker/small:v1'));
    const m = /v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
    assert.ok(m, `no digest in the output of docker push:\n${push.stdout}`);
    pushed = { digest: m[1]!, size: Number(m[2]) };

    const body = await expectManifest(srv.url, 'e2e/docker/small', 'v1', { digest: pushed.digest, mediaType: MediaType.dockerManifest });
    assert.equal(body.length, pushed.size, 'manifest size reported by docker push');
    const manifest = JSON.parse(body.toString('utf8')) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: Array<{ mediaType: string; digest: string; size: number }>;
    };
    assert.equal(manifest.mediaType, MediaType.dockerManifest);
    assert.equal(manifest.config.mediaType, MediaType.dockerConfig);
    assert.equal(manifest.config.digest, small.content.config.digest, 'docker pushes the config bytes it loaded');
    await expectBlobs(srv.url, 'e2e/docker/small', [small.content.config]);
    // Docker recompresses the layers: the compressed digests differ, the content must not.
    assert.equal(manifest.layers.length, small.content.layers.length);
    for (const [i, layer] of manifest.layers.entries()) {
      const blob = await getBlob(srv.url, 'e2e/docker/small', layer.digest);
      assert.equal(blob.status, 200);
      assert.equal(sha256(blob.body), layer.digest, `layer ${i}: digest of the stored blob`);
      assert.equal(blob.body.length, layer.size, `layer ${i}: size`);
      assert.equal(sha256(gunzipSync(blob.body)), small.content.layers[i]!.diffId, `layer ${i}: uncompressed content`);
    }
  });

  test('docker rmi, then docker pull: the digest docker reports is the one unireg serves', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(pushed.digest, 'needs the push of the previous test');
    await docker('rmi', name('e2e/docker/small:v1'), localName);
    await assert.rejects(inspect(name('e2e/docker/small:v1')));
    const pull = await docker('pull', name('e2e/docker/small:v1'));
    const m = /Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout);
    assert.ok(m, `no digest in the output of docker pull:\n${pull.stdout}`);
    assert.equal(m[1], pushed.digest, 'digest reported by docker pull');
    const img = await inspect(name('e2e/docker/small:v1'));
    assert.deepEqual(img.RepoDigests, [`${name('e2e/docker/small')}@${pushed.digest}`]);
    assert.equal(img.Id, small.content.config.digest, 'image ID is the config digest');
    const head = await fetch(`${srv.url}/v2/e2e/docker/small/manifests/v1`, { method: 'HEAD', headers: { Accept: MediaType.dockerManifest } });
    assert.equal(head.headers.get('docker-content-digest'), pushed.digest);
  });

  test('docker push to a second repository mounts the layers from the first', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(pushed.digest, 'needs the push of the first test');
    await docker('tag', name('e2e/docker/small:v1'), name('e2e/docker/copy:v1'));
    const push = await docker('push', name('e2e/docker/copy:v1'));
    const m = /v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
    assert.equal(m?.[1], pushed.digest, `same manifest in the second repository:\n${push.stdout}`);
    assert.match(push.stdout, /Mounted from e2e\/docker\/small/, 'docker mounts known layers across repositories');
    await expectManifest(srv.url, 'e2e/docker/copy', 'v1', { digest: pushed.digest, mediaType: MediaType.dockerManifest });
  });

  test('docker pull --platform linux/arm64/v8 from a multi-arch OCI index', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const arm = multi.content.images.find((i) => i.platform.architecture === 'arm64')!;
    const pull = await docker('pull', '--platform', 'linux/arm64/v8', name('e2e/docker/multi:v1'));
    const m = /Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout);
    assert.equal(m?.[1], multi.top.digest, `docker pull reports the index digest:\n${pull.stdout}`);
    const img = await inspect(name('e2e/docker/multi:v1'));
    assert.equal(img.Id, arm.config.digest, 'the arm64 image was pulled');
    assert.equal(img.Architecture, 'arm64');
    assert.equal(img.Variant, 'v8');
    assert.deepEqual(img.RepoDigests, [`${name('e2e/docker/multi')}@${multi.top.digest}`]);
  });

  test('containerd (ctr, through dockerd\'s containerd) pulls the index and pushes it to another repository', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    if (!(await requireTool(t, 'ctr'))) return;
    const ctr = (...args: string[]) =>
      run('ctr', ['--address', join(x, 'containerd', 'containerd.sock'), '--namespace', 'unireg-e2e', ...args], { timeout: 120_000 });
    await ctr('images', 'pull', '--plain-http', '--all-platforms', name('e2e/docker/multi:v1'));
    await ctr('images', 'tag', name('e2e/docker/multi:v1'), name('e2e/docker/ctr:v1'));
    await ctr('images', 'push', '--plain-http', name('e2e/docker/ctr:v1'));
    await expectManifest(srv.url, 'e2e/docker/ctr', 'v1', { digest: multi.top.digest, mediaType: MediaType.ociIndex, bytes: multi.top.bytes });
    for (const img of multi.content.images) {
      await expectManifest(srv.url, 'e2e/docker/ctr', img.manifest.digest, { digest: img.manifest.digest, bytes: img.manifest.bytes });
      await expectBlobs(srv.url, 'e2e/docker/ctr', [img.config, ...img.layers]);
    }
  });
});
