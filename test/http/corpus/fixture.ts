/**
 * The content the corpus runs against: a reference image (deterministic bytes,
 * only read by the corpus and pulled byte-identical afterwards), and a work
 * repository with an image, a referrer, a kernel blob, a unikernel tag of two
 * variants and a unikernel tag whose config blob is hostile (fields of the wrong
 * type, Cmd nested 20,000 deep) so every variants listing of the repository
 * meets it.
 */
import type { Digest } from '../../../src/oci/digest.js';
import { buildVariant, imageIndex } from '../../../src/unikernel/image.js';
import { features, parseKconfig } from '../../../src/unikernel/kconfig.js';
import { layerBytes } from '../../../src/unikernel/layer.js';
import { KERNEL_PATH, type Arch } from '../../../src/unikernel/names.js';
import { seededBytes } from '../../helpers/images.js';
import { KMT, replayChildren, type KraftVariant } from '../../helpers/kraft.js';
import { buildImage, MT, pushBlob, pushManifest, sha256 } from '../../helpers/oci.js';
import type { Fixture } from './types.js';

/** A unikernel variant with fixed bytes (fixed creation time), so the fixture is the same on every run. */
function fixedVariant(repo: string, arch: Arch, plat: string, kconfig: string): KraftVariant {
  const kernel = seededBytes(`corpus/uk/${arch}`, 3000);
  const layer = layerBytes(KERNEL_PATH, kernel, 0o755);
  const layerDigest = sha256(layer) as Digest;
  const variant = buildVariant({
    name: `localhost/${repo}`,
    tag: 'uk',
    arch,
    plat,
    features: features({ arch, plat, kconfig: parseKconfig(kconfig) }),
    layers: [{ kind: 'kernel', digest: layerDigest, size: layer.length }],
    cmd: ['-v'],
    created: '2026-01-01T00:00:00Z',
  });
  return { ...variant, kernel, layer, layerDigest };
}

export interface BuiltFixture {
  fx: Fixture;
  /** The reference manifest's bytes as pushed. */
  refBytes: Buffer;
}

/** A tag whose one variant has a config blob no listing can describe. */
async function hostileVariant(base: string, repo: string, manifestDigest: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${manifestDigest}`, { headers: { Accept: KMT.manifest } });
  const manifest = JSON.parse(Buffer.from(await res.arrayBuffer()).toString()) as Record<string, unknown>;
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
  const config = `{"architecture":{"toString":1},"os":"qemu","config":{"Cmd":${deep},"Env":[{"toString":1}]}}`;
  const configDigest = await pushBlob(base, repo, config);
  const bytes = Buffer.from(JSON.stringify({ ...manifest, config: { mediaType: KMT.config, digest: configDigest, size: Buffer.byteLength(config) } }));
  await pushManifest(base, repo, sha256(bytes), bytes, KMT.manifest);
  const descriptor = { mediaType: KMT.manifest, digest: sha256(bytes), size: bytes.length, annotations: { 'sh.kraftkit.version': '0.10.1' }, platform: { os: 'qemu' } };
  await pushManifest(base, repo, 'ukbad', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: KMT.index, manifests: [descriptor] })), KMT.index);
}

export async function buildFixture(base: string, seed: number): Promise<BuiltFixture> {
  const refRepo = 'corpus/ref';
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layers = [seededBytes('corpus/layer/1', 3000), seededBytes('corpus/layer/2', 70_000)];
  for (const b of [config, ...layers]) await pushBlob(base, refRepo, b);
  const ref = buildImage(config, layers);
  await pushManifest(base, refRepo, 'stable', ref.bytes, MT.ociManifest);

  const workRepo = 'corpus/work';
  const workConfig = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed, work: true }));
  const workLayers = [seededBytes('corpus/work/1', 1000)];
  for (const b of [workConfig, ...workLayers]) await pushBlob(base, workRepo, b);
  const work = buildImage(workConfig, workLayers);
  await pushManifest(base, workRepo, 'w1', work.bytes, MT.ociManifest);
  await pushManifest(base, workRepo, 'w2', work.bytes, MT.ociManifest);
  await pushBlob(base, workRepo, Buffer.from('{}'));
  const sig = buildImage(Buffer.from('{}'), [], { artifactType: 'application/vnd.example.sig', subject: work.descriptor, configMediaType: MT.ociEmpty });
  await pushManifest(base, workRepo, sig.digest, sig.bytes, MT.ociManifest);
  const kernelBlob = await pushBlob(base, workRepo, seededBytes('corpus/kernel', 2500));
  const variants = [fixedVariant(workRepo, 'x86_64', 'qemu', 'CONFIG_HZ=100\n'), fixedVariant(workRepo, 'arm64', 'fc', 'CONFIG_HZ=1000\n')];
  await replayChildren(base, workRepo, variants);
  const ukIndexBytes = imageIndex(variants.map((v) => v.descriptor), { name: `localhost/${workRepo}`, tag: 'uk', kraftkitVersion: '0.10.1' });
  await pushManifest(base, workRepo, 'uk', ukIndexBytes, KMT.index);
  await hostileVariant(base, workRepo, variants[0]!.manifestDigest);
  const fx: Fixture = {
    refRepo,
    refTag: 'stable',
    refManifest: ref.digest,
    refBlobs: [sha256(config), ...layers.map((l) => sha256(l))],
    workRepo,
    workTags: ['w1', 'w2', 'ukbad'],
    workManifest: work.digest,
    workManifestBytes: work.bytes,
    workBlobs: [sha256(workConfig), ...workLayers.map((l) => sha256(l)), sig.digest],
    ukTag: 'uk',
    ukIndex: sha256(ukIndexBytes),
    ukIndexBytes,
    ukManifest: variants[0]!.manifestDigest,
    kernelBlob,
    subject: work.digest,
  };
  return { fx, refBytes: ref.bytes };
}
