import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Platform } from '../../../src/oci/descriptor.js';
import {
  isImageIndex,
  isImageManifest,
  isUnikernelIndex,
  isUnikernelManifest,
  platformIdentity,
  platformKey,
  samePlatform,
} from '../../../src/unikernel/platform.js';

const D = `sha256:${'a'.repeat(64)}`;
const p = (extra: Partial<Platform> = {}): Platform => ({
  architecture: 'x86_64',
  os: 'qemu',
  'os.version': '0.18.0',
  'os.features': ['A=1', 'B=2'],
  ...extra,
});

describe('platform identity', () => {
  test('feature order and duplicates do not matter', () => {
    assert.ok(samePlatform(p(), p({ 'os.features': ['B=2', 'A=1'] })));
    assert.ok(samePlatform(p(), p({ 'os.features': ['B=2', 'A=1', 'A=1'] })));
    assert.deepEqual(platformIdentity(p({ 'os.features': ['B=2', 'A=1'] }))?.features, ['A=1', 'B=2']);
  });

  test('architecture, os, os.version and the feature set all count', () => {
    assert.ok(!samePlatform(p(), p({ architecture: 'arm64' })));
    assert.ok(!samePlatform(p(), p({ os: 'fc' })));
    assert.ok(!samePlatform(p(), p({ 'os.version': '0.17.0' })));
    assert.ok(!samePlatform(p(), p({ 'os.features': ['A=1'] })));
    assert.ok(!samePlatform(p(), p({ 'os.features': ['A=1', 'B=3'] })));
  });

  test('aliases are normalised: amd64 is x86_64, kvm is qemu', () => {
    assert.ok(samePlatform(p(), p({ architecture: 'amd64', os: 'kvm' })));
  });

  test('a missing version equals an empty one; missing features equal an empty list', () => {
    const bare: Platform = { architecture: 'arm', os: 'xen' };
    assert.ok(samePlatform(bare, { architecture: 'arm', os: 'xen', 'os.version': '', 'os.features': [] }));
  });

  test('no platform, or one without architecture or os, matches nothing', () => {
    assert.equal(platformKey(undefined), undefined);
    assert.equal(platformKey({ architecture: '', os: 'qemu' }), undefined);
    assert.ok(!samePlatform(undefined, undefined));
    assert.ok(!samePlatform({ architecture: 'x86_64', os: '' }, { architecture: 'x86_64', os: '' }));
  });
});

describe('recognising unikernel content', () => {
  const kernelLayer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: D, size: 2048, annotations: { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' } };
  const manifest = (layers: unknown[], extra: object = {}) => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 2 },
    layers,
    ...extra,
  });

  test('a manifest with a layer annotated org.unikraft.kernel.image is a unikernel', () => {
    assert.ok(isUnikernelManifest(manifest([kernelLayer])));
    assert.ok(isUnikernelManifest(manifest([{ ...kernelLayer, annotations: {} }, kernelLayer])));
    assert.ok(isUnikernelManifest({ ...manifest([kernelLayer]), mediaType: undefined }), 'mediaType may be absent');
  });

  test('ordinary manifests, indexes and junk are not', () => {
    assert.ok(!isUnikernelManifest(manifest([{ ...kernelLayer, annotations: {} }])));
    assert.ok(!isUnikernelManifest(manifest([])));
    assert.ok(!isUnikernelManifest(manifest([kernelLayer], { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' })));
    assert.ok(!isUnikernelManifest(manifest([kernelLayer], { schemaVersion: 1 })));
    assert.ok(!isUnikernelManifest(manifest(['x'])));
    for (const junk of [null, 1, 'x', [], {}]) assert.ok(!isUnikernelManifest(junk));
    assert.ok(isImageManifest(manifest([])));
  });

  const index = (manifests: unknown[], extra: object = {}) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests, ...extra });
  const desc = (annotations?: Record<string, string>) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D, size: 100, ...(annotations ? { annotations } : {}) });

  test('an index is a unikernel index when it or a child descriptor carries kraft or unikraft annotations', () => {
    assert.ok(isUnikernelIndex(index([desc({ 'sh.kraftkit.version': '0.11.6' })])));
    assert.ok(isUnikernelIndex(index([desc(), desc({ 'org.unikraft.image.name': 'x' })])));
    assert.ok(isUnikernelIndex(index([], { annotations: { 'sh.kraftkit.version': '0.11.6' } })));
  });

  test('a plain multi-arch index is not', () => {
    assert.ok(!isUnikernelIndex(index([desc(), desc({ 'org.opencontainers.image.ref.name': 'x' })])));
    assert.ok(!isUnikernelIndex(index([desc({ 'sh.kraftkit.version': '1' })], { mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' })));
    assert.ok(!isUnikernelIndex(manifest([kernelLayer])));
    assert.ok(isImageIndex(index([])));
    assert.ok(!isImageIndex(index([{ digest: D }])));
  });
});
