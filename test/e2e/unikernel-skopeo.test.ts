/**
 * skopeo round trip of a packed unikernel tag: `skopeo copy --all` of a tag
 * holding three variants to an OCI layout and back to another repository keeps
 * every digest (index, manifests, configs, layers), and the kernel extracted from
 * the pulled layer tar is byte-identical to the one uploaded.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kraftSelect } from '../../src/unikernel/filter.js';
import type { IndexJson } from '../../src/unikernel/platform.js';
import { hex, readTar } from '../helpers/images.js';
import { assertKraftCompatible, bytesOf, dotConfig, inspect, KMT, packOk, VECTOR, type PackResult } from '../helpers/kraft.js';
import { repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor(['skopeo']);
const TIMEOUT = { timeout: 60_000 };

describe('skopeo and packed unikernels', { concurrency: false }, () => {
  let srv: TestServer;
  let work: string;
  const skopeo = (...args: string[]) => run('skopeo', args, { timeout: 45_000 });

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'unireg-uk-skopeo-'));
  });
  after(async () => {
    await srv?.destroy();
    await removeScratch(work);
  });

  test('copy --all of a three-variant tag to an OCI layout and back keeps every digest', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv.url;
    const src = repoName('uk/skopeo-src');
    const dst = repoName('uk/skopeo-dst');
    const kernels = [VECTOR.kernel, bytesOf(`arm/${randomUUID()}`, 300_000 + 17), bytesOf(`xen/${randomUUID()}`, 4096)];
    const packed: PackResult[] = [
      await packOk(base, src, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: kernels[0], kconfig: dotConfig(['CONFIG_HZ=100']) }),
      await packOk(base, src, { tag: 'v1', arch: 'arm64', plat: 'fc', kernel: kernels[1], initrd: bytesOf('initrd', 1000) }),
      await packOk(base, src, { tag: 'v1', arch: 'x86_64', plat: 'xen', kernel: kernels[2], cmd: ['-x'] }),
    ];
    const original = await inspect(base, src, 'v1');
    assert.equal(original.index.manifests.length, 3);

    // registry -> OCI layout. Without --preserve-digests and --dest-oci-accept-uncompressed-layers,
    // skopeo gzips the plain tar layers into the layout and drops their annotations (kraft could
    // read neither), which changes every digest: that is skopeo's doing, not the registry's.
    const layout = join(work, 'layout');
    const digestFile = join(work, 'pull.digest');
    await skopeo('copy', '--all', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--quiet', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${srv.host}/${src}:v1`, `oci:${layout}:v1`);
    assert.equal((await readFile(digestFile, 'utf8')).trim(), original.digest, 'skopeo reports the index digest');
    const layoutIndex = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as IndexJson;
    const top = layoutIndex.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'v1');
    assert.ok(top, 'the layout names the tag');
    assert.equal(top.digest, original.digest);
    assert.equal(top.mediaType, KMT.index);
    const blobFile = (digest: string) => readFile(join(layout, 'blobs', 'sha256', hex(digest)));
    assert.ok((await blobFile(original.digest)).equals(original.bytes), 'index bytes unchanged in the layout');
    for (const [i, v] of original.variants.entries()) {
      assert.ok((await blobFile(v.descriptor.digest)).equals(v.manifestBytes), `manifest ${i} unchanged`);
      assert.ok((await blobFile(v.manifest.config.digest)).equals(v.configBytes), `config ${i} unchanged`);
      for (const l of v.manifest.layers) {
        const bytes = await blobFile(l.digest);
        assert.equal(sha256(bytes), l.digest);
        assert.equal(l.mediaType, KMT.layer, 'still an uncompressed tar');
      }
      const [entry] = readTar(await blobFile(v.manifest.layers[0]!.digest));
      assert.equal(entry!.path, 'unikraft/bin/kernel');
      assert.ok(entry!.content.equals(kernels[i]!), `kernel ${i} extracted from the pulled layer is byte-identical`);
      assert.deepEqual(v.manifest.layers, packed[i]!.layers);
    }
    // kraft reading the layout finds each variant.
    assert.deepEqual(
      kraftSelect(JSON.parse((await blobFile(original.digest)).toString()) as IndexJson, { arch: 'arm64', plat: 'firecracker' }).map((d) => d.digest),
      [packed[1]!.manifest],
    );

    // OCI layout -> another repository
    const pushFile = join(work, 'push.digest');
    await skopeo('copy', '--all', '--preserve-digests', '--quiet', '--dest-tls-verify=false', '--digestfile', pushFile, `oci:${layout}:v1`, `docker://${srv.host}/${dst}:v1`);
    assert.equal((await readFile(pushFile, 'utf8')).trim(), original.digest);
    const copied = await inspect(base, dst, 'v1');
    assert.equal(copied.digest, original.digest, 'same index digest after the round trip');
    assert.ok(copied.bytes.equals(original.bytes));
    assert.deepEqual(copied.variants.map((v) => v.descriptor.digest), original.variants.map((v) => v.descriptor.digest));
    for (const [i, v] of copied.variants.entries()) {
      assert.ok(v.manifestBytes.equals(original.variants[i]!.manifestBytes));
      assert.ok(v.configBytes.equals(original.variants[i]!.configBytes));
    }
    assertKraftCompatible(copied);
    // and the kernels pulled back from the copy, over HTTP
    for (const [i, v] of copied.variants.entries()) {
      const res = await fetch(`${base}/v2/${dst}/blobs/${v.manifest.layers[0]!.digest}`);
      const [entry] = readTar(Buffer.from(await res.arrayBuffer()));
      assert.ok(entry!.content.equals(kernels[i]!), `kernel ${i} from ${dst}`);
    }
  });

  test('skopeo pushing an index onto a tag that holds other variants merges them', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const base = srv.url;
    const src = repoName('uk/skopeo-a');
    const dst = repoName('uk/skopeo-b');
    const a = await packOk(base, src, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf(`a/${randomUUID()}`, 5000) });
    const b = await packOk(base, src, { tag: 'v1', arch: 'arm64', plat: 'fc', kernel: bytesOf(`b/${randomUUID()}`, 5000) });
    const held = await packOk(base, dst, { tag: 'v1', arch: 'arm', plat: 'qemu', kernel: bytesOf(`c/${randomUUID()}`, 5000) });
    const pushFile = join(work, 'merge.digest');
    await skopeo('copy', '--all', '--preserve-digests', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', pushFile,
      `docker://${srv.host}/${src}:v1`, `docker://${srv.host}/${dst}:v1`);
    assert.equal((await readFile(pushFile, 'utf8')).trim(), b.index, 'skopeo sees the digest of what it pushed');
    const view = await inspect(base, dst, 'v1');
    assert.notEqual(view.digest, b.index);
    assert.deepEqual(view.index.manifests.map((d) => d.digest), [held.manifest, a.manifest, b.manifest]);
    assertKraftCompatible(view);
    const pushed = await fetch(`${base}/v2/${dst}/manifests/${b.index}`);
    assert.equal(pushed.status, 200);
    assert.equal(sha256(Buffer.from(await pushed.arrayBuffer())), b.index);
  });
});
