/**
 * buildah (as root, private vfs storage in a temp dir, no network): build an image
 * from scratch inside the test, commit it reproducibly (OCI format, fixed
 * timestamp), push it to a real listening unireg as OCI and as Docker schema 2,
 * pull it back with skopeo to `dir:` and compare digests and content.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EPOCH,
  MediaType,
  expectBlobs,
  expectManifest,
  readDirImage,
  readTar,
  referenced,
  sha256,
} from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['buildah', 'skopeo'], root: true });
const TIMEOUT = { timeout: 180_000 };

describe('buildah against unireg', { concurrency: false }, () => {
  let srv: TestServer;
  let state: string;
  let imageId = '';
  const token = randomUUID();
  const hello = `#!/bin/sh\necho hello from ${token}\n`;

  const buildah = (...args: string[]) =>
    run('buildah', ['--root', join(state, 'root'), '--runroot', join(state, 'run'), '--storage-driver', 'vfs', ...args], {
      timeout: 150_000,
      env: { ...process.env, TMPDIR: join(state, 'tmp') },
    });
  const name = (repoRef: string) => `${srv.host}/${repoRef}`;

  /** from scratch → copy → config → commit; returns the image ID (= config digest hex). */
  const build = async (tag: string): Promise<string> => {
    const ctr = (await buildah('from', 'scratch')).stdout.trim();
    await buildah('copy', ctr, join(state, 'src'), '/');
    await buildah('config', '--cmd', '["/bin/hello"]', '--os', 'linux', '--arch', 'amd64', '--label', `org.example.token=${token}`, ctr);
    const iid = join(state, `iid-${randomUUID()}`);
    await buildah('commit', '--quiet', '--format', 'oci', '--timestamp', String(EPOCH), '--iidfile', iid, '--rm', ctr, tag);
    return (await readFile(iid, 'utf8')).trim().replace(/^sha256:/, '');
  };

  const pushDigest = async (args: string[]): Promise<string> => {
    const file = join(state, `digest-${randomUUID()}`);
    await buildah('push', '--quiet', '--tls-verify=false', '--digestfile', file, ...args);
    return (await readFile(file, 'utf8')).trim();
  };

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    state = await mkdtemp('/tmp/unireg-buildah-');
    await mkdir(join(state, 'tmp'));
    await mkdir(join(state, 'src', 'bin'), { recursive: true });
    await mkdir(join(state, 'src', 'etc'), { recursive: true });
    await writeFile(join(state, 'src', 'bin', 'hello'), hello);
    await chmod(join(state, 'src', 'bin', 'hello'), 0o755);
    await writeFile(join(state, 'src', 'etc', 'greeting'), `hello ${token}\n`);
  });

  after(async () => {
    await srv?.destroy();
    await removeScratch(state);
  });

  test('build from scratch and commit reproducibly (--timestamp)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    imageId = await build('localhost/built:1');
    assert.match(imageId, /^[0-9a-f]{64}$/);
    const again = await build('localhost/built:2');
    assert.equal(again, imageId, 'the same build with --timestamp gives the same image ID');
  });

  test('push as OCI, pull back with skopeo: same digests and content', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(imageId, 'needs the image built by the previous test');
    const digest = await pushDigest(['localhost/built:1', `docker://${name('e2e/buildah/built:v1')}`]);
    const body = await expectManifest(srv.url, 'e2e/buildah/built', 'v1', { digest, mediaType: MediaType.ociManifest });
    const manifest = JSON.parse(body.toString('utf8')) as {
      config: { digest: string; mediaType: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    assert.equal(manifest.config.mediaType, MediaType.ociConfig);
    assert.equal(manifest.config.digest, `sha256:${imageId}`, 'config digest is the image ID');
    assert.equal(manifest.layers.length, 1);
    await expectBlobs(srv.url, 'e2e/buildah/built', referenced(body));

    const out = join(state, 'pulled-oci');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${name('e2e/buildah/built:v1')}`, `dir:${out}`], {
      timeout: 90_000,
    });
    const back = await readDirImage(out);
    assert.ok(back.manifest.equals(body), 'manifest bytes after the round trip');
    assert.equal(sha256(back.manifest), digest, 'digest after the round trip');
    const config = back.blobs.get(manifest.config.digest);
    assert.ok(config, 'config blob pulled');
    const cfg = JSON.parse(config.toString('utf8')) as { created: string; config: { Cmd: string[]; Labels: Record<string, string> } };
    assert.equal(cfg.created, new Date(EPOCH * 1000).toISOString().replace('.000Z', 'Z'));
    assert.deepEqual(cfg.config.Cmd, ['/bin/hello']);
    assert.equal(cfg.config.Labels['org.example.token'], token);

    const layer = back.blobs.get(manifest.layers[0]!.digest);
    assert.ok(layer, 'layer blob pulled');
    const files = new Map(readTar(layer).map((m) => [m.path, m]));
    assert.equal(files.get('bin/hello')?.content.toString(), hello, 'bin/hello in the layer');
    assert.equal(files.get('bin/hello')?.mtime, EPOCH, 'file times are clamped to --timestamp');
    assert.equal(files.get('etc/greeting')?.content.toString(), `hello ${token}\n`);
  });

  test('push as Docker schema 2 (--format v2s2), pull back: same digest', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(imageId, 'needs the image built by the first test');
    const digest = await pushDigest(['--format', 'v2s2', 'localhost/built:1', `docker://${name('e2e/buildah/built:v2s2')}`]);
    const body = await expectManifest(srv.url, 'e2e/buildah/built', 'v2s2', { digest, mediaType: MediaType.dockerManifest });
    const manifest = JSON.parse(body.toString('utf8')) as { config: { mediaType: string }; layers: Array<{ mediaType: string }> };
    assert.equal(manifest.config.mediaType, MediaType.dockerConfig);
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MediaType.dockerLayerGzip]);
    await expectBlobs(srv.url, 'e2e/buildah/built', referenced(body));

    const out = join(state, 'pulled-v2s2');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${name('e2e/buildah/built:v2s2')}`, `dir:${out}`], {
      timeout: 90_000,
    });
    const back = await readDirImage(out);
    assert.equal(sha256(back.manifest), digest, 'digest after the round trip');
    // The OCI tag is still there and untouched.
    const head = await fetch(`${srv.url}/v2/e2e/buildah/built/tags/list`);
    assert.deepEqual(((await head.json()) as { tags: string[] }).tags, ['v1', 'v2s2']);
  });
});
