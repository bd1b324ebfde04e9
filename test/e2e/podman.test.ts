/**
 * podman (as root, private vfs storage in a temp dir, no containers run) against a
 * real listening unireg: pull an image skopeo pushed, push it to another repository
 * and pull it back, pull one platform out of a multi-arch index, and push a
 * manifest list built with `podman manifest`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MediaType,
  expectBlobs,
  expectManifest,
  multiArchIndex,
  multiLayerImage,
  referenced,
  hex,
  type Image,
  type ImageIndex,
  type Layout,
} from '../helpers/images.js';
import { makePodmanState, runPodman } from '../helpers/podman.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['podman', 'skopeo'], root: true });
const TIMEOUT = { timeout: 180_000 };

interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  RepoTags: string[];
  Architecture: string;
  Os: string;
}

describe('podman against unireg', { concurrency: false }, () => {
  let srv: TestServer;
  let state: string;
  let small: Layout<Image>;
  let multi: Layout<ImageIndex>;
  let pushedDigest = '';
  const seed = `podman-${randomUUID()}`;

  const podman = (...args: string[]) => runPodman(state, args);
  const inspect = async (ref: string): Promise<PodmanImage> => {
    const list = JSON.parse((await podman('image', 'inspect', ref)).stdout) as PodmanImage[];
    assert.equal(list.length, 1);
    return list[0]!;
  };
  const name = (repoRef: string) => `${srv.host}/${repoRef}`;
  const digestFile = () => join(state, `digest-${randomUUID()}`);

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    state = await makePodmanState('/tmp/unireg-podman-');
    small = await multiLayerImage(join(state, 'layouts', 'small'), seed);
    multi = await multiArchIndex(join(state, 'layouts', 'multi'), seed);
    // Seed the registry with skopeo: the digests are then known exactly.
    const skopeo = (src: string, dest: string, ...flags: string[]) =>
      run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...flags, src, dest], { timeout: 90_000 });
    await skopeo(small.transport, `docker://${srv.host}/e2e/podman/small:v1`);
    await skopeo(multi.transport, `docker://${srv.host}/e2e/podman/multi:v1`, '--all');
  });

  after(async () => {
    await srv?.destroy();
    await removeScratch(state);
  });

  test('pull gives the image with the digest that was pushed', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await podman('pull', '--quiet', '--tls-verify=false', name('e2e/podman/small:v1'));
    const img = await inspect(name('e2e/podman/small:v1'));
    assert.equal(img.Digest, small.top.digest, 'podman image digest');
    assert.ok(img.RepoDigests.includes(`${name('e2e/podman/small')}@${small.top.digest}`), `RepoDigests: ${img.RepoDigests.join(', ')}`);
    assert.equal(img.Id, hex(small.content.config.digest), 'image ID is the config digest');
    assert.equal(img.Architecture, 'amd64');
  });

  test('push to another repository, rmi, pull back: same digest all the way', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const file = digestFile();
    await podman('push', '--quiet', '--tls-verify=false', '--digestfile', file, name('e2e/podman/small:v1'), name('e2e/podman/pushed:v1'));
    pushedDigest = (await readFile(file, 'utf8')).trim();
    assert.match(pushedDigest, /^sha256:[0-9a-f]{64}$/);

    // What the registry serves is what podman says it pushed.
    const body = await expectManifest(srv.url, 'e2e/podman/pushed', 'v1', { digest: pushedDigest });
    const manifest = JSON.parse(body.toString('utf8')) as { mediaType?: string; config: { digest: string } };
    assert.ok([MediaType.ociManifest, MediaType.dockerManifest].includes(manifest.mediaType as never), `mediaType ${manifest.mediaType}`);
    assert.equal(manifest.config.digest, small.content.config.digest, 'podman keeps the config bytes');
    await expectBlobs(srv.url, 'e2e/podman/pushed', referenced(body));

    await podman('rmi', '--force', name('e2e/podman/small:v1'));
    await assert.rejects(inspect(name('e2e/podman/small:v1')), 'image is gone from local storage');
    await podman('pull', '--quiet', '--tls-verify=false', name('e2e/podman/pushed:v1'));
    const img = await inspect(name('e2e/podman/pushed:v1'));
    assert.equal(img.Digest, pushedDigest, 'digest after the round trip');
    assert.ok(img.RepoDigests.includes(`${name('e2e/podman/pushed')}@${pushedDigest}`), `RepoDigests: ${img.RepoDigests.join(', ')}`);
    assert.equal(img.Id, hex(small.content.config.digest));
  });

  test('pull --arch arm64 --variant v8 from a multi-arch index', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const arm = multi.content.images.find((i) => i.platform.architecture === 'arm64')!;
    await podman('pull', '--quiet', '--tls-verify=false', '--arch', 'arm64', '--variant', 'v8', name('e2e/podman/multi:v1'));
    const img = await inspect(name('e2e/podman/multi:v1'));
    assert.equal(img.Id, hex(arm.config.digest), 'the arm64 image was pulled');
    assert.equal(img.Architecture, 'arm64');
    assert.ok(img.RepoDigests.includes(`${name('e2e/podman/multi')}@${arm.manifest.digest}`), `RepoDigests: ${img.RepoDigests.join(', ')}`);

    const amd = multi.content.images.find((i) => i.platform.architecture === 'amd64')!;
    await podman('pull', '--quiet', '--tls-verify=false', '--arch', 'amd64', name(`e2e/podman/multi@${multi.top.digest}`));
    const img2 = await inspect(name(`e2e/podman/multi@${multi.top.digest}`));
    assert.equal(img2.Id, hex(amd.config.digest), 'the amd64 image was pulled by index digest');
  });

  test('manifest create/add/push --all pushes an index with both images', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const list = `localhost/unireg-list-${randomUUID().slice(0, 8)}`;
    await podman('manifest', 'create', list);
    for (const img of multi.content.images) {
      await podman('manifest', 'add', '--tls-verify=false', list, `docker://${name('e2e/podman/multi')}@${img.manifest.digest}`);
    }
    const file = digestFile();
    await podman('manifest', 'push', '--all', '--tls-verify=false', '--digestfile', file, list, `docker://${name('e2e/podman/list:v1')}`);
    const digest = (await readFile(file, 'utf8')).trim();
    const body = await expectManifest(srv.url, 'e2e/podman/list', 'v1', { digest });
    const index = JSON.parse(body.toString('utf8')) as { mediaType: string; manifests: Array<{ digest: string; platform?: { architecture: string } }> };
    assert.ok([MediaType.ociIndex, MediaType.dockerList].includes(index.mediaType as never), `mediaType ${index.mediaType}`);
    assert.deepEqual(
      index.manifests.map((m) => m.digest).sort(),
      multi.content.images.map((i) => i.manifest.digest).sort(),
    );
    for (const img of multi.content.images) {
      await expectManifest(srv.url, 'e2e/podman/list', img.manifest.digest, { digest: img.manifest.digest, bytes: img.manifest.bytes });
      await expectBlobs(srv.url, 'e2e/podman/list', [img.config, ...img.layers]);
    }
  });
});
