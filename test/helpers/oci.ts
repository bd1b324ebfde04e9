/**
 * Small helpers for the HTTP tests: blobs, digests, pushes, manifest builders,
 * OCI error assertions and raw `node:http` requests.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

/** Bytes as a fetch body (Node's Buffer type is not a BodyInit for TypeScript). */
export function bin(data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return typeof data === 'string' ? new Uint8Array(Buffer.from(data)) : new Uint8Array(data);
}

export function randomBlob(size = 64): Buffer {
  return randomBytes(size);
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export function descriptorOf(mediaType: string, data: Uint8Array | string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: sha256(data), size: Buffer.byteLength(data), ...extra };
}

/** A unique small image config, so every test gets fresh digests. */
export function randomConfig(): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', author: randomBytes(8).toString('hex') }));
}

/** Appends query parameters to a Location that may already carry a query string. */
export function withQuery(location: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return location + (location.includes('?') ? '&' : '?') + q;
}

/** Resolves a Location (relative or absolute) against the server. */
export function abs(base: string, location: string | null): string {
  assert.ok(location, 'expected a Location header');
  return new URL(location, base).toString();
}

/** POST an upload session; asserts 202. Returns its Location (as sent, possibly relative). */
export async function startUpload(base: string, repo: string): Promise<string> {
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202, `POST upload for ${repo}`);
  const location = post.headers.get('location');
  assert.ok(location, 'expected a Location header');
  return location;
}

/** POST a session and PUT the whole blob with ?digest=; asserts 201. Returns the digest. */
export async function pushBlob(base: string, repo: string, data: Uint8Array | string): Promise<string> {
  const digest = sha256(data);
  const location = await startUpload(base, repo);
  const put = await fetch(abs(base, withQuery(location, { digest })), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: bin(data),
  });
  assert.equal(put.status, 201, `PUT upload for ${repo}: ${await put.clone().text()}`);
  return digest;
}

export function manifestBytes(manifest: unknown): Buffer {
  return Buffer.isBuffer(manifest) ? manifest : Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
}

export function putManifest(base: string, repo: string, ref: string, body: unknown, contentType: string = MT.ociManifest): Promise<Response> {
  const headers: Record<string, string> = {};
  if (contentType) headers['Content-Type'] = contentType;
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers, body: bin(manifestBytes(body)) });
}

/** PUT a manifest and assert 201; returns its digest (checked against Docker-Content-Digest). */
export async function pushManifest(base: string, repo: string, ref: string, body: unknown, contentType: string = MT.ociManifest): Promise<string> {
  const bytes = manifestBytes(body);
  const res = await putManifest(base, repo, ref, bytes, contentType);
  assert.equal(res.status, 201, `PUT manifest ${repo}:${ref}: ${await res.clone().text()}`);
  const digest = sha256(bytes);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  return digest;
}

export interface ImageOptions {
  layers?: number;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  configMediaType?: string;
  /** Build a Docker schema-2 manifest instead of an OCI one. */
  docker?: boolean;
}

export interface Image {
  manifest: Record<string, unknown>;
  bytes: Buffer;
  digest: string;
  descriptor: Descriptor;
  config: Buffer;
  layers: Buffer[];
}

export function buildImage(config: Buffer, layers: Buffer[], opts: ImageOptions = {}): Image {
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: opts.docker ? MT.dockerManifest : MT.ociManifest,
  };
  if (opts.artifactType) manifest.artifactType = opts.artifactType;
  manifest.config = descriptorOf(opts.configMediaType ?? (opts.docker ? MT.dockerConfig : MT.ociConfig), config);
  manifest.layers = layers.map((l) => descriptorOf(opts.docker ? MT.dockerLayer : MT.ociLayer, l));
  if (opts.subject) manifest.subject = opts.subject;
  if (opts.annotations) manifest.annotations = opts.annotations;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(bytes);
  return {
    manifest,
    bytes,
    digest,
    descriptor: { mediaType: manifest.mediaType as string, digest, size: bytes.length },
    config,
    layers,
  };
}

/** Pushes the config and layers of a fresh image and returns it (the manifest is not pushed). */
export async function prepareImage(base: string, repo: string, opts: ImageOptions = {}): Promise<Image> {
  const config = opts.configMediaType === MT.ociEmpty ? EMPTY_JSON : randomConfig();
  const layers = Array.from({ length: opts.layers ?? 1 }, () => randomBlob(100));
  await pushBlob(base, repo, config);
  for (const l of layers) await pushBlob(base, repo, l);
  return buildImage(config, layers, opts);
}

/** Pushes blobs and the manifest (by `ref`, default: by digest). */
export async function pushImage(base: string, repo: string, ref?: string, opts: ImageOptions = {}): Promise<Image> {
  const image = await prepareImage(base, repo, opts);
  await pushManifest(base, repo, ref ?? image.digest, image.bytes, image.manifest.mediaType as string);
  return image;
}

export function buildIndex(children: Descriptor[], extra: Record<string, unknown> = {}, mediaType: string = MT.ociIndex): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: children, ...extra }));
}

/** Asserts an OCI error response: status, JSON envelope, code, API version header. */
export async function expectError(res: Response, status: number, code?: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  if (code === undefined) return;
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `error envelope: ${text}`);
  assert.equal(body.errors[0]!.code, code, text);
  assert.equal(typeof body.errors[0]!.message, 'string');
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Body chunks, written one by one (chunked transfer-encoding unless Content-Length is set). */
  body?: (Buffer | string)[];
  /** Destroy the socket after writing the body (a client that goes away mid-upload). */
  cut?: boolean;
}

/** A request with exact control of the path, headers and body framing. */
export function raw(base: string, path: string, opts: RawOptions = {}): Promise<RawResponse | 'cut'> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: opts.method ?? 'GET', path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => (opts.cut ? resolve('cut') : reject(err)));
    const write = async () => {
      for (const chunk of opts.body ?? []) {
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (opts.cut) {
        await new Promise((r) => setTimeout(r, 50));
        req.destroy();
        resolve('cut');
      } else req.end();
    };
    write().catch(reject);
  });
}

/** raw() for requests that must complete. */
export async function rawOk(base: string, path: string, opts: RawOptions = {}): Promise<RawResponse> {
  const res = await raw(base, path, opts);
  assert.notEqual(res, 'cut');
  return res as RawResponse;
}

export function errorCode(body: Buffer): string | undefined {
  try {
    return (JSON.parse(body.toString()) as { errors?: { code?: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

let counter = 0;
/** A fresh repository name per call. */
export function repoName(prefix = 'repo'): string {
  return `${prefix}/r${process.pid}-${++counter}`;
}

/** The URL of a `Link: <url>; rel="next"` header, or undefined. */
export function nextLink(res: Response): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1];
}
