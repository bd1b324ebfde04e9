import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnikernelInputError } from '../../../src/unikernel/errors.js';
import {
  DEFAULT_SKIP_KEYS,
  compareBytes,
  derivedFeatures,
  features,
  fullVersion,
  parseKconfig,
  sortFeatures,
} from '../../../src/unikernel/kconfig.js';
import type { Arch } from '../../../src/unikernel/names.js';

const kv = (text: string) => parseKconfig(text).map((e) => `${e.key}=${e.value}`);

function lineError(text: string): number {
  try {
    parseKconfig(text);
  } catch (err) {
    assert.ok(err instanceof UnikernelInputError, String(err));
    assert.equal(err.field, 'kconfig');
    const line = err.detail.line;
    assert.equal(typeof line, 'number');
    assert.match(err.message, new RegExp(`line ${String(line)}`));
    return line as number;
  }
  assert.fail('expected a UnikernelInputError');
}

describe('kconfig parsing', () => {
  test('keys and values, with line numbers', () => {
    assert.deepEqual(parseKconfig('CONFIG_A=y\n\nCONFIG_B=42\n'), [
      { key: 'CONFIG_A', value: 'y', line: 1 },
      { key: 'CONFIG_B', value: '42', line: 3 },
    ]);
  });

  test('comments, blank lines and "is not set" lines are skipped', () => {
    const text = '#\n# Automatically generated file; DO NOT EDIT.\n\n# CONFIG_X is not set\n   # indented comment\nCONFIG_Y=y\n';
    assert.deepEqual(kv(text), ['CONFIG_Y=y']);
  });

  test('one surrounding pair of quotes is stripped, inner ones kept', () => {
    assert.deepEqual(kv('CONFIG_S="hello world"'), ['CONFIG_S=hello world']);
    assert.deepEqual(kv('CONFIG_S=""'), ['CONFIG_S=']);
    assert.deepEqual(kv('CONFIG_S=""x""'), ['CONFIG_S="x"']);
    assert.deepEqual(kv('CONFIG_S="'), ['CONFIG_S="'], 'a lone quote is not a pair');
    assert.deepEqual(kv('CONFIG_S=a"b"'), ['CONFIG_S=a"b"']);
  });

  test('the split is at the first =, so values may contain =', () => {
    assert.deepEqual(kv('CONFIG_LIBUKCMDLINE="a=b c=d"\nCONFIG_E=x=y'), ['CONFIG_LIBUKCMDLINE=a=b c=d', 'CONFIG_E=x=y']);
  });

  test('an empty value is kept', () => {
    assert.deepEqual(kv('CONFIG_E='), ['CONFIG_E=']);
  });

  test('CRLF line endings and surrounding whitespace are harmless', () => {
    assert.deepEqual(kv('CONFIG_A=y\r\n# c\r\n\r\n  CONFIG_B="q"  \r\n'), ['CONFIG_A=y', 'CONFIG_B=q']);
  });

  test('a line without = is an error naming its line', () => {
    assert.equal(lineError('CONFIG_A=y\n# ok\nGARBAGE\n'), 3);
  });

  test('an empty or invalid key is an error naming its line', () => {
    assert.equal(lineError('=y'), 1);
    assert.equal(lineError('CONFIG_A=y\r\nCONFIG B=y'), 2);
    assert.equal(lineError('\n\nCONFIG_A =y'), 3);
    assert.equal(lineError('CONFIG-A=y'), 1);
  });

  test('the Unikraft version comes from CONFIG_UK_FULLVERSION', () => {
    assert.equal(fullVersion(parseKconfig('CONFIG_UK_FULLVERSION="0.18.0~abc"\n')), '0.18.0~abc');
    assert.equal(fullVersion(parseKconfig('CONFIG_A=y')), undefined);
    assert.equal(fullVersion(parseKconfig('CONFIG_UK_FULLVERSION=""')), undefined);
  });
});

describe('os.features', () => {
  const table: [Arch, string, string[]][] = [
    ['x86_64', 'qemu', ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_QEMU=y']],
    ['arm64', 'qemu', ['CONFIG_ARCH_ARM_64=y', 'CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_QEMU=y']],
    ['arm', 'xen', ['CONFIG_ARCH_ARM_32=y', 'CONFIG_PLAT_XEN=y']],
    ['x86_64', 'fc', ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_FIRECRACKER=y']],
    ['x86_64', 'kraftcloud', ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_FIRECRACKER=y']],
    ['x86_64', 'xen', ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_XEN=y']],
    ['x86_64', 'linuxu', ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_LINUXU=y']],
    ['arm64', 'someplat', ['CONFIG_ARCH_ARM_64=y']],
  ];
  for (const [arch, plat, expected] of table) {
    test(`derived keys for ${arch}/${plat}`, () => {
      assert.deepEqual(derivedFeatures(arch, plat), expected);
      assert.deepEqual(features({ arch, plat }), sortFeatures(expected), 'a bare kernel gets only the derived keys');
    });
  }

  test('platform aliases derive the same keys', () => {
    assert.deepEqual(derivedFeatures('x86_64', 'kvm'), derivedFeatures('x86_64', 'qemu'));
    assert.deepEqual(derivedFeatures('x86_64', 'firecracker'), derivedFeatures('x86_64', 'fc'));
  });

  test('the default skip list drops the host paths', () => {
    assert.deepEqual(DEFAULT_SKIP_KEYS, ['CONFIG_UK_APP', 'CONFIG_UK_BASE']);
    const kconfig = parseKconfig('CONFIG_UK_APP="/home/me/app"\nCONFIG_UK_BASE="/home/me/uk"\nCONFIG_HZ=100\n');
    assert.deepEqual(features({ arch: 'x86_64', plat: 'xen', kconfig }), [
      'CONFIG_ARCH_X86_64=y',
      'CONFIG_HZ=100',
      'CONFIG_PLAT_XEN=y',
    ]);
  });

  test('the skip list is configurable', () => {
    const kconfig = parseKconfig('CONFIG_UK_APP="/a"\nCONFIG_HZ=100\n');
    assert.deepEqual(features({ arch: 'arm', plat: 'other', kconfig, skip: ['CONFIG_HZ'] }), ['CONFIG_ARCH_ARM_32=y', 'CONFIG_UK_APP=/a']);
    assert.deepEqual(features({ arch: 'arm', plat: 'other', kconfig, skip: [] }), ['CONFIG_ARCH_ARM_32=y', 'CONFIG_HZ=100', 'CONFIG_UK_APP=/a']);
  });

  test('sorted byte-wise and deduplicated; derived keys merge with the .config', () => {
    const kconfig = parseKconfig('CONFIG_b=1\nCONFIG_PLAT_KVM=y\nCONFIG_A=1\nCONFIG_Z=1\nCONFIG_A=1\nCONFIG_KVM_VMM_QEMU=y\n');
    assert.deepEqual(features({ arch: 'x86_64', plat: 'qemu', kconfig }), [
      'CONFIG_A=1',
      'CONFIG_ARCH_X86_64=y',
      'CONFIG_KVM_VMM_QEMU=y',
      'CONFIG_PLAT_KVM=y',
      'CONFIG_Z=1',
      'CONFIG_b=1', // lowercase sorts after uppercase byte-wise
    ]);
  });

  test('a key set twice keeps its last value; a derived key wins over the .config', () => {
    const kconfig = parseKconfig('CONFIG_HZ=100\nCONFIG_HZ=250\nCONFIG_PLAT_XEN=n\n');
    assert.deepEqual(features({ arch: 'x86_64', plat: 'xen', kconfig }), ['CONFIG_ARCH_X86_64=y', 'CONFIG_HZ=250', 'CONFIG_PLAT_XEN=y']);
  });

  test('byte-wise order differs from UTF-16 order above the BMP', () => {
    // U+FF5E (3 UTF-8 bytes EF BD 9E) vs U+1F600 (4 bytes F0 ...): UTF-16 puts the emoji first, bytes put it last.
    assert.ok(compareBytes('\uff5e', '\u{1f600}') < 0);
    assert.deepEqual(sortFeatures(['K=\u{1f600}', 'K=\uff5e', 'K=\uff5e']), ['K=\uff5e', 'K=\u{1f600}']);
  });
});
