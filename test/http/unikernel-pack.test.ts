/**
 * Server-side packing: `POST /v2/<name>/_unikraft/pack` (multipart and JSON)
 * builds exactly what kraft would (format doc §1–§5) and merges it into the tag
 * by strategy; bad input leaves the tag exactly as it was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { layerBytes } from '../../src/unikernel/layer.js';
import { readTar } from '../helpers/images.js';
import {
  assertKraftCompatible,
  assertSortedFeatures,
  assertUnchanged,
  blob,
  bytesOf,
  dotConfig,
  expectPacked,
  inspect,
  KMT,
  pack,
  packJson,
  packOk,
  tagState,
  VECTOR,
  type PackOptions,
} from '../helpers/kraft.js';
import { expectError, pushBlob, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const X86_QEMU = ['CONFIG_ARCH_X86_64=y', 'CONFIG_KVM_VMM_QEMU=y', 'CONFIG_PLAT_KVM=y'];

describe('POST /v2/<name>/_unikraft/pack', () => {
  let srv: TestServer;
  let base: string;
  before(async () => {
    srv = await startTestServer();
    base = srv.url;
  });
  after(() => srv.destroy());

  /** Packs x86_64/qemu, arm64/fc and x86_64/xen into `repo:tag`. */
  async function packThree(repo: string, tag: string) {
    const qemu = await packOk(base, repo, {
      tag,
      arch: 'x86_64',
      plat: 'qemu',
      kernel: VECTOR.kernel,
      kconfig: dotConfig(['CONFIG_HZ=100', 'CONFIG_LIBPOSIX_PROCESS=y']),
      cmd: ['-c', '/etc/nginx.conf'],
      env: ['A=1', 'B=two words'],
      labels: ['org.example.a=1', 'org.example.b=x=y'],
    });
    const fc = await packOk(base, repo, { tag, arch: 'arm64', plat: 'fc', kernel: bytesOf('fc', 5000), version: '0.17.0' });
    const xen = await packOk(base, repo, { tag, arch: 'x86_64', plat: 'xen', kernel: bytesOf('xen', 4096), kconfig: dotConfig(['CONFIG_HZ=100']) });
    return { qemu, fc, xen };
  }

  test('three platforms in one tag: one index, three kraft-compatible descriptors', async () => {
    const repo = repoName('uk/pack');
    const name = `${srv.host}/${repo}`;
    const { qemu, fc, xen } = await packThree(repo, 'v1');
    for (const r of [qemu, fc, xen]) {
      assert.equal(r.tag, 'v1');
      assert.equal(r.strategy, 'merge');
      assert.equal(r.layers.length, 1);
      assert.equal(r.layers[0]!.mediaType, KMT.layer);
    }
    const view = await inspect(base, repo, 'v1');
    assert.equal(view.digest, xen.index, 'the tag resolves to the index the last pack answered');
    assert.deepEqual(
      view.index.manifests.map((d) => [d.platform?.architecture, d.platform?.os, d.digest]),
      [
        ['x86_64', 'qemu', qemu.manifest],
        ['arm64', 'fc', fc.manifest],
        ['x86_64', 'xen', xen.manifest],
      ],
    );
    assertKraftCompatible(view, { name, tag: 'v1' });
    assert.equal((await tagState(base, repo, 'v1')).digest, xen.index);
    for (const [r, v] of [[qemu, view.variants[0]!], [fc, view.variants[1]!], [xen, view.variants[2]!]] as const) {
      assert.equal(v.manifest.config.digest, r.config);
      assert.deepEqual(v.descriptor.platform, r.platform);
      assert.deepEqual(v.manifest.layers, r.layers);
      assert.equal(v.descriptor.annotations?.['io.containerd.image.name'], `${name}:v1`);
      assertSortedFeatures(v.config['os.features']!);
    }
  });

  test('the test-vector kernel: 2048-byte USTAR layer with the vector digest', async () => {
    const repo = repoName('uk/vector');
    const r = await packOk(base, repo, { arch: 'amd64', plat: 'kvm', kernel: VECTOR.kernel });
    assert.equal(r.tag, 'latest');
    assert.deepEqual(r.layers, [
      { mediaType: KMT.layer, digest: VECTOR.digest, size: VECTOR.size, annotations: { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' } },
    ]);
    const layer = await blob(base, repo, VECTOR.digest);
    assert.equal(layer.length, 2048);
    assert.ok(layer.equals(layerBytes('/unikraft/bin/kernel', VECTOR.kernel, 0o755)));
    assert.equal(layer.subarray(257, 263).toString('latin1'), 'ustar\0');
    const [entry, ...none] = readTar(layer);
    assert.equal(none.length, 0);
    assert.deepEqual({ ...entry, content: entry!.content.toString() }, { path: 'unikraft/bin/kernel', type: '0', mode: 0o755, mtime: 0, content: 'hello unikernel\n' });
    assert.equal(layer.subarray(265, 329).toString('latin1').replace(/\0/g, ''), '', 'empty uname/gname');
    // A bare kernel gets only the derived keys; aliases are stored by kraft's names; config is {}.
    const view = await inspect(base, repo, 'latest');
    const v = view.variants[0]!;
    assert.deepEqual(v.descriptor.platform, { architecture: 'x86_64', os: 'qemu', 'os.features': X86_QEMU });
    assert.equal(
      v.configBytes.toString(),
      `{"architecture":"x86_64","os":"qemu","os.features":${JSON.stringify(X86_QEMU)},"config":{},"rootfs":{"type":"layers","diff_ids":["${VECTOR.digest}"]}}`,
    );
    assert.equal(v.descriptor.annotations?.['org.unikraft.kernel.version'], undefined);
  });

  test('config blob: field order, sorted features, derived keys, host keys skipped, os.version', async () => {
    const repo = repoName('uk/config');
    const { qemu, fc, xen } = await packThree(repo, 'cfg');
    const view = await inspect(base, repo, 'cfg');
    const features = [
      'CONFIG_ARCH_X86_64=y',
      'CONFIG_HZ=100',
      'CONFIG_KVM_VMM_QEMU=y',
      'CONFIG_LIBPOSIX_PROCESS=y',
      'CONFIG_PLAT_KVM=y',
      'CONFIG_UK_FULLVERSION=0.18.0~a1b2c3',
      'CONFIG_UK_NAME=helloworld',
    ];
    const expected = {
      architecture: 'x86_64',
      os: 'qemu',
      'os.version': '0.18.0~a1b2c3',
      'os.features': features,
      config: { Cmd: ['-c', '/etc/nginx.conf'], Env: ['A=1', 'B=two words'], Labels: { 'org.example.a': '1', 'org.example.b': 'x=y' } },
      rootfs: { type: 'layers', diff_ids: [VECTOR.digest] },
    };
    assert.equal(view.variants[0]!.configBytes.toString(), JSON.stringify(expected));
    assert.equal(sha256(view.variants[0]!.configBytes), qemu.config);
    assert.equal(view.variants[0]!.descriptor.annotations?.['org.unikraft.kernel.version'], '0.18.0~a1b2c3');
    // `version` given, no .config: os.version from the field, only derived features.
    assert.deepEqual(fc.platform, { architecture: 'arm64', os: 'fc', 'os.version': '0.17.0', 'os.features': ['CONFIG_ARCH_ARM_64=y', 'CONFIG_KVM_VMM_FIRECRACKER=y', 'CONFIG_PLAT_KVM=y'] });
    assert.equal(view.variants[1]!.config['os.version'], '0.17.0');
    assert.ok(xen.platform['os.features']!.includes('CONFIG_PLAT_XEN=y'));
    assert.ok(xen.platform['os.features']!.includes('CONFIG_ARCH_X86_64=y'));
    for (const v of view.variants) {
      for (const f of v.config['os.features']!) assert.doesNotMatch(f, /^CONFIG_UK_(APP|BASE)=|is not set|"/);
    }
    // `version` wins over CONFIG_UK_FULLVERSION; a kconfig sent as a plain field works too.
    const r = await packOk(base, repo, { tag: 'ver', arch: 'arm', plat: 'linuxu', kernel: bytesOf('v', 10), kconfigField: dotConfig([], '9.9.9'), version: '1.2.3' });
    assert.equal(r.platform['os.version'], '1.2.3');
    assert.ok(r.platform['os.features']!.includes('CONFIG_UK_FULLVERSION=9.9.9'));
    assert.ok(r.platform['os.features']!.includes('CONFIG_ARCH_ARM_32=y') && r.platform['os.features']!.includes('CONFIG_PLAT_LINUXU=y'));
  });

  test('kconfig values: quotes stripped once, "=" inside values kept, CRLF and indentation harmless; skip list configurable', async () => {
    const repo = repoName('uk/kconfig');
    const kconfig = '  CONFIG_UK_CMDLINE="console=ttyS0 a=b"\r\nCONFIG_QUOTED=""inner""\r\nCONFIG_EMPTY=\r\n# CONFIG_OFF is not set\r\nCONFIG_SECRET_PATH="/home/x"\r\n';
    const r = await packOk(base, repo, { arch: 'x86_64', plat: 'xen', kernel: bytesOf('k', 100), kconfig });
    assert.deepEqual(r.platform['os.features'], [
      'CONFIG_ARCH_X86_64=y',
      'CONFIG_EMPTY=',
      'CONFIG_PLAT_XEN=y',
      'CONFIG_QUOTED="inner"',
      'CONFIG_SECRET_PATH=/home/x',
      'CONFIG_UK_CMDLINE=console=ttyS0 a=b',
    ]);
    const own = await startTestServer({ unikernel: { kconfigSkip: ['CONFIG_SECRET_PATH'] } });
    try {
      const o = await packOk(own.url, repo, { arch: 'x86_64', plat: 'xen', kernel: bytesOf('k', 100), kconfig });
      assert.deepEqual(o.platform['os.features'], [
        'CONFIG_ARCH_X86_64=y',
        'CONFIG_EMPTY=',
        'CONFIG_PLAT_XEN=y',
        'CONFIG_QUOTED="inner"',
        'CONFIG_UK_CMDLINE=console=ttyS0 a=b',
      ]);
    } finally {
      await own.destroy();
    }
  });

  test('re-packing x86_64/qemu replaces it in place; abort refuses; overwrite resets', async () => {
    const repo = repoName('uk/repack');
    const first = await packThree(repo, 'v1');
    const before = await inspect(base, repo, 'v1');
    // Same platform (aliases, same feature set), new kernel.
    const again = await packOk(base, repo, { tag: 'v1', arch: 'amd64', plat: 'kvm', kernel: bytesOf('new-qemu', 7000), kconfig: dotConfig(['CONFIG_LIBPOSIX_PROCESS=y', 'CONFIG_HZ=100']), cmd: ['-c', '/etc/nginx.conf'] });
    assert.notEqual(again.manifest, first.qemu.manifest);
    const after1 = await inspect(base, repo, 'v1');
    assert.equal(after1.digest, again.index);
    assert.deepEqual(
      after1.index.manifests.map((d) => d.digest),
      [again.manifest, first.fc.manifest, first.xen.manifest],
    );
    assert.deepEqual(after1.index.manifests.slice(1), before.index.manifests.slice(1));
    assertKraftCompatible(after1);

    const abort = await pack(base, repo, { tag: 'v1', arch: 'arm64', plat: 'qemu', kernel: bytesOf('a', 9), strategy: 'abort' });
    await expectError(abort, 409, 'TAG_EXISTS');
    await assertUnchanged(base, repo, 'v1', await tagState(base, repo, again.index), 'abort');
    // abort on a tag that does not exist yet is fine
    await packOk(base, repo, { tag: 'fresh', arch: 'arm64', plat: 'qemu', kernel: bytesOf('a', 9), strategy: 'abort' });

    const over = await packOk(base, repo, { tag: 'v1', arch: 'arm64', plat: 'xen', kernel: bytesOf('o', 99), strategy: 'overwrite' });
    assert.equal(over.strategy, 'overwrite');
    const after2 = await inspect(base, repo, 'v1');
    assert.equal(after2.digest, over.index);
    assert.deepEqual(after2.index.manifests.map((d) => d.digest), [over.manifest]);
    assertKraftCompatible(after2);
  });

  test('concurrent packs of different platforms to one tag all end up in the index', async () => {
    const repo = repoName('uk/concurrent');
    const platforms = [['x86_64', 'qemu'], ['x86_64', 'fc'], ['arm64', 'qemu'], ['arm64', 'fc'], ['x86_64', 'xen']] as const;
    const results = await Promise.all(platforms.map(([arch, plat]) => packOk(base, repo, { tag: 't', arch, plat, kernel: bytesOf(`${arch}/${plat}`, 1234) })));
    const view = await inspect(base, repo, 't');
    assert.deepEqual(view.index.manifests.map((d) => d.digest).sort(), results.map((r) => r.manifest).sort());
    assertKraftCompatible(view);
  });

  test('bad input is refused and leaves the tag exactly as it was', async () => {
    const repo = repoName('uk/bad');
    await packThree(repo, 'v1');
    const other = repoName('uk/elsewhere');
    const foreign = await pushBlob(base, other, bytesOf('foreign', 300));
    const kernelHere = await pushBlob(base, repo, bytesOf('kernel-here', 300));
    const ok: PackOptions = { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('bad', 64) };
    const multipart: [string, PackOptions, number, string, ((body: any) => void)?][] = [
      ['no kernel', { ...ok, kernel: undefined }, 400, 'MANIFEST_INVALID'],
      ['unknown arch', { ...ok, arch: 'sparc64' }, 400, 'MANIFEST_INVALID'],
      ['no arch', { ...ok, arch: undefined }, 400, 'MANIFEST_INVALID'],
      ['no plat', { ...ok, plat: undefined }, 400, 'MANIFEST_INVALID'],
      ['unknown strategy', { ...ok, strategy: 'yolo' }, 400, 'MANIFEST_INVALID'],
      ['malformed env', { ...ok, env: ['NOEQUALS'] }, 400, 'MANIFEST_INVALID'],
      ['malformed label', { ...ok, labels: ['novalue'] }, 400, 'MANIFEST_INVALID'],
      ['abort on an existing tag', { ...ok, strategy: 'abort' }, 409, 'TAG_EXISTS'],
      [
        'malformed kconfig line (CRLF)',
        { ...ok, kconfig: 'CONFIG_A=y\r\n\r\n  CONFIG_B="x"\r\nCONFIG_C\r\n' },
        400,
        'MANIFEST_INVALID',
        (body) => assert.equal(body.errors[0].detail.line, 4),
      ],
      [
        'malformed kconfig line',
        { ...ok, kconfig: 'CONFIG_A=y\n# comment\nTHIS IS NOT KCONFIG\nCONFIG_B=y\n' },
        400,
        'MANIFEST_INVALID',
        (body) => assert.equal(body.errors[0].detail.line, 3),
      ],
    ];
    const json: [string, unknown, number, string][] = [
      ['JSON: kernel digest not in the repository', { kernel: sha256('nowhere'), arch: 'x86_64', plat: 'qemu', tag: 'v1' }, 400, 'MANIFEST_INVALID'],
      ['JSON: kernel blob of another repository', { kernel: foreign, arch: 'x86_64', plat: 'qemu', tag: 'v1' }, 400, 'MANIFEST_INVALID'],
      ['JSON: initrd digest not in the repository', { kernel: kernelHere, initrd: sha256('no initrd'), arch: 'x86_64', plat: 'qemu', tag: 'v1' }, 400, 'MANIFEST_INVALID'],
      ['JSON: malformed digest', { kernel: 'sha256:xyz', arch: 'x86_64', plat: 'qemu', tag: 'v1' }, 400, 'MANIFEST_INVALID'],
      ['JSON: no kernel', { arch: 'x86_64', plat: 'qemu', tag: 'v1' }, 400, 'MANIFEST_INVALID'],
      ['JSON: not JSON', '{"kernel":', 400, ''],
    ];
    for (const tag of ['v1', 'never-created']) {
      for (const [why, o, status, code, check] of multipart) {
        if (tag !== 'v1' && status === 409) continue;
        const before = await tagState(base, repo, tag);
        const res = await pack(base, repo, { ...o, tag });
        const text = await res.clone().text();
        await expectError(res, status, code);
        check?.(JSON.parse(text));
        await assertUnchanged(base, repo, tag, before, why);
      }
      for (const [why, body, status, code] of json) {
        const before = await tagState(base, repo, tag);
        const res = await packJson(base, repo, typeof body === 'string' ? body : { ...(body as object), tag });
        await expectError(res, status, code || undefined);
        await assertUnchanged(base, repo, tag, before, why);
      }
    }
    assert.equal((await tagState(base, repo, 'never-created')).status, 404);
    // A body that is neither multipart nor JSON.
    const before = await tagState(base, repo, 'v1');
    const res = await fetch(`${base}/v2/${repo}/_unikraft/pack`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'kernel' });
    await expectError(res, 400);
    await assertUnchanged(base, repo, 'v1', before, 'text/plain body');
  });

  test('JSON packing of blobs uploaded beforehand, with an initrd', async () => {
    const repo = repoName('uk/json');
    const kernel = bytesOf('json-kernel', 100_000);
    const initrd = Buffer.concat([Buffer.from('070701'), bytesOf('cpio', 2000)]);
    const kd = await pushBlob(base, repo, kernel);
    const id = await pushBlob(base, repo, initrd);
    const res = await packJson(base, repo, {
      kernel: kd,
      initrd: id,
      kconfig: dotConfig(['CONFIG_HZ=250']),
      arch: 'aarch64',
      plat: 'firecracker',
      tag: 'j1',
      cmd: ['/bin/app', '--port', '80'],
      env: ['PORT=80'],
      labels: { 'org.example.z': 'last', 'org.example.a': 'first' },
      strategy: 'merge',
    });
    const r = await expectPacked(res, repo);
    assert.equal(r.tag, 'j1');
    assert.equal(r.platform.architecture, 'arm64');
    assert.equal(r.platform.os, 'fc');
    assert.equal(r.platform['os.version'], '0.18.0~a1b2c3');
    assert.ok(r.platform['os.features']!.includes('CONFIG_HZ=250'));
    assert.equal(r.layers.length, 2);
    assert.deepEqual(r.layers.map((l) => l.annotations), [
      { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' },
      { 'org.unikraft.kernel.initrd': '/unikraft/bin/initrd' },
    ]);
    const view = await inspect(base, repo, 'j1');
    assertKraftCompatible(view, { name: `${srv.host}/${repo}`, tag: 'j1' });
    const [kt, it] = [readTar(await blob(base, repo, r.layers[0]!.digest)), readTar(await blob(base, repo, r.layers[1]!.digest))];
    assert.equal(kt[0]!.path, 'unikraft/bin/kernel');
    assert.equal(kt[0]!.mode, 0o755);
    assert.ok(kt[0]!.content.equals(kernel));
    assert.equal(it[0]!.path, 'unikraft/bin/initrd');
    assert.equal(it[0]!.mode, 0o644);
    assert.ok(it[0]!.content.equals(initrd), 'the initrd is stored as given');
    assert.deepEqual(r.layers[1]!.digest, sha256(layerBytes('/unikraft/bin/initrd', initrd, 0o644)));
    const cfg = view.variants[0]!.config.config;
    assert.deepEqual(cfg, { Cmd: ['/bin/app', '--port', '80'], Env: ['PORT=80'], Labels: { 'org.example.a': 'first', 'org.example.z': 'last' } });
    // the same blobs packed again for another platform reuse the layers
    const again = await expectPacked(await packJson(base, repo, { kernel: kd, initrd: id, arch: 'x86_64', plat: 'qemu', tag: 'j1' }), repo);
    assert.deepEqual(again.layers, r.layers);
    assert.equal((await inspect(base, repo, 'j1')).index.manifests.length, 2);
  });

  test('a kernel of several MiB packs correctly (multipart and JSON)', async () => {
    const repo = repoName('uk/big');
    const kernel = bytesOf('big-kernel', 6 * 1024 * 1024 + 333);
    const expected = layerBytes('/unikraft/bin/kernel', kernel, 0o755);
    const r = await packOk(base, repo, { tag: 'big', arch: 'x86_64', plat: 'qemu', kernel });
    assert.deepEqual([r.layers[0]!.digest, r.layers[0]!.size], [sha256(expected), expected.length]);
    const layer = await blob(base, repo, r.layers[0]!.digest);
    assert.ok(layer.equals(expected));
    const [entry] = readTar(layer);
    assert.equal(entry!.content.length, kernel.length);
    assert.ok(entry!.content.equals(kernel), 'extracted kernel equals the input');
    const digest = await pushBlob(base, repo, kernel);
    const j = await expectPacked(await packJson(base, repo, { kernel: digest, arch: 'arm64', plat: 'qemu', tag: 'big' }), repo);
    assert.equal(j.layers[0]!.digest, sha256(expected));
    assertKraftCompatible(await inspect(base, repo, 'big'));
  });
});
