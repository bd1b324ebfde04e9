/**
 * skopeo (containers/image) against a real listening unireg: push OCI layouts
 * (multi-layer image, multi-arch index with --all, conversion to Docker schema 2),
 * inspect, list-tags, delete, and pull back to `dir:` to check that manifests and
 * blobs come back byte for byte with the digests that went in.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ARM64_V8,
  MediaType,
  allBlobs,
  dockerConvertibleImage,
  expectBlobs,
  expectManifest,
  headManifest,
  listTags,
  makeImage,
  multiArchIndex,
  multiLayerImage,
  readDirImage,
  referenced,
  sha256,
  writeOciLayout,
  type Image,
  type ImageIndex,
  type Layout,
} from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor(['skopeo']);
const TIMEOUT = { timeout: 120_000 };

describe('skopeo against unireg', { concurrency: false }, () => {
  let srv: TestServer;
  let work: string;
  let small: Layout<Image>;
  let other: Layout<Image>;
  let multi: Layout<ImageIndex>;
  let v2s2: Layout<Image>;
  const seed = `skopeo-${randomUUID()}`;

  const skopeo = (...args: string[]) => run('skopeo', args, { timeout: 90_000 });
  const reg = (repoRef: string) => `docker://${srv.host}/${repoRef}`;
  /** `skopeo copy ... --digestfile`: returns the digest skopeo says it wrote. */
  const copy = async (flags: string[], src: string, dest: string): Promise<string> => {
    const file = join(work, `digest-${randomUUID()}`);
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', '--src-tls-verify=false', '--digestfile', file, ...flags, src, dest);
    return (await readFile(file, 'utf8')).trim();
  };
  const pullToDir = async (flags: string[], repoRef: string) => {
    const out = join(work, `dir-${randomUUID()}`);
    await skopeo('copy', '--quiet', '--src-tls-verify=false', ...flags, reg(repoRef), `dir:${out}`);
    return readDirImage(out);
  };

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'unireg-skopeo-'));
    small = await multiLayerImage(join(work, 'small'), seed);
    other = await writeOciLayout(join(work, 'other'), 'latest', makeImage(`${seed}/other`));
    multi = await multiArchIndex(join(work, 'multi'), seed);
    v2s2 = await dockerConvertibleImage(join(work, 'v2s2'), seed);
  });

  after(async () => {
    await srv?.destroy();
    await removeScratch(work);
  });

  test('copy a three-layer OCI image from an oci: layout to docker://', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.equal(small.content.layers.length, 3);
    const written = await copy([], small.transport, reg('e2e/skopeo/small:v1'));
    assert.equal(written, small.top.digest, 'skopeo --digestfile: digest of the manifest it pushed');
    await expectManifest(srv.url, 'e2e/skopeo/small', 'v1', {
      digest: small.top.digest,
      mediaType: MediaType.ociManifest,
      bytes: small.top.bytes,
    });
    await expectManifest(srv.url, 'e2e/skopeo/small', small.top.digest, { digest: small.top.digest, bytes: small.top.bytes });
    await expectBlobs(srv.url, 'e2e/skopeo/small', [small.content.config, ...small.content.layers]);
  });

  test('inspect, inspect --raw and inspect --config --raw', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const info = JSON.parse((await skopeo('inspect', '--tls-verify=false', reg('e2e/skopeo/small:v1'))).stdout) as {
      Name: string;
      Digest: string;
      RepoTags: string[];
      Architecture: string;
      Os: string;
      Layers: string[];
      Labels: Record<string, string>;
    };
    assert.equal(info.Name, `${srv.host}/e2e/skopeo/small`);
    assert.equal(info.Digest, small.top.digest);
    assert.deepEqual(info.RepoTags, ['v1']);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(info.Layers, small.content.layers.map((l) => l.digest));
    assert.equal(info.Labels['org.example.seed'], `${seed}/multi-layer`);

    const raw = (await skopeo('inspect', '--tls-verify=false', '--raw', reg('e2e/skopeo/small:v1'))).stdout;
    assert.equal(sha256(raw), small.top.digest, 'inspect --raw: digest of the raw manifest');
    assert.equal(raw, small.top.bytes.toString('utf8'));

    const config = (await skopeo('inspect', '--tls-verify=false', '--config', '--raw', reg('e2e/skopeo/small:v1'))).stdout;
    assert.equal(sha256(config), small.content.config.digest, 'inspect --config --raw: digest of the config');
  });

  test('pull back to dir: gives identical manifest bytes and blobs', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const head = await headManifest(srv.url, 'e2e/skopeo/small', 'v1');
    const back = await pullToDir([], 'e2e/skopeo/small:v1');
    assert.ok(back.manifest.equals(small.top.bytes), 'manifest.json differs from the pushed manifest');
    assert.equal(sha256(back.manifest), small.top.digest);
    assert.equal(head.digest, sha256(back.manifest), 'Docker-Content-Digest vs digest after the round trip');
    const expected = [small.content.config, ...small.content.layers];
    assert.deepEqual([...back.blobs.keys()].sort(), expected.map((b) => b.digest).sort());
    for (const blob of expected) assert.ok(back.blobs.get(blob.digest)?.equals(blob.bytes), `blob ${blob.digest} differs`);
  });

  test('list-tags lists every tag in lexical order', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await copy([], small.transport, reg('e2e/skopeo/small:v2'));
    await copy([], other.transport, reg('e2e/skopeo/small:other'));
    await copy([], small.transport, reg('e2e/skopeo/small:V3-upper'));
    const listed = JSON.parse((await skopeo('list-tags', '--tls-verify=false', reg('e2e/skopeo/small'))).stdout) as {
      Repository: string;
      Tags: string[];
    };
    assert.equal(listed.Repository, `${srv.host}/e2e/skopeo/small`);
    assert.deepEqual(listed.Tags, ['V3-upper', 'other', 'v1', 'v2']);
  });

  test('delete removes the manifest and its tag, and leaves the rest', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await skopeo('delete', '--tls-verify=false', reg('e2e/skopeo/small:other'));
    const tags = await listTags(srv.url, 'e2e/skopeo/small');
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.tags, ['V3-upper', 'v1', 'v2']);
    assert.equal((await headManifest(srv.url, 'e2e/skopeo/small', 'other')).status, 404, 'HEAD of the deleted tag');
    assert.equal((await headManifest(srv.url, 'e2e/skopeo/small', other.top.digest)).status, 404, 'HEAD of the deleted digest');
    const gone = await skopeo('inspect', '--tls-verify=false', '--raw', reg('e2e/skopeo/small:other')).then(
      () => false,
      () => true,
    );
    assert.ok(gone, 'skopeo inspect of a deleted tag must fail');
    await expectManifest(srv.url, 'e2e/skopeo/small', 'v1', { digest: small.top.digest, bytes: small.top.bytes });
  });

  test('delete of a tag shared by two tags removes both (skopeo deletes by digest)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await copy([], other.transport, reg('e2e/skopeo/shared:a'));
    await copy([], other.transport, reg('e2e/skopeo/shared:b'));
    assert.deepEqual((await listTags(srv.url, 'e2e/skopeo/shared')).tags, ['a', 'b']);
    await skopeo('delete', '--tls-verify=false', reg('e2e/skopeo/shared:a'));
    assert.equal((await headManifest(srv.url, 'e2e/skopeo/shared', 'a')).status, 404);
    assert.equal((await headManifest(srv.url, 'e2e/skopeo/shared', 'b')).status, 404);
    assert.equal((await headManifest(srv.url, 'e2e/skopeo/shared', other.top.digest)).status, 404);
    assert.deepEqual((await listTags(srv.url, 'e2e/skopeo/shared')).tags, []);
  });

  test('copy --all of a multi-arch index (linux/amd64, linux/arm64/v8)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const written = await copy(['--all'], multi.transport, reg('e2e/skopeo/multi:v1'));
    assert.equal(written, multi.top.digest, 'skopeo --digestfile: digest of the index it pushed');
    await expectManifest(srv.url, 'e2e/skopeo/multi', 'v1', {
      digest: multi.top.digest,
      mediaType: MediaType.ociIndex,
      bytes: multi.top.bytes,
    });
    for (const img of multi.content.images) {
      await expectManifest(srv.url, 'e2e/skopeo/multi', img.manifest.digest, {
        digest: img.manifest.digest,
        mediaType: MediaType.ociManifest,
        bytes: img.manifest.bytes,
      });
      await expectBlobs(srv.url, 'e2e/skopeo/multi', [img.config, ...img.layers]);
    }
    const raw = (await skopeo('inspect', '--tls-verify=false', '--raw', reg('e2e/skopeo/multi:v1'))).stdout;
    assert.equal(sha256(raw), multi.top.digest);
  });

  test('copy --all back to dir: gives the identical index, both images and all blobs', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const back = await pullToDir(['--all'], 'e2e/skopeo/multi:v1');
    assert.ok(back.manifest.equals(multi.top.bytes), 'index bytes differ after the round trip');
    for (const img of multi.content.images) {
      assert.ok(back.instances.get(img.manifest.digest)?.equals(img.manifest.bytes), `manifest ${img.manifest.digest} differs`);
    }
    const blobs = allBlobs(multi.content).filter((b) => b.mediaType !== MediaType.ociManifest && b.mediaType !== MediaType.ociIndex);
    assert.deepEqual([...back.blobs.keys()].sort(), blobs.map((b) => b.digest).sort());
    for (const blob of blobs) assert.ok(back.blobs.get(blob.digest)?.equals(blob.bytes), `blob ${blob.digest} differs`);
  });

  test('copying one platform out of the index picks the arm64/v8 image', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const arm = multi.content.images.find((i) => i.platform.architecture === ARM64_V8.architecture)!;
    const back = await pullToDir(['--override-arch', 'arm64', '--override-variant', 'v8'], 'e2e/skopeo/multi:v1');
    assert.ok(back.manifest.equals(arm.manifest.bytes), 'dir: manifest is not the arm64 image manifest');
    assert.ok(back.blobs.get(arm.config.digest)?.equals(arm.config.bytes));
  });

  test('copy --format v2s2 converts to Docker schema 2 and keeps the blobs', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const written = await copy(['--format', 'v2s2'], v2s2.transport, reg('e2e/skopeo/v2s2:v1'));
    assert.notEqual(written, v2s2.top.digest, 'a converted manifest has another digest');
    const body = await expectManifest(srv.url, 'e2e/skopeo/v2s2', 'v1', { digest: written, mediaType: MediaType.dockerManifest });
    const m = JSON.parse(body.toString('utf8')) as {
      schemaVersion: number;
      mediaType: string;
      config: { mediaType: string; digest: string; size: number };
      layers: Array<{ mediaType: string; digest: string; size: number }>;
    };
    assert.equal(m.schemaVersion, 2);
    assert.equal(m.mediaType, MediaType.dockerManifest);
    assert.deepEqual(m.config, { mediaType: MediaType.dockerConfig, digest: v2s2.content.config.digest, size: v2s2.content.config.size });
    assert.deepEqual(
      m.layers,
      v2s2.content.layers.map((l) => ({ mediaType: MediaType.dockerLayerGzip, digest: l.digest, size: l.size })),
    );
    await expectBlobs(srv.url, 'e2e/skopeo/v2s2', [v2s2.content.config, ...v2s2.content.layers]);

    const back = await pullToDir([], 'e2e/skopeo/v2s2:v1');
    assert.ok(back.manifest.equals(body), 'manifest.json differs from what the registry serves');
    assert.equal(sha256(back.manifest), written, 'digest after the round trip');
    for (const blob of [v2s2.content.config, ...v2s2.content.layers]) {
      assert.ok(back.blobs.get(blob.digest)?.equals(blob.bytes), `blob ${blob.digest} differs`);
    }
  });

  test('copy between two repositories of the registry (cross-repository mount)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const written = await copy([], reg('e2e/skopeo/small:v1'), reg('e2e/skopeo/copied:v1'));
    assert.equal(written, small.top.digest);
    await expectManifest(srv.url, 'e2e/skopeo/copied', 'v1', { digest: small.top.digest, bytes: small.top.bytes });
    await expectBlobs(srv.url, 'e2e/skopeo/copied', [small.content.config, ...small.content.layers]);
  });

  test('copy --all --format v2s2 pushes a Docker manifest list', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const written = await copy(['--all', '--format', 'v2s2'], multi.transport, reg('e2e/skopeo/list:v1'));
    const body = await expectManifest(srv.url, 'e2e/skopeo/list', 'v1', { digest: written, mediaType: MediaType.dockerList });
    const list = JSON.parse(body.toString('utf8')) as {
      mediaType: string;
      manifests: Array<{ mediaType: string; digest: string; platform: { architecture: string; os: string; variant?: string } }>;
    };
    assert.equal(list.mediaType, MediaType.dockerList);
    assert.deepEqual(
      list.manifests.map((m) => [m.mediaType, m.platform.os, m.platform.architecture, m.platform.variant]),
      [
        [MediaType.dockerManifest, 'linux', 'amd64', undefined],
        [MediaType.dockerManifest, 'linux', 'arm64', 'v8'],
      ],
    );
    for (const child of list.manifests) {
      const childBody = await expectManifest(srv.url, 'e2e/skopeo/list', child.digest, { digest: child.digest, mediaType: MediaType.dockerManifest });
      await expectBlobs(srv.url, 'e2e/skopeo/list', referenced(childBody));
    }
    const back = await pullToDir(['--all'], 'e2e/skopeo/list:v1');
    assert.ok(back.manifest.equals(body), 'list bytes after the round trip');
    assert.deepEqual([...back.instances.keys()].sort(), list.manifests.map((m) => m.digest).sort());
  });

  test('a tag moves between media types (OCI manifest → Docker manifest → OCI index)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await copy([], small.transport, reg('e2e/skopeo/moving:t'));
    await expectManifest(srv.url, 'e2e/skopeo/moving', 't', { digest: small.top.digest, mediaType: MediaType.ociManifest });
    const docker = await copy(['--format', 'v2s2'], small.transport, reg('e2e/skopeo/moving:t'));
    await expectManifest(srv.url, 'e2e/skopeo/moving', 't', { digest: docker, mediaType: MediaType.dockerManifest });
    await copy(['--all'], multi.transport, reg('e2e/skopeo/moving:t'));
    await expectManifest(srv.url, 'e2e/skopeo/moving', 't', { digest: multi.top.digest, mediaType: MediaType.ociIndex, bytes: multi.top.bytes });
    // The manifests the tag pointed at before are still there by digest.
    await expectManifest(srv.url, 'e2e/skopeo/moving', small.top.digest, { digest: small.top.digest, bytes: small.top.bytes });
    await expectManifest(srv.url, 'e2e/skopeo/moving', docker, { digest: docker });
  });
});
