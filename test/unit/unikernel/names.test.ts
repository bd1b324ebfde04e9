import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TagExistsError, UnikernelInputError } from '../../../src/unikernel/errors.js';
import {
  Annotation,
  INITRD_PATH,
  KERNEL_PATH,
  UnikernelMediaType,
  normalizeArch,
  normalizePlat,
  parseStrategy,
  tryNormalizeArch,
  tryNormalizePlat,
} from '../../../src/unikernel/names.js';
import { RegistryError } from '../../../src/domain/errors.js';

describe('unikernel names', () => {
  test('architectures and their aliases', () => {
    for (const [input, arch] of [
      ['x86_64', 'x86_64'],
      ['amd64', 'x86_64'],
      ['arm64', 'arm64'],
      ['aarch64', 'arm64'],
      ['arm', 'arm'],
      ['arm32', 'arm'],
      [' AMD64 ', 'x86_64'], // case and surrounding blanks do not matter
    ]) {
      assert.equal(normalizeArch(input!), arch, input);
    }
  });

  test('an unknown architecture is an input error naming the field', () => {
    for (const bad of ['riscv64', '', 'x86', 'constructor', '__proto__']) {
      assert.equal(tryNormalizeArch(bad), undefined, bad);
      assert.throws(() => normalizeArch(bad), (err: unknown) => {
        assert.ok(err instanceof UnikernelInputError);
        assert.ok(err instanceof RegistryError);
        assert.equal(err.name, 'UnikernelInputError');
        assert.equal(err.field, 'arch');
        assert.equal(err.detail.field, 'arch');
        return true;
      });
    }
  });

  test('platforms: qemu/kvm, fc/firecracker, xen and free-form names', () => {
    for (const [input, plat] of [
      ['qemu', 'qemu'],
      ['kvm', 'qemu'],
      ['fc', 'fc'],
      ['Firecracker', 'fc'],
      ['xen', 'xen'],
      ['kraftcloud', 'kraftcloud'],
      ['linuxu', 'linuxu'],
      ['my_plat-2', 'my_plat-2'],
    ]) {
      assert.equal(normalizePlat(input!), plat, input);
    }
  });

  test('insane platform names are rejected', () => {
    for (const bad of ['', '-qemu', '_x', 'qe mu', 'qemu/../x', 'a'.repeat(65), 'ü', 'a.b']) {
      assert.equal(tryNormalizePlat(bad), undefined, bad);
      assert.throws(() => normalizePlat(bad), (err: unknown) => err instanceof UnikernelInputError && err.field === 'plat');
    }
  });

  test('well-known paths, annotation keys and media types', () => {
    assert.equal(KERNEL_PATH, '/unikraft/bin/kernel');
    assert.equal(INITRD_PATH, '/unikraft/bin/initrd');
    assert.equal(Annotation.KernelImage, 'org.unikraft.kernel.image');
    assert.equal(Annotation.KernelInitrd, 'org.unikraft.kernel.initrd');
    assert.equal(Annotation.ImageName, 'org.unikraft.image.name');
    assert.equal(Annotation.KernelVersion, 'org.unikraft.kernel.version');
    assert.equal(Annotation.RefName, 'org.opencontainers.image.ref.name');
    assert.equal(Annotation.Created, 'org.opencontainers.image.created');
    assert.equal(Annotation.KraftKitVersion, 'sh.kraftkit.version');
    assert.equal(Annotation.ContainerdImageName, 'io.containerd.image.name');
    assert.equal(UnikernelMediaType.Layer, 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(UnikernelMediaType.Config, 'application/vnd.oci.image.config.v1+json');
    assert.equal(UnikernelMediaType.Index, 'application/vnd.oci.image.index.v1+json');
    assert.equal(UnikernelMediaType.Manifest, 'application/vnd.oci.image.manifest.v1+json');
  });

  test('merge strategies: exit is the older name of abort, absent gives the fallback', () => {
    for (const [input, strategy] of [
      ['merge', 'merge'],
      ['overwrite', 'overwrite'],
      ['abort', 'abort'],
      ['exit', 'abort'],
      ['EXIT', 'abort'],
      [undefined, 'merge'],
      ['', 'merge'],
    ] as const) {
      assert.equal(parseStrategy(input), strategy, String(input));
    }
    assert.equal(parseStrategy(undefined, 'abort'), 'abort');
    for (const bad of ['prompt', 'replace', 'x']) {
      assert.throws(() => parseStrategy(bad), (err: unknown) => err instanceof UnikernelInputError && err.field === 'strategy');
    }
  });

  test('TagExistsError is a RegistryError that names the tag when known', () => {
    const err = new TagExistsError('nginx:latest');
    assert.ok(err instanceof RegistryError);
    assert.equal(err.name, 'TagExistsError');
    assert.equal(err.detail.reference, 'nginx:latest');
    assert.match(err.message, /nginx:latest/);
    assert.deepEqual(new TagExistsError().detail, {});
  });
});
