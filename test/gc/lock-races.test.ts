/**
 * The races the locks close, made deterministic by holding a manifest PUT
 * between its reference check and its write (a gate in the metadata store's
 * putManifest): a blob DELETE and a GC sweep must wait for the PUT, and the
 * result is never a stored manifest whose blob is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../src/oci/digest.js';
import type { MetadataStore } from '../../src/storage/types.js';
import { blobFiles, pullCompletely } from '../helpers/gc.js';
import { buildImage, pushBlob, randomBlob, randomConfig, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** How long a blocked operation is given to (wrongly) finish before the PUT is let go. */
const WINDOW_MS = 300;

/** Wraps the store so that the next putManifest stops until released. */
function gateNextPut(srv: TestServer): { reached: Promise<void>; release: () => void; restore: () => void } {
  const deps = srv.registry.deps;
  const real = deps.meta;
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const gate = new Promise<void>((r) => (release = r));
  let used = false;
  deps.meta = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'putManifest' && !used) {
        return async (...args: Parameters<MetadataStore['putManifest']>) => {
          used = true;
          reached();
          await gate;
          return target.putManifest(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { reached: reachedP, release, restore: () => (deps.meta = real) };
}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

describe('lock races', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ gc: { grace: '0s' } });
  });
  after(async () => {
    await srv.destroy();
  });

  async function prepared(repo: string) {
    const config = randomConfig();
    const layer = randomBlob(500);
    await pushBlob(srv.url, repo, config);
    await pushBlob(srv.url, repo, layer);
    return buildImage(config, [layer]);
  }

  test('blob DELETE waits for a manifest PUT that is between its reference check and its write', async () => {
    const repo = repoName('race-delete');
    const image = await prepared(repo);
    const layer = sha256(image.layers[0]!) as Digest;
    const gate = gateNextPut(srv);
    try {
      const put = srv.registry.manifests.put(repo, 'v1', image.bytes, image.manifest.mediaType as string);
      await gate.reached;
      const deletion = srv.registry.blobs.delete(repo, layer);
      assert.equal(await settlesWithin(deletion, WINDOW_MS), false, 'the DELETE finished while the PUT held its locks');
      gate.release();
      await put;
      await deletion;
    } finally {
      gate.release();
      gate.restore();
    }
    // Serialised: the PUT stored the manifest, then the DELETE unlinked the blob (as asked, after it).
    assert.equal(await srv.registry.deps.meta.getBlobLink(repo, layer), undefined);
    assert.ok(await srv.registry.deps.meta.getManifest(repo, image.digest as Digest));
  });

  test('GC with grace 0 cannot sweep the blobs of a manifest PUT in flight: the PUT wins and they stay', async () => {
    const repo = repoName('race-gc');
    const image = await prepared(repo);
    const gate = gateNextPut(srv);
    let gc;
    try {
      const put = srv.registry.manifests.put(repo, 'v1', image.bytes, image.manifest.mediaType as string);
      await gate.reached;
      gc = srv.registry.gc.run();
      assert.equal(await settlesWithin(gc, WINDOW_MS), false, 'GC swept while the PUT held its locks');
      gate.release();
      await put;
      await gc;
    } finally {
      gate.release();
      gate.restore();
    }
    await pullCompletely(srv.url, repo, 'v1');
    const files = await blobFiles(srv);
    assert.ok(files.has(sha256(image.config)) && files.has(sha256(image.layers[0]!)));
    // A second GC keeps them too: the manifest references them now.
    await srv.registry.gc.run();
    await pullCompletely(srv.url, repo, 'v1');
  });

  test('a GC that swept first makes the PUT fail with MANIFEST_BLOB_UNKNOWN, never store a broken manifest', async () => {
    const repo = repoName('race-gc-first');
    const image = await prepared(repo);
    const report = await srv.registry.gc.run();
    assert.ok(report.linksDeleted >= 2);
    const res = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': image.manifest.mediaType as string },
      body: new Uint8Array(image.bytes),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_BLOB_UNKNOWN');
  });
});
