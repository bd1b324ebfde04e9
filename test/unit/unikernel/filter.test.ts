import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Digest } from '../../../src/oci/digest.js';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { UnikernelInputError } from '../../../src/unikernel/errors.js';
import { filterIndex, kraftSelect } from '../../../src/unikernel/filter.js';
import { buildVariant, indexAnnotations, serializeIndex } from '../../../src/unikernel/image.js';
import { features, fullVersion, parseKconfig } from '../../../src/unikernel/kconfig.js';
import { mergeIndex } from '../../../src/unikernel/merge.js';
import { normalizeArch, normalizePlat } from '../../../src/unikernel/names.js';
import type { IndexJson } from '../../../src/unikernel/platform.js';

const variant = (c: string, arch: string, os: string, features: string[], kraft = true): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${c.repeat(64)}` as Digest,
  size: 500,
  annotations: kraft ? { 'sh.kraftkit.version': '0.11.6' } : {},
  platform: { architecture: arch, os, 'os.features': features },
});

const INDEX: IndexJson = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    variant('a', 'x86_64', 'qemu', ['CONFIG_ARCH_X86_64=y', 'CONFIG_HZ=100', 'CONFIG_LIBPOSIX_SOCKET=y', 'CONFIG_PLAT_KVM=y']),
    variant('b', 'x86_64', 'fc', ['CONFIG_ARCH_X86_64=y', 'CONFIG_HZ=1000', 'CONFIG_PLAT_KVM=y']),
    variant('c', 'arm64', 'qemu', ['CONFIG_ARCH_ARM_64=y', 'CONFIG_HZ=100']),
    variant('d', 'x86_64', 'kvm', ['CONFIG_ARCH_X86_64=y']),
    variant('e', 'amd64', 'qemu', ['CONFIG_ARCH_X86_64=y'], false),
  ],
  annotations: { 'org.opencontainers.image.ref.name': 'nginx' },
};
const picked = (list: Descriptor[]) => list.map((d) => d.digest[7]).join('');

describe('filterIndex', () => {
  test('no filters: everything, nothing applied', () => {
    const r = filterIndex(INDEX, {});
    assert.equal(picked(r.index.manifests), 'abcde');
    assert.deepEqual(r.applied, []);
    assert.deepEqual(filterIndex(INDEX, { arch: '', plat: ' ', kconfig: [''] }).applied, [], 'empty values are no filter');
  });

  test('arch and plat after alias normalisation, on both sides', () => {
    assert.equal(picked(filterIndex(INDEX, { arch: 'amd64' }).index.manifests), 'abde');
    assert.equal(picked(filterIndex(INDEX, { arch: 'aarch64' }).index.manifests), 'c');
    assert.equal(picked(filterIndex(INDEX, { plat: 'kvm' }).index.manifests), 'acde');
    assert.equal(picked(filterIndex(INDEX, { plat: 'firecracker' }).index.manifests), 'b');
    const r = filterIndex(INDEX, { arch: 'x86_64', plat: 'qemu' });
    assert.equal(picked(r.index.manifests), 'ade');
    assert.deepEqual(r.applied, ['arch', 'plat']);
  });

  test('match=exact: KEY=VALUE must equal a feature exactly', () => {
    const r = filterIndex(INDEX, { kconfig: ['CONFIG_HZ=100'], match: 'exact' });
    assert.equal(picked(r.index.manifests), 'ac', 'CONFIG_HZ=100 does not match CONFIG_HZ=1000');
    assert.deepEqual(r.applied, ['kconfig']);
  });

  test('match=exact: a bare KEY matches any value', () => {
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_HZ'], match: 'exact' }).index.manifests), 'abc');
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_H'], match: 'exact' }).index.manifests), '', 'a bare key is not a prefix');
  });

  test('the default is kraft\'s rule: substring of some feature, and no more terms than features', () => {
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_HZ=100'] }).index.manifests), 'abc', 'CONFIG_HZ=100 is in CONFIG_HZ=1000');
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_H'] }).index.manifests), 'abc');
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_HZ=100'], match: 'kraft' }).index.manifests), 'abc');
    // d has one feature: two terms are more than it has, though both are in it (kraftkit oci/manager.go:287).
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_ARCH_X86_64', 'X86'] }).index.manifests), 'ab');
    assert.equal(picked(filterIndex(INDEX, { kconfig: ['CONFIG_ARCH_X86_64', 'X86'], match: 'exact' }).index.manifests), '');
  });

  test('all filters must hold', () => {
    const r = filterIndex(INDEX, { arch: 'x86_64', plat: 'qemu', kconfig: ['CONFIG_HZ', 'CONFIG_LIBPOSIX_SOCKET=y'] });
    assert.equal(picked(r.index.manifests), 'a');
    assert.deepEqual(r.applied, ['arch', 'plat', 'kconfig']);
  });

  test('nothing matches: an empty manifests list, same top-level fields', () => {
    const r = filterIndex(INDEX, { plat: 'xen' });
    assert.deepEqual(r.index, { ...INDEX, manifests: [] });
    assert.equal(INDEX.manifests.length, 5, 'the input is not mutated');
  });

  test('bad filters are input errors', () => {
    assert.throws(() => filterIndex(INDEX, { arch: 'riscv64' }), (e: unknown) => e instanceof UnikernelInputError && e.field === 'arch');
    assert.throws(() => filterIndex(INDEX, { plat: '../x' }), (e: unknown) => e instanceof UnikernelInputError && e.field === 'plat');
    for (const bad of ['=1', 'CONFIG X=1', 'CONFIG-X']) {
      assert.throws(() => filterIndex(INDEX, { kconfig: [bad] }), (e: unknown) => e instanceof UnikernelInputError && e.field === 'filter');
    }
  });
});

describe('kraftSelect (what a kraft client picks)', () => {
  test('the substring rule: CONFIG_HZ=1 matches CONFIG_HZ=100 and CONFIG_HZ=1000', () => {
    assert.equal(picked(kraftSelect(INDEX, { arch: 'x86_64', plat: 'qemu', kconfig: ['CONFIG_HZ=1'] })), 'a');
    assert.equal(picked(kraftSelect(INDEX, { kconfig: ['CONFIG_HZ=1'] })), 'abc');
    assert.equal(picked(kraftSelect(INDEX, { kconfig: ['HZ=100', 'SOCKET'] })), 'a');
  });

  test('descriptors without sh.kraftkit.version are skipped', () => {
    assert.equal(picked(kraftSelect(INDEX, {})), 'abcd');
  });

  test('the requested plat and arch are normalised, the descriptor values compared as stored', () => {
    assert.equal(picked(kraftSelect(INDEX, { plat: 'kvm' })), 'ac', 'kraft does not see d (os "kvm") as qemu');
    assert.equal(picked(kraftSelect(INDEX, { arch: 'amd64', plat: 'qemu' })), 'a', 'nor e (architecture "amd64"; also no kraftkit annotation)');
    assert.equal(picked(kraftSelect(INDEX, { arch: 'arm64', plat: 'fc' })), '');
  });

  test('agrees with filterIndex on exact KEY=VALUE filters for well-formed variants', () => {
    const query = { arch: 'x86_64', plat: 'fc', kconfig: ['CONFIG_HZ=1000'] };
    assert.equal(picked(kraftSelect(INDEX, query)), 'b');
    assert.deepEqual(kraftSelect(INDEX, query), filterIndex(INDEX, query).index.manifests);
  });

  test('agrees with filterIndex\'s default rule on every kconfig query over kraft-annotated variants', () => {
    const kraftOnly = { ...INDEX, manifests: INDEX.manifests.filter((d) => d.annotations?.['sh.kraftkit.version'] !== undefined) };
    for (const kconfig of [['CONFIG_HZ=1'], ['CONFIG_HZ=100'], ['HZ'], ['CONFIG_ARCH_X86_64', 'X86'], ['SOCKET', 'CONFIG_PLAT_KVM=y'], ['CONFIG_A', 'CONFIG_B', 'CONFIG_C', 'CONFIG_D', 'CONFIG_E']]) {
      assert.deepEqual(filterIndex(kraftOnly, { kconfig }).index.manifests, kraftSelect(kraftOnly, { kconfig }), kconfig.join(','));
    }
  });
});

describe('end to end: what unireg packs, kraft selects', () => {
  test('kconfig → features → variants → merged index → kraft and unireg pick the same variant', () => {
    const kernel = { kind: 'kernel', digest: `sha256:${'1'.repeat(64)}` as Digest, size: 2048 } as const;
    const pack = (archIn: string, platIn: string, config: string) => {
      const arch = normalizeArch(archIn);
      const plat = normalizePlat(platIn);
      const kconfig = parseKconfig(config);
      return buildVariant({ name: 'nginx', tag: 'latest', arch, plat, version: fullVersion(kconfig), features: features({ arch, plat, kconfig }), layers: [kernel], created: '2025-01-01T00:00:00Z' });
    };
    const qemu = pack('amd64', 'kvm', 'CONFIG_UK_FULLVERSION="0.18.0"\nCONFIG_HZ=100\nCONFIG_UK_APP="/home/x"\n');
    const fc = pack('x86_64', 'firecracker', 'CONFIG_HZ=1000\n');
    const naming = indexAnnotations({ name: 'nginx', tag: 'latest' });
    const first = mergeIndex(undefined, [qemu.descriptor], 'merge', { annotations: naming }).index;
    const merged = mergeIndex(first, [fc.descriptor], 'merge', { annotations: naming }).index;
    const index = JSON.parse(serializeIndex(merged).toString()) as IndexJson;

    assert.deepEqual(kraftSelect(index, { arch: 'x86_64', plat: 'qemu' }), [qemu.descriptor]);
    assert.deepEqual(kraftSelect(index, { arch: 'x86_64', plat: 'fc', kconfig: ['CONFIG_KVM_VMM_FIRECRACKER=y'] }), [fc.descriptor]);
    assert.deepEqual(kraftSelect(index, { arch: 'x86_64', plat: 'qemu', kconfig: ['CONFIG_UK_APP'] }), [], 'host paths are not features');
    assert.deepEqual(filterIndex(index, { kconfig: ['CONFIG_HZ=1000'] }).index.manifests, [fc.descriptor]);
    assert.equal(qemu.descriptor.platform?.['os.version'], '0.18.0');
    assert.equal(qemu.descriptor.annotations?.['org.unikraft.kernel.version'], '0.18.0');
  });
});
