/**
 * A registry's content pushed over HTTP and read back as a comparable snapshot:
 * what copy-storage tests (and the replica tests) push to one server and expect,
 * digest for digest, from another.
 */
import assert from 'node:assert/strict';
import { MT, buildIndex, pushBlob, pushImage, pushManifest, randomBlob, sha256, type Image } from './oci.js';

export interface Pushed {
  repos: string[];
  /** Every blob pushed, by digest. */
  blobs: Map<string, Buffer>;
  /** A blob whose file tests may damage: the big layer of `big/one`. */
  big: string;
}

/**
 * Two plain images with tags, a multi-layer image with a big (8 MiB) layer, an index
 * over two images, and a referrer (a signature-like artifact) of one of them.
 */
export async function pushContent(base: string, bigBytes = 8 << 20): Promise<Pushed> {
  const blobs = new Map<string, Buffer>();
  const keep = (img: Image) => {
    blobs.set(sha256(img.config), img.config);
    for (const l of img.layers) blobs.set(sha256(l), l);
  };
  const a = await pushImage(base, 'app/a', 'v1', { layers: 2 });
  keep(a);
  const a2 = await pushImage(base, 'app/a', 'v2');
  keep(a2);
  await pushManifest(base, 'app/a', 'latest', a2.bytes);
  const b = await pushImage(base, 'app/b', 'v1', { docker: true });
  keep(b);
  const big = randomBlob(bigBytes);
  const bigDigest = await pushBlob(base, 'big/one', big);
  blobs.set(bigDigest, big);
  const small = await pushImage(base, 'big/one', undefined, { layers: 1 });
  keep(small);
  const withBig = { ...small.manifest, layers: [...(small.manifest.layers as unknown[]), { mediaType: MT.ociLayer, digest: bigDigest, size: big.length }] };
  await pushManifest(base, 'big/one', 'v1', Buffer.from(JSON.stringify(withBig)));
  const index = buildIndex([
    { ...a.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: MT.ociManifest, digest: a2.digest, size: a2.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
  ]);
  await pushManifest(base, 'app/a', 'multi', index, MT.ociIndex);
  const sig = await pushImage(base, 'app/a', undefined, { artifactType: 'application/vnd.example.signature', configMediaType: MT.ociEmpty, subject: a.descriptor });
  keep(sig);
  return { repos: ['app/a', 'app/b', 'big/one'], blobs, big: bigDigest };
}

export interface Snapshot {
  catalog: string[];
  /** repo → tag → manifest digest (as served, checked against the bytes). */
  tags: Record<string, Record<string, string>>;
  /** repo → manifest digest → digests of its referrers. */
  referrers: Record<string, Record<string, string[]>>;
  /** repo → every blob digest the tagged manifests (and index children) name, each fetched and hashed. */
  blobs: Record<string, string[]>;
}

const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { Accept: ACCEPT } });
  assert.equal(res.status, 200, `GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

interface ManifestDoc {
  config?: { digest: string };
  layers?: { digest: string }[];
  manifests?: { digest: string }[];
}

/** Reads what `repos` hold through the API, fetching and hashing every blob and manifest. */
export async function snapshot(base: string, repos: string[]): Promise<Snapshot> {
  const out: Snapshot = { catalog: (await getJson<{ repositories: string[] }>(`${base}/v2/_catalog`)).repositories, tags: {}, referrers: {}, blobs: {} };
  for (const repo of repos) {
    const tags = (await getJson<{ tags: string[] | null }>(`${base}/v2/${repo}/tags/list`)).tags ?? [];
    const tagged: Record<string, string> = (out.tags[repo] = {});
    const referrers: Record<string, string[]> = (out.referrers[repo] = {});
    const blobs = new Set<string>();
    const seen = new Set<string>();
    const visit = async (ref: string): Promise<string> => {
      const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
      assert.equal(res.status, 200, `GET manifest ${repo}:${ref}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      const digest = sha256(bytes);
      assert.equal(res.headers.get('docker-content-digest'), digest, `${repo}:${ref} served bytes of another digest`);
      if (seen.has(digest)) return digest;
      seen.add(digest);
      const doc = JSON.parse(bytes.toString()) as ManifestDoc;
      for (const d of [doc.config?.digest, ...(doc.layers ?? []).map((l) => l.digest)]) if (d) blobs.add(d);
      for (const child of doc.manifests ?? []) await visit(child.digest);
      const refs = await getJson<{ manifests: { digest: string }[] }>(`${base}/v2/${repo}/referrers/${digest}`);
      if (refs.manifests.length > 0) {
        referrers[digest] = refs.manifests.map((m) => m.digest).sort();
        for (const m of refs.manifests) await visit(m.digest);
      }
      return digest;
    };
    for (const tag of tags) tagged[tag] = await visit(tag);
    for (const digest of blobs) {
      const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
      assert.equal(res.status, 200, `GET blob ${repo}@${digest}: ${res.status}`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, `${repo}@${digest} served other bytes`);
    }
    out.blobs[repo] = [...blobs].sort();
  }
  return out;
}
