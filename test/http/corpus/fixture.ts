/**
 * The content the corpus runs against: a reference image (deterministic bytes,
 * only read by the corpus and pulled byte-identical afterwards), and a work
 * repository with an image, a referrer, a kernel blob, a unikernel tag of two
 * variants and a unikernel tag whose config blob is hostile (fields of the wrong
 * type, Cmd nested 20,000 deep) so every variants listing of the repository
 * meets it.
 */
import { seededBytes } from '../../helpers/images.js';
import { KMT, packOk } from '../../helpers/kraft.js';
import { buildImage, MT, pushBlob, pushImage, pushManifest, sha256 } from '../../helpers/oci.js';
import type { Fixture } from './types.js';

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
  const work = await pushImage(base, workRepo, 'w1');
  await pushManifest(base, workRepo, 'w2', work.bytes, MT.ociManifest);
  const sig = await pushImage(base, workRepo, undefined, { artifactType: 'application/vnd.example.sig', subject: work.descriptor, configMediaType: MT.ociEmpty });
  const kernelBlob = await pushBlob(base, workRepo, seededBytes('corpus/kernel', 2500));
  const uk = await packOk(base, workRepo, { tag: 'uk', arch: 'x86_64', plat: 'qemu', kernel: seededBytes('corpus/uk', 3000), kconfig: 'CONFIG_HZ=100\n' });
  await packOk(base, workRepo, { tag: 'uk', arch: 'arm64', plat: 'fc', kernel: seededBytes('corpus/uk2', 3000), kconfig: 'CONFIG_HZ=1000\n' });
  const ukRes = await fetch(`${base}/v2/${workRepo}/manifests/uk`, { headers: { Accept: MT.ociIndex } });
  const ukIndexBytes = Buffer.from(await ukRes.arrayBuffer());
  await hostileVariant(base, workRepo, uk.manifest);
  const fx: Fixture = {
    refRepo,
    refTag: 'stable',
    refManifest: ref.digest,
    refBlobs: [sha256(config), ...layers.map((l) => sha256(l))],
    workRepo,
    workTags: ['w1', 'w2', 'ukbad'],
    workManifest: work.digest,
    workManifestBytes: work.bytes,
    workBlobs: [sha256(work.config), ...work.layers.map((l) => sha256(l)), sig.digest],
    ukTag: 'uk',
    ukIndex: sha256(ukIndexBytes),
    ukIndexBytes,
    ukManifest: uk.manifest,
    kernelBlob,
    subject: work.digest,
  };
  return { fx, refBytes: ref.bytes };
}
