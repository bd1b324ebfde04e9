/** Pushing a small image with an Authorization header (the shared helpers push without one). */
import assert from 'node:assert/strict';
import { MT, buildImage, randomBlob, randomConfig, sha256 } from '../helpers/oci.js';

async function blob(base: string, repo: string, data: Buffer, authorization: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    headers: { Authorization: authorization, 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(data),
  });
  assert.equal(res.status, 201, `blob upload to ${repo}: ${await res.text()}`);
}

export async function prepareAs(base: string, repo: string, authorization: string, tag = 'v1'): Promise<void> {
  const image = buildImage(randomConfig(), [randomBlob(100)]);
  await blob(base, repo, image.config, authorization);
  for (const l of image.layers) await blob(base, repo, l, authorization);
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { Authorization: authorization, 'Content-Type': MT.ociManifest },
    body: new Uint8Array(image.bytes),
  });
  assert.equal(res.status, 201, `manifest ${repo}:${tag}: ${await res.text()}`);
}
