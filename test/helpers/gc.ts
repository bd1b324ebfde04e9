/** Helpers for garbage-collection tests: what is on disk, what the registry serves, running GC over HTTP. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { GcReport } from '../../src/gc/report.js';
import type { Digest } from '../../src/oci/digest.js';
import type { TestServer } from './server.js';

/** Digests of every blob file in the content directory. */
export async function blobFiles(srv: TestServer): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const file of srv.registry.deps.blobs.list()) out.add(file.digest);
  return out;
}

/** POST /_unireg/gc; asserts 200 and returns the report. */
export async function gcOverHttp(base: string, opts: { dryRun?: boolean; authorization?: string } = {}): Promise<GcReport> {
  const res = await fetch(`${base}/_unireg/gc${opts.dryRun ? '?dryRun=true' : ''}`, {
    method: 'POST',
    headers: opts.authorization ? { Authorization: opts.authorization } : {},
  });
  const text = await res.text();
  assert.equal(res.status, 200, `POST /_unireg/gc: ${text}`);
  return JSON.parse(text) as GcReport;
}

const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface PullCheck {
  /** Blob digests the pulled manifests reference (config and layers), every one fetched and verified. */
  blobs: Set<string>;
  manifests: number;
}

/**
 * Pulls `ref` of `repo` completely over HTTP: the manifest (digest checked
 * against Docker-Content-Digest and, by digest, the bytes), index children
 * recursively, and every blob (bytes hashed). Throws on anything missing.
 */
export async function pullCompletely(base: string, repo: string, ref: string, into: PullCheck = { blobs: new Set(), manifests: 0 }): Promise<PullCheck> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    headers: {
      Accept: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${repo}:${ref}: ${bytes.toString()}`);
  const digest = sha(bytes);
  assert.equal(res.headers.get('docker-content-digest'), digest, `${repo}:${ref}: digest of the bytes`);
  if (ref.includes(':')) assert.equal(digest, ref, `${repo}@${ref}: bytes hash to the digest asked for`);
  into.manifests++;
  const json = JSON.parse(bytes.toString()) as {
    manifests?: { digest: string }[];
    config?: { digest: string };
    layers?: { digest: string }[];
  };
  for (const child of json.manifests ?? []) await pullCompletely(base, repo, child.digest, into);
  for (const d of [...(json.config ? [json.config] : []), ...(json.layers ?? [])]) {
    if (into.blobs.has(`${repo}@${d.digest}`)) continue;
    const blob = await fetch(`${base}/v2/${repo}/blobs/${d.digest}`);
    const data = Buffer.from(await blob.arrayBuffer());
    assert.equal(blob.status, 200, `GET blob ${d.digest} of ${repo}:${ref}`);
    assert.equal(sha(data), d.digest, `blob ${d.digest} of ${repo}:${ref}: content hashes to its digest`);
    into.blobs.add(`${repo}@${d.digest}`);
  }
  return into;
}

/** Every tag of every repository (all pages), read through the store. */
export async function allTags(srv: TestServer): Promise<{ repo: string; tag: string }[]> {
  const meta = srv.registry.deps.meta;
  const out: { repo: string; tag: string }[] = [];
  for (const repo of await meta.listRepositories({ limit: 100_000 })) {
    for (const tag of await meta.listTags(repo, { limit: 100_000 })) out.push({ repo, tag });
  }
  return out;
}

/** Blob digests some tagged image references (through indexes), from the store. */
export async function taggedBlobDigests(srv: TestServer): Promise<Set<string>> {
  const meta = srv.registry.deps.meta;
  const out = new Set<string>();
  const visit = async (repo: string, digest: Digest): Promise<void> => {
    const record = await meta.getManifest(repo, digest);
    if (!record) return;
    const json = JSON.parse(Buffer.from(record.bytes).toString()) as {
      manifests?: { digest: string }[];
      config?: { digest: string };
      layers?: { digest: string }[];
    };
    for (const child of json.manifests ?? []) await visit(repo, child.digest as Digest);
    if (json.config) out.add(json.config.digest);
    for (const l of json.layers ?? []) out.add(l.digest);
  };
  for (const { repo, tag } of await allTags(srv)) {
    const digest = await meta.getTag(repo, tag);
    if (digest) await visit(repo, digest);
  }
  return out;
}
