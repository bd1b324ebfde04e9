/**
 * Test images built from nothing, inside the tests, without network: USTAR layer
 * tarballs of seeded pseudo-random content, gzip, image config, manifest, index,
 * written as OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/...`)
 * that skopeo, podman and buildah read with the `oci:DIR:REF` transport.
 *
 * Everything is a pure function of the seed: the same seed gives the same bytes
 * and so the same digests, which the tests compare with what the registry serves
 * and what the clients report. Tests use a fresh seed per run so that nothing
 * is left over from a previous run (skopeo keeps a blob-info cache on disk).
 *
 * Also here: readers for skopeo's `dir:` output and small HTTP probes of a
 * registry (HEAD/GET manifests and blobs), to compare what went in with what
 * comes out.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sha256 } from './oci.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Every manifest type a client may ask for. */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerList,
].join(', ');

/** 2024-01-01T00:00:00Z, the timestamp of every file and config in the test images. */
export const EPOCH = 1704067200;
export const EPOCH_ISO = '2024-01-01T00:00:00Z';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** Content with its descriptor. */
export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface Layer extends Blob {
  /** Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** Paths of the regular files in the layer. */
  files: string[];
}

export interface Image {
  manifest: Blob;
  config: Blob;
  layers: Layer[];
  platform: Platform;
}

export interface ImageIndex {
  index: Blob;
  images: Image[];
}

export { sha256 };

/** The hex part of a digest. */
export function hex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function blobOf(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, bytes, digest: sha256(bytes), size: bytes.length };
}

export function descriptor(blob: Blob, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, ...extra };
}

/** `n` pseudo-random bytes determined by `seed` (SHA-256 in counter mode). */
export function seededBytes(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let off = 0;
  for (let counter = 0; off < n; counter++) {
    const block = createHash('sha256').update(`${seed}\0${counter}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

// ---------------------------------------------------------------------------
// USTAR

export interface TarEntry {
  path: string;
  /** Absent for a directory. */
  content?: Buffer;
  mode?: number;
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(entry: TarEntry): Buffer {
  const isDir = entry.content === undefined;
  let name = isDir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar path too long: ${entry.path}`);
  }
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(entry.mode ?? (isDir ? 0o755 : 0o644), 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(isDir ? 0 : entry.content!.length, 12), 124, 12, 'ascii');
  h.write(octal(EPOCH, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder
  h.write(isDir ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(octal(0, 8), 329, 8, 'ascii');
  h.write(octal(0, 8), 337, 8, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A deterministic USTAR archive (fixed mtime, uid/gid 0) of the entries, in order. */
export function tarball(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry));
    if (entry.content !== undefined && entry.content.length > 0) {
      parts.push(entry.content);
      const pad = (512 - (entry.content.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface TarMember {
  path: string;
  type: string;
  mode: number;
  mtime: number;
  content: Buffer;
}

/** Reads a (possibly gzipped) tar archive: USTAR/GNU/PAX headers, enough for image layers. */
export function readTar(data: Buffer): TarMember[] {
  const buf = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const out: TarMember[] = [];
  const str = (b: Buffer) => {
    const nul = b.indexOf(0);
    return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
  };
  const num = (b: Buffer) => parseInt(str(b).trim() || '0', 8);
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = num(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] ?? 48) || '0';
    const content = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = str(content);
      continue;
    }
    if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(content.toString('utf8'));
      if (m) longName = m[1];
      continue;
    }
    if (type === 'g') continue;
    const prefix = str(h.subarray(345, 500));
    const name = longName ?? (prefix ? `${prefix}/${str(h.subarray(0, 100))}` : str(h.subarray(0, 100)));
    longName = undefined;
    out.push({ path: name.replace(/^\.\//, '').replace(/\/$/, ''), type, mode: num(h.subarray(100, 108)), mtime: num(h.subarray(136, 148)), content: Buffer.from(content) });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Layers, images, indexes

export interface LayerOptions {
  /** Directory inside the image the layer's files go to. */
  dir: string;
  /** Number of random files. */
  files?: number;
  /** Size of each random file in bytes. */
  fileSize?: number;
  /** Extra files with fixed content. */
  extra?: Record<string, string>;
  mediaType?: string;
}

export function makeLayer(seed: string, opts: LayerOptions): Layer {
  const entries: TarEntry[] = [];
  const files: string[] = [];
  const dirs = new Set<string>();
  const addDirs = (path: string) => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ path: d });
      }
    }
  };
  const dir = opts.dir.replace(/^\/+|\/+$/g, '');
  for (let i = 0; i < (opts.files ?? 2); i++) {
    const path = `${dir}/file-${i}.bin`;
    addDirs(path);
    entries.push({ path, content: seededBytes(`${seed}/${path}`, opts.fileSize ?? 4096) });
    files.push(`/${path}`);
  }
  for (const [name, text] of Object.entries(opts.extra ?? {})) {
    const path = name.replace(/^\/+/, '');
    addDirs(path);
    entries.push({ path, content: Buffer.from(text), mode: path.includes('bin/') ? 0o755 : 0o644 });
    files.push(`/${path}`);
  }
  const tar = tarball(entries);
  const gz = gzipSync(tar, { level: 6 });
  return { ...blobOf(opts.mediaType ?? MediaType.ociLayerGzip, gz), diffId: sha256(tar), files };
}

export interface ImageOptions {
  platform?: Platform;
  /** One entry per layer. Default: three small layers. */
  layers?: LayerOptions[];
  cmd?: string[];
  /** Manifest annotations (leave out for an image that converts to Docker schema 2 unchanged). */
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

export const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
export const ARM64_V8: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };

export function makeImage(seed: string, opts: ImageOptions = {}): Image {
  const platform = opts.platform ?? AMD64;
  const layerOpts = opts.layers ?? [
    { dir: 'opt/base', files: 3, fileSize: 2048 },
    { dir: 'opt/app', files: 2, fileSize: 8192 },
    { dir: 'etc/app', files: 1, fileSize: 512, extra: { 'etc/app/seed.txt': `${seed}\n` } },
  ];
  const layers = layerOpts.map((lo, i) => makeLayer(`${seed}/layer-${i}`, lo));
  const config = {
    created: EPOCH_ISO,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `UNIREG_TEST_SEED=${seed}`],
      Cmd: opts.cmd ?? ['/bin/true'],
      WorkingDir: '/',
      Labels: { 'org.example.seed': seed, ...opts.labels },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l, i) => ({ created: EPOCH_ISO, created_by: `unireg test layer ${i} (${l.files.length} files)` })),
  };
  const configBlob = blobOf(MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptor(configBlob),
    layers: layers.map((l) => descriptor(l)),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return {
    manifest: blobOf(MediaType.ociManifest, Buffer.from(JSON.stringify(manifest, null, 2))),
    config: configBlob,
    layers,
    platform,
  };
}

export function makeIndex(images: Image[], annotations?: Record<string, string>): ImageIndex {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((img) => descriptor(img.manifest, { platform: img.platform })),
    ...(annotations ? { annotations } : {}),
  };
  return { index: blobOf(MediaType.ociIndex, Buffer.from(JSON.stringify(index, null, 2))), images };
}

/** Every blob (manifests included) an image or index consists of, without duplicates. */
export function allBlobs(top: Image | ImageIndex): Blob[] {
  const images = 'index' in top ? top.images : [top];
  const out = new Map<string, Blob>();
  if ('index' in top) out.set(top.index.digest, top.index);
  for (const img of images) {
    out.set(img.manifest.digest, img.manifest);
    out.set(img.config.digest, img.config);
    for (const l of img.layers) out.set(l.digest, l);
  }
  return [...out.values()];
}

// ---------------------------------------------------------------------------
// OCI image layouts

/** A written layout: `oci:${dir}:${ref}` names it for skopeo/podman/buildah. */
export interface Layout<T extends Image | ImageIndex> {
  dir: string;
  ref: string;
  /** `oci:DIR:REF` */
  transport: string;
  content: T;
  /** The top-level manifest (the image manifest, or the index). */
  top: Blob;
}

/** Writes an OCI image layout at `dir` whose index.json names `top` as `ref`. */
export async function writeOciLayout<T extends Image | ImageIndex>(dir: string, ref: string, content: T): Promise<Layout<T>> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const blob of allBlobs(content)) await writeFile(join(blobsDir, hex(blob.digest)), blob.bytes);
  const top = 'index' in content ? content.index : content.manifest;
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [descriptor(top, { annotations: { 'org.opencontainers.image.ref.name': ref } })],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return { dir, ref, transport: `oci:${dir}:${ref}`, content, top };
}

/** A three-layer linux/amd64 image. */
export function multiLayerImage(dir: string, seed: string): Promise<Layout<Image>> {
  return writeOciLayout(dir, 'latest', makeImage(`${seed}/multi-layer`));
}

/** An index of two images: linux/amd64 and linux/arm64 variant v8 (each two layers). */
export function multiArchIndex(dir: string, seed: string): Promise<Layout<ImageIndex>> {
  const images = [AMD64, ARM64_V8].map((platform) =>
    makeImage(`${seed}/${platform.architecture}`, {
      platform,
      layers: [
        { dir: `opt/${platform.architecture}`, files: 2, fileSize: 4096 },
        { dir: 'etc/arch', files: 0, extra: { 'etc/arch/name': `${platform.architecture}${platform.variant ?? ''} ${seed}\n` } },
      ],
      labels: { 'org.example.arch': platform.architecture },
    }),
  );
  return writeOciLayout(dir, 'latest', makeIndex(images));
}

/**
 * An OCI image that skopeo/podman/docker convert to Docker schema 2 without
 * touching its blobs: gzip layers, an OCI config (same JSON as a Docker config),
 * no annotations, no zstd, no foreign layers. One layer is larger (≈ 768 KiB of
 * incompressible data) so that uploads take more than one read on the server.
 */
export function dockerConvertibleImage(dir: string, seed: string): Promise<Layout<Image>> {
  return writeOciLayout(
    dir,
    'latest',
    makeImage(`${seed}/docker`, {
      layers: [
        { dir: 'srv/data', files: 3, fileSize: 256 * 1024 },
        { dir: 'srv/small', files: 1, fileSize: 100, extra: { 'usr/local/bin/hello': `#!/bin/sh\necho hello ${seed}\n` } },
      ],
      cmd: ['/usr/local/bin/hello'],
    }),
  );
}

// ---------------------------------------------------------------------------
// skopeo's dir: transport

export interface DirImage {
  /** Bytes of `manifest.json` (the top-level manifest, byte for byte as the registry served it). */
  manifest: Buffer;
  /** Other manifests of a `--all` copy, by digest (`<hex>.manifest.json`). */
  instances: Map<string, Buffer>;
  /** Blobs, by digest. */
  blobs: Map<string, Buffer>;
}

export async function readDirImage(dir: string): Promise<DirImage> {
  const manifest = await readFile(join(dir, 'manifest.json'));
  const instances = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  for (const name of await readdir(dir)) {
    let m: RegExpExecArray | null;
    if ((m = /^([0-9a-f]{64})\.manifest\.json$/.exec(name))) {
      instances.set(`sha256:${m[1]}`, await readFile(join(dir, name)));
    } else if (/^[0-9a-f]{64}$/.test(name)) {
      blobs.set(`sha256:${name}`, await readFile(join(dir, name)));
    }
  }
  return { manifest, instances, blobs };
}

// ---------------------------------------------------------------------------
// Registry probes (plain HTTP)

export interface ManifestResponse {
  status: number;
  digest: string | null;
  contentType: string | null;
  contentLength: number | null;
  body: Buffer;
}

async function manifestRequest(method: 'HEAD' | 'GET', base: string, repo: string, ref: string): Promise<ManifestResponse> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: MANIFEST_ACCEPT } });
  const body = method === 'GET' ? Buffer.from(await res.arrayBuffer()) : Buffer.alloc(0);
  if (method === 'HEAD') await res.body?.cancel();
  const len = res.headers.get('content-length');
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest'),
    contentType: res.headers.get('content-type'),
    contentLength: len === null ? null : Number(len),
    body,
  };
}

/** HEAD /v2/<repo>/manifests/<ref> with a broad Accept. `base` is `http://host:port`. */
export function headManifest(base: string, repo: string, ref: string): Promise<ManifestResponse> {
  return manifestRequest('HEAD', base, repo, ref);
}

/** GET /v2/<repo>/manifests/<ref> with a broad Accept. */
export function getManifest(base: string, repo: string, ref: string): Promise<ManifestResponse> {
  return manifestRequest('GET', base, repo, ref);
}

export async function getBlob(base: string, repo: string, digest: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

export async function listTags(base: string, repo: string): Promise<{ status: number; tags: string[] }> {
  const res = await fetch(`${base}/v2/${repo}/tags/list`);
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status, tags: [] };
  }
  const body = (await res.json()) as { tags?: string[] | null };
  return { status: res.status, tags: body.tags ?? [] };
}

// ---------------------------------------------------------------------------
// Assertions on what a registry serves

/**
 * Checks HEAD and GET of `/v2/<repo>/manifests/<ref>`: 200, `Docker-Content-Digest`
 * equal to `expected.digest` and to the SHA-256 of the body, `Content-Type` equal to
 * the media type, `Content-Length` equal to the size, and (when `expected.bytes` is
 * given) the body byte for byte. Returns the body.
 */
export async function expectManifest(
  base: string,
  repo: string,
  ref: string,
  expected: { digest: string; mediaType?: string; bytes?: Buffer },
): Promise<Buffer> {
  const what = `${repo}:${ref}`;
  const head = await headManifest(base, repo, ref);
  assert.equal(head.status, 200, `HEAD manifest ${what}: status`);
  assert.equal(head.digest, expected.digest, `HEAD manifest ${what}: Docker-Content-Digest`);
  if (expected.mediaType) assert.equal(head.contentType, expected.mediaType, `HEAD manifest ${what}: Content-Type`);
  const get = await getManifest(base, repo, ref);
  assert.equal(get.status, 200, `GET manifest ${what}: status`);
  assert.equal(get.digest, expected.digest, `GET manifest ${what}: Docker-Content-Digest`);
  assert.equal(sha256(get.body), expected.digest, `GET manifest ${what}: digest of the body`);
  if (expected.mediaType) assert.equal(get.contentType, expected.mediaType, `GET manifest ${what}: Content-Type`);
  assert.equal(head.contentLength, get.body.length, `HEAD manifest ${what}: Content-Length`);
  if (expected.bytes) assert.ok(get.body.equals(expected.bytes), `GET manifest ${what}: body differs from the pushed bytes`);
  return get.body;
}

/** Checks that every blob is served from `repo` byte for byte (or, without bytes, with the right digest). */
export async function expectBlobs(base: string, repo: string, blobs: Array<{ digest: string; bytes?: Buffer }>): Promise<void> {
  for (const blob of blobs) {
    const got = await getBlob(base, repo, blob.digest);
    assert.equal(got.status, 200, `GET blob ${repo}@${blob.digest}: status`);
    assert.equal(sha256(got.body), blob.digest, `GET blob ${repo}@${blob.digest}: digest of the body`);
    if (blob.bytes) assert.ok(got.body.equals(blob.bytes), `GET blob ${repo}@${blob.digest}: bytes differ`);
  }
}

/** The descriptors a manifest or index refers to (config, layers, or child manifests). */
export function referenced(manifestBytes: Buffer): Descriptor[] {
  const m = JSON.parse(manifestBytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
  return [...(m.config ? [m.config] : []), ...(m.layers ?? []), ...(m.manifests ?? [])];
}
