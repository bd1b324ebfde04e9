/** A small OCI image (config + one layer + manifest) pushed by tag, and the 1,000-tag repository. */
import { createCipheriv } from 'node:crypto';
import { putSmallBlob, request } from './client.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface Image {
  repo: string;
  tag: string;
  manifest: Buffer;
  digest: string;
}

function layerBytes(size: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 0)).update(Buffer.alloc(size));
}

/** Pushes the image by tag and checks GET/HEAD; `headers` (e.g. Authorization) go on every request. */
export async function pushImage(
  base: string,
  repo: string,
  tag: string,
  headers: Record<string, string> = {},
): Promise<Image> {
  const layer = layerBytes(32 * 1024);
  const layerDigest = await putSmallBlob(base, repo, layer, headers);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/app'] },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const configDigest = await putSmallBlob(base, repo, config, headers);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const res = await putManifest(base, repo, tag, manifest, headers);
  const digest = String(res.headers['docker-content-digest'] ?? '');
  await verifyManifest(base, repo, tag, manifest, headers);
  return { repo, tag, manifest, digest };
}

function putManifest(base: string, repo: string, ref: string, manifest: Buffer, headers: Record<string, string> = {}) {
  return request('PUT', `${base}/v2/${repo}/manifests/${ref}`, {
    headers: { ...headers, 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.length },
    body: manifest,
    expect: [201],
  });
}

/** GET and HEAD (with `headers`, e.g. Authorization) answer 200 with the exact bytes pushed; fails loudly otherwise. */
export async function verifyManifest(
  base: string,
  repo: string,
  ref: string,
  manifest: Buffer,
  headers: Record<string, string> = {},
): Promise<void> {
  const url = `${base}/v2/${repo}/manifests/${ref}`;
  const get = await request('GET', url, { headers: { ...headers, Accept: OCI_MANIFEST }, expect: [200] });
  if (!get.body.equals(manifest)) throw new Error(`GET ${url}: body differs from the manifest pushed`);
  const head = await request('HEAD', url, { headers: { ...headers, Accept: OCI_MANIFEST }, expect: [200] });
  if (Number(head.headers['content-length']) !== manifest.length) {
    throw new Error(`HEAD ${url}: Content-Length ${head.headers['content-length']}, expected ${manifest.length}`);
  }
}

export function tagName(i: number): string {
  return `t${String(i).padStart(4, '0')}`;
}

/** Puts the image's manifest under `count` tags in `repo` (blobs first), `parallel` at a time. */
export async function pushTags(base: string, repo: string, count: number, parallel = 8): Promise<void> {
  const image = await pushImage(base, repo, tagName(0));
  let next = 1;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await putManifest(base, repo, tagName(i), image.manifest);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  await checkTags(base, repo, count);
}

export function tagsUrl(base: string, repo: string, n: number): string {
  return `${base}/v2/${repo}/tags/list?n=${n}`;
}

/** The tag list with ?n=count holds exactly the tags pushed. */
export async function checkTags(base: string, repo: string, count: number): Promise<void> {
  const url = tagsUrl(base, repo, count);
  const res = await request('GET', url, { expect: [200] });
  const parsed = JSON.parse(res.body.toString('utf8')) as { name?: string; tags?: string[] };
  const tags = new Set(parsed.tags ?? []);
  const missing = Array.from({ length: count }, (_, i) => tagName(i)).filter((t) => !tags.has(t));
  if (parsed.name !== repo || tags.size !== count || missing.length > 0) {
    throw new Error(
      `GET ${url}: name=${parsed.name} with ${parsed.tags?.length ?? 0} tags (expected ${count}); ` +
        `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}; Link: ${res.headers.link ?? '-'}`,
    );
  }
}
