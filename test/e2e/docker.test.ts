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
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { PrivateDockerd } from '../helpers/dockerd.js';
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
import { gateFor, requireTool, run } from '../helpers/tools.js';

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

describe('Docker engine against unireg', { concurrency: false }, () => {
  let srv: TestServer;
  let dockerd: PrivateDockerd | undefined;
  let x: string; // dockerd's short temp dir, which also holds the layouts and the archive
  let small: Layout<Image>;
  let multi: Layout<ImageIndex>;
  let pushed = { digest: '', size: 0 };
  const seed = `docker-${randomUUID()}`;
  const localName = `local/unireg-e2e-${seed.slice(-8)}:v1`;

  const docker = (...args: string[]) => run('docker', args, { timeout: 150_000, env: dockerd!.env() });
  const inspect = async (ref: string): Promise<DockerImage> => {
    const list = JSON.parse((await docker('image', 'inspect', ref)).stdout) as DockerImage[];
    assert.equal(list.length, 1);
    return list[0]!;
  };
  const name = (repoRef: string) => `${srv.host}/${repoRef}`;

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    dockerd = await PrivateDockerd.create();
    x = dockerd.dir;
    small = await dockerConvertibleImage(join(x, 'layouts', 'small'), seed);
    multi = await multiArchIndex(join(x, 'layouts', 'multi'), seed);
    const notReady = await dockerd.start([srv.host]);
    if (notReady) {
      gate.block(notReady);
      return;
    }

    // Docker 20.10 cannot load OCI layouts: make a docker-archive with skopeo.
    await run('skopeo', ['copy', '--quiet', small.transport, `docker-archive:${join(x, 'small.tar')}:${localName}`], { timeout: 90_000 });
    await run('skopeo', ['copy', '--quiet', '--all', '--dest-tls-verify=false', multi.transport, `docker://${name('e2e/docker/multi:v1')}`], {
      timeout: 90_000,
    });
  });

  after(async () => {
    await dockerd?.stop();
    await srv?.destroy();
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
      run('ctr', ['--address', dockerd!.containerdSocket, '--namespace', 'unireg-e2e', ...args], { timeout: 120_000 });
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
