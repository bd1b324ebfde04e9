/**
 * Helpers for the unikernel HTTP tests: packing through `POST /v2/<name>/_unikraft/pack`
 * (multipart and JSON), reading what a tag holds (index, child manifests, config
 * blobs), checking everything a kraft client requires of it (format doc §1, §2,
 * §4), and building kraft-style content locally to replay `kraft pkg push`
 * (HEAD probes, POST + PATCH + PUT uploads, children by digest, index by tag).
 */
import assert from 'node:assert/strict';
import type { Digest } from '../../src/oci/digest.js';
import type { Descriptor as OciDescriptor } from '../../src/oci/descriptor.js';
import { buildVariant, imageIndex, rfc3339, type Variant } from '../../src/unikernel/image.js';
import { features, parseKconfig } from '../../src/unikernel/kconfig.js';
import { layerBytes } from '../../src/unikernel/layer.js';
import { INITRD_PATH, KERNEL_PATH, normalizeArch, normalizePlat } from '../../src/unikernel/names.js';
import type { IndexJson } from '../../src/unikernel/platform.js';
import { seededBytes } from './images.js';
import { abs, bin, MT, sha256, withQuery } from './oci.js';

export const KMT = {
  index: MT.ociIndex,
  manifest: MT.ociManifest,
  config: MT.ociConfig,
  /** Uncompressed: the only layer type kraft reads. */
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** The test vector of format doc §3. */
export const VECTOR = {
  kernel: Buffer.from('hello unikernel\n'),
  digest: 'sha256:4064d9f61d3a33c84a862fdda874fb0968c2965e4b4b5010fb93e4ccd95515e8',
  size: 2048,
} as const;

export const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** `n` pseudo-random bytes determined by `seed`. */
export const bytesOf = seededBytes;

/** A Unikraft `.config` as `make` writes it, with host paths, quotes and "is not set" lines. */
export function dotConfig(extra: string[] = [], version = '0.18.0~a1b2c3'): string {
  return [
    '#',
    '# Automatically generated file; DO NOT EDIT.',
    '# Unikraft/0.18.0 Configuration',
    '#',
    `CONFIG_UK_FULLVERSION="${version}"`,
    'CONFIG_UK_NAME="helloworld"',
    'CONFIG_UK_APP="/home/builder/apps/helloworld"',
    'CONFIG_UK_BASE="/home/builder/.unikraft/unikraft"',
    '# CONFIG_LIBUKDEBUG_PRINTD is not set',
    ...extra,
    '',
  ].join('\n');
}

export interface PackOptions {
  kernel?: Buffer;
  initrd?: Buffer;
  /** Sent as a file part named `kconfig`. */
  kconfig?: string;
  /** Sent as a plain form field named `kconfig` instead. */
  kconfigField?: string;
  arch?: string;
  plat?: string;
  tag?: string;
  version?: string;
  cmd?: string[];
  env?: string[];
  labels?: string[];
  strategy?: string;
}

export function packForm(o: PackOptions): FormData {
  const form = new FormData();
  if (o.tag !== undefined) form.append('tag', o.tag);
  if (o.arch !== undefined) form.append('arch', o.arch);
  if (o.plat !== undefined) form.append('plat', o.plat);
  if (o.version !== undefined) form.append('version', o.version);
  if (o.strategy !== undefined) form.append('strategy', o.strategy);
  for (const c of o.cmd ?? []) form.append('cmd', c);
  for (const e of o.env ?? []) form.append('env', e);
  for (const l of o.labels ?? []) form.append('label', l);
  if (o.kconfigField !== undefined) form.append('kconfig', o.kconfigField);
  if (o.kconfig !== undefined) form.append('kconfig', new Blob([bin(o.kconfig)]), '.config');
  if (o.kernel !== undefined) form.append('kernel', new Blob([bin(o.kernel)]), 'kernel');
  if (o.initrd !== undefined) form.append('initrd', new Blob([bin(o.initrd)]), 'initrd.cpio');
  return form;
}

export function pack(base: string, repo: string, o: PackOptions): Promise<Response> {
  return fetch(`${base}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: packForm(o) });
}

export function packJson(base: string, repo: string, body: unknown): Promise<Response> {
  return fetch(`${base}/v2/${repo}/_unikraft/pack`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export interface PackResult {
  repository: string;
  tag: string;
  index: string;
  manifest: string;
  config: string;
  platform: { architecture: string; os: string; 'os.version'?: string; 'os.features'?: string[] };
  layers: OciDescriptor[];
  strategy: string;
  /** The provenance referrer of the packed variant manifest. */
  provenance: string;
}

/** Asserts a 201 pack answer (body and headers) and returns its body. */
export async function expectPacked(res: Response, repo: string): Promise<PackResult> {
  const text = await res.text();
  assert.equal(res.status, 201, `pack ${repo}: ${text}`);
  const body = JSON.parse(text) as PackResult;
  assert.deepEqual(Object.keys(body).sort(), ['config', 'index', 'layers', 'manifest', 'platform', 'provenance', 'repository', 'strategy', 'tag']);
  assert.equal(body.repository, repo);
  assert.equal(res.headers.get('docker-content-digest'), body.index);
  assert.equal(res.headers.get('location'), `/v2/${repo}/manifests/${body.index}`);
  return body;
}

export async function packOk(base: string, repo: string, o: PackOptions): Promise<PackResult> {
  return expectPacked(await pack(base, repo, o), repo);
}

export interface TagState {
  status: number;
  digest: string | null;
  bytes: Buffer;
}

/** GET of a manifest reference (status, digest header, bytes). */
export async function tagState(base: string, repo: string, ref: string): Promise<TagState> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { Accept: `${MT.ociIndex}, ${MT.ociManifest}` } });
  return { status: res.status, digest: res.headers.get('docker-content-digest'), bytes: Buffer.from(await res.arrayBuffer()) };
}

export async function assertUnchanged(base: string, repo: string, ref: string, before: TagState, why: string): Promise<void> {
  const after = await tagState(base, repo, ref);
  assert.equal(after.status, before.status, `${why}: status of ${repo}:${ref}`);
  assert.equal(after.digest, before.digest, `${why}: ${repo}:${ref} now resolves to another digest`);
  assert.ok(after.bytes.equals(before.bytes), `${why}: ${repo}:${ref} bytes changed`);
}

export async function blob(base: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET blob ${repo}@${digest}`);
  assert.equal(sha256(body), digest, `blob ${digest}: digest of the bytes`);
  return body;
}

export interface ManifestJson {
  schemaVersion: number;
  mediaType: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  annotations?: Record<string, string>;
}

export interface ConfigJson {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  config: { Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> };
  rootfs: { type: string; diff_ids: string[] };
}

export interface VariantView {
  descriptor: OciDescriptor;
  manifestBytes: Buffer;
  manifest: ManifestJson;
  configBytes: Buffer;
  config: ConfigJson;
}

export interface TagView {
  digest: string;
  bytes: Buffer;
  index: IndexJson;
  variants: VariantView[];
}

/** The index a reference resolves to, with every child manifest and config blob. */
export async function inspect(base: string, repo: string, ref: string): Promise<TagView> {
  const top = await tagState(base, repo, ref);
  assert.equal(top.status, 200, `GET ${repo}:${ref}: ${top.bytes.toString()}`);
  assert.equal(top.digest, sha256(top.bytes), 'Docker-Content-Digest is the digest of the bytes served');
  const index = JSON.parse(top.bytes.toString()) as IndexJson;
  assert.ok(Array.isArray(index.manifests), `${repo}:${ref} should resolve to an index, got a ${index.mediaType}: ${top.bytes.toString().slice(0, 100)}...`);
  const variants: VariantView[] = [];
  for (const descriptor of index.manifests) {
    const child = await tagState(base, repo, descriptor.digest);
    assert.equal(child.status, 200, `child ${descriptor.digest}`);
    const manifest = JSON.parse(child.bytes.toString()) as ManifestJson;
    const configBytes = await blob(base, repo, manifest.config.digest);
    variants.push({ descriptor, manifestBytes: child.bytes, manifest, configBytes, config: JSON.parse(configBytes.toString()) as ConfigJson });
  }
  return { digest: top.digest!, bytes: top.bytes, index, variants };
}

const KRAFT_ARCHES = ['x86_64', 'arm64', 'arm'];
const ALIASES = ['amd64', 'aarch64', 'kvm', 'firecracker'];

/** Every requirement a kraft client (format doc §1, §2, §4) places on a tag's index. */
export function assertKraftCompatible(view: TagView, naming?: { name: string; tag: string }): void {
  const { index } = view;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, KMT.index);
  const ia = index.annotations ?? {};
  assert.ok(ia['sh.kraftkit.version'], 'index annotation sh.kraftkit.version');
  if (naming) {
    assert.equal(ia['org.opencontainers.image.ref.name'], naming.name);
    assert.equal(ia['io.containerd.image.name'], `${naming.name}:${naming.tag}`);
  }
  for (const [i, v] of view.variants.entries()) {
    const d = v.descriptor;
    const at = `variant ${i} (${d.digest})`;
    assert.equal(d.mediaType, KMT.manifest, `${at}: mediaType`);
    assert.equal(d.digest, sha256(v.manifestBytes), `${at}: true digest`);
    assert.equal(d.size, v.manifestBytes.length, `${at}: true size`);
    const a = d.annotations ?? {};
    assert.ok(a['sh.kraftkit.version'], `${at}: sh.kraftkit.version`);
    assert.ok(d.platform, `${at}: platform`);
    const p = d.platform;
    assert.ok(KRAFT_ARCHES.includes(p.architecture), `${at}: kraft arch name, got ${p.architecture}`);
    assert.ok(typeof p.os === 'string' && p.os !== '' && !ALIASES.includes(p.os), `${at}: kraft plat name, got ${p.os}`);
    for (const key of ['org.unikraft.image.name', 'org.opencontainers.image.ref.name', 'org.opencontainers.image.created', 'io.containerd.image.name']) {
      assert.ok(a[key], `${at}: annotation ${key}`);
    }
    assert.match(a['org.opencontainers.image.created']!, RFC3339_UTC);
    if (naming) {
      assert.equal(a['org.unikraft.image.name'], naming.name);
      assert.equal(a['org.opencontainers.image.ref.name'], naming.name);
    }
    assert.deepEqual(v.manifest.annotations, a, `${at}: descriptor annotations are the manifest's`);
    // The manifest: config descriptor with platform, plain tar layers annotated.
    assert.equal(v.manifest.mediaType, KMT.manifest);
    assert.equal(v.manifest.config.mediaType, KMT.config);
    assert.equal(v.manifest.config.size, v.configBytes.length);
    assert.deepEqual(v.manifest.config.platform, p, `${at}: config descriptor platform`);
    assert.ok(v.manifest.layers.length >= 1);
    const [kernel, ...rest] = v.manifest.layers;
    assert.equal(kernel!.annotations?.['org.unikraft.kernel.image'], KERNEL_PATH, `${at}: kernel layer annotation`);
    for (const l of rest) assert.equal(l.annotations?.['org.unikraft.kernel.initrd'], INITRD_PATH, `${at}: initrd layer annotation`);
    for (const l of v.manifest.layers) assert.equal(l.mediaType, KMT.layer, `${at}: uncompressed tar layer`);
    // The config blob.
    assert.deepEqual(
      v.config.rootfs,
      { type: 'layers', diff_ids: v.manifest.layers.map((l) => l.digest) },
      `${at}: diff_ids[i] == layers[i].digest`,
    );
    assert.equal(v.config.architecture, p.architecture);
    assert.equal(v.config.os, p.os);
    assert.equal(v.config['os.version'], p['os.version']);
    assert.deepEqual(v.config['os.features'], p['os.features']);
    const keys = Object.keys(v.config);
    const order = ['architecture', 'os', 'os.version', 'os.features', 'config', 'rootfs'].filter((k) => keys.includes(k));
    assert.deepEqual(keys, order, `${at}: config field order`);
    assert.ok(v.configBytes.equals(Buffer.from(JSON.stringify(v.config))), `${at}: config blob is compact JSON`);
  }
}

/** Byte-wise ascending without duplicates. */
export function assertSortedFeatures(list: readonly string[]): void {
  for (let i = 1; i < list.length; i++) {
    assert.ok(Buffer.compare(Buffer.from(list[i - 1]!), Buffer.from(list[i]!)) < 0, `features not sorted/unique at ${i}: ${list.join(' ')}`);
  }
}

// ---------------------------------------------------------------------------
// kraft-style content built locally, and a replay of `kraft pkg push`

export interface KraftVariant extends Variant {
  kernel: Buffer;
  layer: Buffer;
  layerDigest: Digest;
}

export interface KraftVariantOptions {
  name: string;
  tag: string;
  arch: string;
  plat: string;
  seed: string;
  kconfig?: string;
  version?: string;
  kraftkitVersion?: string;
}

/** One variant as kraft writes it: kernel layer, config blob, manifest, index descriptor. */
export function kraftVariant(o: KraftVariantOptions): KraftVariant {
  const kernel = bytesOf(`kernel/${o.seed}`, 3000 + (o.seed.length % 7) * 100);
  const layer = layerBytes(KERNEL_PATH, kernel, 0o755);
  const layerDigest = sha256(layer) as Digest;
  const arch = normalizeArch(o.arch);
  const plat = normalizePlat(o.plat);
  const variant = buildVariant({
    name: o.name,
    tag: o.tag,
    kraftkitVersion: o.kraftkitVersion ?? '0.10.1',
    arch,
    plat,
    version: o.version,
    features: features({ arch, plat, kconfig: o.kconfig === undefined ? [] : parseKconfig(o.kconfig) }),
    layers: [{ kind: 'kernel', digest: layerDigest, size: layer.length }],
    cmd: ['-v'],
    created: rfc3339(new Date()),
  });
  return { ...variant, kernel, layer, layerDigest };
}

/** kraft's index of the given descriptors (kraft adds `created` to the index annotations). */
export function kraftIndex(descriptors: OciDescriptor[], naming: { name: string; tag: string }): Buffer {
  return imageIndex(descriptors, { ...naming, kraftkitVersion: '0.10.1', created: rfc3339(new Date()) });
}

/** go-containerregistry's blob upload: HEAD probe, POST, PATCH the bytes, PUT ?digest=. */
export async function replayBlob(base: string, repo: string, data: Buffer): Promise<void> {
  const digest = sha256(data);
  const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  assert.equal(head.status, 404, `HEAD blob ${digest}`);
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202, 'POST upload');
  const patch = await fetch(abs(base, post.headers.get('location')), {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: bin(data),
  });
  assert.equal(patch.status, 202, `PATCH upload: ${await patch.clone().text()}`);
  const put = await fetch(abs(base, withQuery(patch.headers.get('location')!, { digest })), { method: 'PUT' });
  assert.equal(put.status, 201, `PUT upload: ${await put.clone().text()}`);
}

/** Blobs and the manifest of each variant, the manifest by digest after a HEAD probe. */
export async function replayChildren(base: string, repo: string, variants: KraftVariant[]): Promise<void> {
  for (const v of variants) {
    await replayBlob(base, repo, v.layer);
    await replayBlob(base, repo, v.config);
    const head = await fetch(`${base}/v2/${repo}/manifests/${v.manifestDigest}`, { method: 'HEAD' });
    if (head.status === 200) continue;
    const put = await fetch(`${base}/v2/${repo}/manifests/${v.manifestDigest}`, {
      method: 'PUT',
      headers: { 'Content-Type': KMT.manifest },
      body: bin(v.manifest),
    });
    assert.equal(put.status, 201, `PUT child ${v.manifestDigest}: ${await put.clone().text()}`);
  }
}

/** PUT of a manifest or index by tag (optionally `?strategy=`). */
export function putTag(base: string, repo: string, tag: string, bytes: Buffer, contentType: string = KMT.index, strategy?: string): Promise<Response> {
  const q = strategy === undefined ? '' : `?strategy=${encodeURIComponent(strategy)}`;
  return fetch(`${base}/v2/${repo}/manifests/${tag}${q}`, { method: 'PUT', headers: { 'Content-Type': contentType }, body: bin(bytes) });
}

/** A descriptor as kraft writes one it carried over from an existing index: `"size": 32`. */
export function carriedOver(d: OciDescriptor): OciDescriptor {
  return { ...d, size: 32 };
}
