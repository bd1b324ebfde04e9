import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Digest } from '../../../src/oci/digest.js';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { TagExistsError } from '../../../src/unikernel/errors.js';
import { mergeIndex, repairSizes } from '../../../src/unikernel/merge.js';
import type { IndexJson } from '../../../src/unikernel/platform.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const variant = (c: string, arch: string, os: string, features: string[] = [], size = 500): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: digest(c),
  size,
  annotations: { 'sh.kraftkit.version': '0.11.6' },
  platform: { architecture: arch, os, 'os.features': features },
});
const indexOf = (manifests: Descriptor[], annotations: Record<string, string> = { 'org.opencontainers.image.ref.name': 'old' }): IndexJson => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests,
  annotations,
});
const digests = (i: IndexJson) => i.manifests.map((d) => d.digest[7]);

describe('mergeIndex', () => {
  const a = variant('a', 'x86_64', 'qemu', ['A=1', 'B=1']);
  const b = variant('b', 'arm64', 'qemu');
  const c = variant('c', 'x86_64', 'fc');

  test('merge: a variant of the same platform is replaced in place, others kept in order, new ones appended', () => {
    const a2 = variant('d', 'x86_64', 'qemu', ['B=1', 'A=1']);
    const e = variant('e', 'x86_64', 'xen');
    const r = mergeIndex(indexOf([a, b, c]), [e, a2], 'merge');
    assert.deepEqual(digests(r.index), ['d', 'b', 'c', 'e']);
    assert.deepEqual(r.replaced, [a]);
    assert.deepEqual(r.appended, [e]);
    assert.deepEqual(r.collapsed, []);
  });

  test('merge: aliases count as the same platform', () => {
    const a2 = variant('d', 'amd64', 'kvm', ['A=1', 'B=1']);
    assert.deepEqual(digests(mergeIndex(indexOf([a, b]), [a2], 'merge').index), ['d', 'b']);
  });

  test('merge: different features are different variants', () => {
    const a2 = variant('d', 'x86_64', 'qemu', ['A=1', 'B=2']);
    assert.deepEqual(digests(mergeIndex(indexOf([a, b]), [a2], 'merge').index), ['a', 'b', 'd']);
  });

  test('merge: duplicates piled up by kraft collapse to the last of them', () => {
    const a2 = variant('d', 'x86_64', 'qemu', ['B=1', 'A=1']);
    const r = mergeIndex(indexOf([a, b, a2]), [c], 'merge');
    assert.deepEqual(digests(r.index), ['d', 'b', 'c']);
    assert.deepEqual(r.collapsed, [a]);
  });

  test('merge: pushing the same manifest again changes nothing', () => {
    const r = mergeIndex(indexOf([a, b]), [a], 'merge');
    assert.deepEqual(digests(r.index), ['a', 'b']);
    assert.deepEqual(r.appended, []);
  });

  test('merge: among the incoming, the last of a platform wins', () => {
    const a2 = variant('d', 'x86_64', 'qemu', ['A=1', 'B=1']);
    assert.deepEqual(digests(mergeIndex(undefined, [a, a2, b], 'merge').index), ['d', 'b']);
  });

  test('merge: descriptors without a platform are kept, and matched by digest only', () => {
    const bare: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('f'), size: 10 };
    assert.deepEqual(digests(mergeIndex(indexOf([bare, a]), [b], 'merge').index), ['f', 'a', 'b']);
    assert.deepEqual(digests(mergeIndex(indexOf([bare, a]), [{ ...bare, size: 11 }], 'merge').index), ['f', 'a']);
  });

  test('merge: existing annotations and extra fields kept, given annotations override', () => {
    const existing = { ...indexOf([a], { 'org.opencontainers.image.ref.name': 'old', keep: 'me' }), subject: { x: 1 } };
    const r = mergeIndex(existing, [b], 'merge', { annotations: { 'org.opencontainers.image.ref.name': 'new' } });
    assert.deepEqual(r.index.annotations, { 'org.opencontainers.image.ref.name': 'new', keep: 'me' });
    assert.deepEqual(r.index.subject, { x: 1 });
    assert.deepEqual(digests(existing), ['a'], 'the input is not mutated');
  });

  test('no existing index: a new one of the incoming', () => {
    for (const strategy of ['merge', 'overwrite', 'abort'] as const) {
      const r = mergeIndex(undefined, [a, b], strategy, { annotations: { k: 'v' } });
      assert.deepEqual(r.index, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [a, b], annotations: { k: 'v' } });
    }
    assert.equal(mergeIndex(undefined, [a], 'merge').index.annotations, undefined);
  });

  test('overwrite: only the incoming, only the given annotations', () => {
    const r = mergeIndex(indexOf([a, b, c]), [variant('e', 'x86_64', 'xen')], 'overwrite', { annotations: { k: 'v' } });
    assert.deepEqual(digests(r.index), ['e']);
    assert.deepEqual(r.index.annotations, { k: 'v' });
  });

  test('abort: an existing index is a TagExistsError, even an empty one', () => {
    assert.throws(() => mergeIndex(indexOf([a]), [b], 'abort', { reference: 'nginx:latest' }), (e: unknown) => e instanceof TagExistsError && e.reference === 'nginx:latest');
    assert.throws(() => mergeIndex(indexOf([]), [b], 'abort'), TagExistsError);
  });
});

describe('repairSizes', () => {
  test('fixes the sizes kraft wrote as 32 and reports them; unknown digests are left and listed', () => {
    const a = variant('a', 'x86_64', 'qemu', [], 32);
    const b = variant('b', 'arm64', 'qemu', [], 700);
    const c = variant('c', 'arm64', 'fc', [], 32);
    const sizes = new Map<string, number>([
      [digest('a'), 812],
      [digest('b'), 700],
    ]);
    const input = indexOf([a, b, c]);
    const r = repairSizes(input, (d) => sizes.get(d));
    assert.deepEqual(r.index.manifests.map((d) => d.size), [812, 700, 32]);
    assert.deepEqual(r.repaired, [{ digest: digest('a'), from: 32, to: 812 }]);
    assert.deepEqual(r.unknown, [digest('c')]);
    assert.equal(input.manifests[0]?.size, 32, 'the input is not mutated');
    assert.deepEqual(r.index.annotations, input.annotations);
  });

  test('nothing to repair', () => {
    const a = variant('a', 'x86_64', 'qemu', [], 5);
    const r = repairSizes(indexOf([a]), () => 5);
    assert.deepEqual(r.repaired, []);
    assert.equal(r.index.manifests[0], a);
  });
});
