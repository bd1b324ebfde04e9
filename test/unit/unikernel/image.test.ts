import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf, type Digest } from '../../../src/oci/digest.js';
import { UnikernelInputError } from '../../../src/unikernel/errors.js';
import {
  buildVariant,
  canonicalDescriptor,
  configBlob,
  imageIndex,
  imageManifest,
  indexAnnotations,
  indexDescriptor,
  layerDescriptor,
  rfc3339,
  serializeIndex,
  variantPlatform,
} from '../../../src/unikernel/image.js';
import { layerBytes } from '../../../src/unikernel/layer.js';
import { KERNEL_PATH, KRAFTKIT_VERSION } from '../../../src/unikernel/names.js';
import { isUnikernelIndex, isUnikernelManifest } from '../../../src/unikernel/platform.js';

const kernelLayer = layerBytes(KERNEL_PATH, Buffer.from('hello unikernel\n'), 0o755);
const KERNEL_DIGEST = 'sha256:4064d9f61d3a33c84a862fdda874fb0968c2965e4b4b5010fb93e4ccd95515e8' as Digest;
const INITRD_DIGEST = digestOf(Buffer.from('initrd')) as Digest;
const CREATED = '2025-01-02T03:04:05Z';

describe('config blob', () => {
  test('exact bytes: field order architecture, os, os.version, os.features, config, rootfs', () => {
    const bytes = configBlob({
      arch: 'x86_64',
      plat: 'qemu',
      osVersion: '0.18.0',
      features: ['CONFIG_ARCH_X86_64=y', 'CONFIG_PLAT_KVM=y'],
      cmd: ['-c', 'x'],
      env: ['A=1'],
      labels: { z: '1', a: '2' },
      diffIds: [KERNEL_DIGEST],
    });
    assert.equal(
      bytes.toString(),
      '{"architecture":"x86_64","os":"qemu","os.version":"0.18.0","os.features":["CONFIG_ARCH_X86_64=y","CONFIG_PLAT_KVM=y"],' +
        '"config":{"Cmd":["-c","x"],"Env":["A=1"],"Labels":{"a":"2","z":"1"}},' +
        `"rootfs":{"type":"layers","diff_ids":["${KERNEL_DIGEST}"]}}`,
    );
  });

  test('unknown version omitted, empty config is {}', () => {
    const bytes = configBlob({ arch: 'arm64', plat: 'fc', features: ['CONFIG_ARCH_ARM_64=y'], cmd: [], env: [], labels: {}, diffIds: [KERNEL_DIGEST, INITRD_DIGEST] });
    assert.equal(
      bytes.toString(),
      '{"architecture":"arm64","os":"fc","os.features":["CONFIG_ARCH_ARM_64=y"],"config":{},' +
        `"rootfs":{"type":"layers","diff_ids":["${KERNEL_DIGEST}","${INITRD_DIGEST}"]}}`,
    );
  });
});

describe('manifest and index', () => {
  const platform = variantPlatform({ arch: 'x86_64', plat: 'qemu', osVersion: '0.18.0', features: ['CONFIG_ARCH_X86_64=y'] });

  test('layer descriptors are uncompressed tar annotated with their path', () => {
    assert.deepEqual(layerDescriptor({ kind: 'kernel', digest: KERNEL_DIGEST, size: 2048 }), {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: KERNEL_DIGEST,
      size: 2048,
      annotations: { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' },
    });
    assert.deepEqual(layerDescriptor({ kind: 'initrd', digest: INITRD_DIGEST, size: 1536 }).annotations, {
      'org.unikraft.kernel.initrd': '/unikraft/bin/initrd',
    });
  });

  test('manifest: config descriptor with platform, annotations of §2, exact field order', () => {
    const config = Buffer.from('{}');
    const bytes = imageManifest({
      name: 'localhost:5000/nginx',
      tag: 'latest',
      kernelVersion: '0.18.0',
      created: CREATED,
      config: { digest: digestOf(config), size: 2 },
      platform,
      layers: [{ kind: 'kernel', digest: KERNEL_DIGEST, size: kernelLayer.length }],
    });
    const json = JSON.parse(bytes.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['schemaVersion', 'mediaType', 'config', 'layers', 'annotations']);
    assert.equal(json.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(json.config, {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: digestOf(config),
      size: 2,
      platform: { architecture: 'x86_64', os: 'qemu', 'os.version': '0.18.0', 'os.features': ['CONFIG_ARCH_X86_64=y'] },
    });
    assert.deepEqual(Object.keys(json.config as object), ['mediaType', 'digest', 'size', 'platform']);
    assert.deepEqual(json.annotations, {
      'io.containerd.image.name': 'localhost:5000/nginx:latest',
      'org.opencontainers.image.created': CREATED,
      'org.opencontainers.image.ref.name': 'localhost:5000/nginx',
      'org.unikraft.image.name': 'localhost:5000/nginx',
      'org.unikraft.kernel.version': '0.18.0',
      'sh.kraftkit.version': KRAFTKIT_VERSION,
    });
    assert.deepEqual(Object.keys(json.annotations as object), Object.keys(json.annotations as object).sort(), 'keys sorted as Go does');
    assert.ok(isUnikernelManifest(json));
  });

  test('without a kernel version there is no kernel.version annotation; the kraftkit version can be passed in', () => {
    const bytes = imageManifest({
      name: 'nginx',
      tag: 'v1',
      kraftkitVersion: '0.9.0',
      created: CREATED,
      config: { digest: KERNEL_DIGEST, size: 1 },
      platform,
      layers: [{ kind: 'kernel', digest: KERNEL_DIGEST, size: 2048 }],
    });
    const annotations = (JSON.parse(bytes.toString()) as { annotations: Record<string, string> }).annotations;
    assert.equal(annotations['org.unikraft.kernel.version'], undefined);
    assert.equal(annotations['sh.kraftkit.version'], '0.9.0');
    assert.equal(annotations['io.containerd.image.name'], 'nginx:v1');
  });

  test('buildVariant: digests, diff_ids = layer digests, descriptor copies annotations and platform', () => {
    const v = buildVariant({
      name: 'nginx',
      tag: 'latest',
      arch: 'x86_64',
      plat: 'qemu',
      version: '0.18.0',
      features: ['CONFIG_ARCH_X86_64=y'],
      layers: [
        { kind: 'initrd', digest: INITRD_DIGEST, size: 1536 },
        { kind: 'kernel', digest: KERNEL_DIGEST, size: 2048 },
      ],
      created: CREATED,
    });
    assert.equal(v.configDigest, digestOf(v.config));
    assert.equal(v.manifestDigest, digestOf(v.manifest));
    const config = JSON.parse(v.config.toString()) as { rootfs: { diff_ids: string[] } };
    const manifest = JSON.parse(v.manifest.toString()) as { layers: { digest: string }[]; annotations: Record<string, string> };
    assert.deepEqual(config.rootfs.diff_ids, [KERNEL_DIGEST, INITRD_DIGEST], 'the kernel comes first');
    assert.deepEqual(manifest.layers.map((l) => l.digest), config.rootfs.diff_ids);
    assert.deepEqual(v.descriptor, {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: v.manifestDigest,
      size: v.manifest.length,
      annotations: manifest.annotations,
      platform,
    });
    assert.deepEqual(Object.keys(v.descriptor), ['mediaType', 'digest', 'size', 'annotations', 'platform']);
    assert.deepEqual(indexDescriptor(v.manifest), v.descriptor, 'the platform is read back from the config descriptor');
  });

  test('buildVariant refuses a missing kernel or two of a kind', () => {
    const base = { name: 'n', tag: 't', arch: 'x86_64', plat: 'qemu', features: [], created: CREATED } as const;
    assert.throws(() => buildVariant({ ...base, layers: [] }), (e: unknown) => e instanceof UnikernelInputError && e.field === 'kernel');
    assert.throws(() => buildVariant({ ...base, layers: [{ kind: 'initrd', digest: INITRD_DIGEST, size: 1 }] }), UnikernelInputError);
    const k = { kind: 'kernel', digest: KERNEL_DIGEST, size: 1 } as const;
    const i = { kind: 'initrd', digest: INITRD_DIGEST, size: 1 } as const;
    assert.throws(() => buildVariant({ ...base, layers: [k, k] }), UnikernelInputError);
    assert.throws(() => buildVariant({ ...base, layers: [k, i, i] }), UnikernelInputError);
  });

  test('indexDescriptor refuses non-manifests and manifests without a platform', () => {
    assert.throws(() => indexDescriptor(Buffer.from('nope')), UnikernelInputError);
    assert.throws(() => indexDescriptor(Buffer.from('{"schemaVersion":2,"manifests":[]}')), UnikernelInputError);
    const noPlatform = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: KERNEL_DIGEST, size: 1 }, layers: [] }));
    assert.throws(() => indexDescriptor(noPlatform), UnikernelInputError);
    const d = indexDescriptor(noPlatform, { architecture: 'arm64', os: 'xen' });
    assert.deepEqual(d.platform, { architecture: 'arm64', os: 'xen' });
    assert.equal(d.annotations, undefined);
  });

  test('index: media type, manifests, the three annotations; created only when given', () => {
    const v = buildVariant({ name: 'nginx', tag: 'latest', arch: 'arm64', plat: 'fc', features: [], layers: [{ kind: 'kernel', digest: KERNEL_DIGEST, size: 2048 }], created: CREATED });
    const bytes = imageIndex([v.descriptor], { name: 'nginx', tag: 'latest' });
    const json = JSON.parse(bytes.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['schemaVersion', 'mediaType', 'manifests', 'annotations']);
    assert.equal(json.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(json.manifests, [v.descriptor]);
    assert.deepEqual(json.annotations, {
      'io.containerd.image.name': 'nginx:latest',
      'org.opencontainers.image.ref.name': 'nginx',
      'sh.kraftkit.version': KRAFTKIT_VERSION,
    });
    assert.ok(isUnikernelIndex(json));
    assert.equal(indexAnnotations({ name: 'n', tag: 't', created: CREATED })['org.opencontainers.image.created'], CREATED);
  });

  test('serializeIndex puts fields in Go order whatever order they came in', () => {
    const messy = {
      annotations: { b: '1', a: '2' },
      manifests: [{ platform: { 'os.features': ['X=1'], os: 'qemu', architecture: 'x86_64' }, size: 3, digest: KERNEL_DIGEST, mediaType: 'm', extra: true }],
      mediaType: 'application/vnd.oci.image.index.v1+json',
      schemaVersion: 2,
    };
    assert.equal(
      serializeIndex(messy).toString(),
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",' +
        `"manifests":[{"mediaType":"m","digest":"${KERNEL_DIGEST}","size":3,"platform":{"architecture":"x86_64","os":"qemu","os.features":["X=1"]},"extra":true}],` +
        '"annotations":{"a":"2","b":"1"}}',
    );
    assert.deepEqual(Object.keys(canonicalDescriptor({ size: 1, digest: KERNEL_DIGEST, mediaType: 'm' })), ['mediaType', 'digest', 'size']);
  });

  test('rfc3339 drops the milliseconds, as Go formats UTC', () => {
    assert.equal(rfc3339(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678))), '2025-01-02T03:04:05Z');
  });
});

describe('serializeIndex and nesting', () => {
  test('an index nesting deeper than the limit is refused, not walked into a stack overflow', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`) as unknown;
    const d = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}` as Digest, size: 1, x: deep };
    assert.throws(() => serializeIndex({ schemaVersion: 2, manifests: [d] }), (err: Error) => err.name === 'ManifestInvalidError' && /64/.test(err.message));
    const ok = JSON.parse(`${'['.repeat(60)}${']'.repeat(60)}`) as unknown;
    assert.ok(serializeIndex({ schemaVersion: 2, manifests: [{ ...d, x: ok }] }).length > 0);
  });
});
