/**
 * The seeded randomized race test: concurrent pushes that share layers (some
 * as indexes, some by mount), tag overwrites, tag/manifest/blob deletes, and
 * GC running back to back with grace 0 and untagged manifests collected at
 * once. Pushes may fail with MANIFEST_BLOB_UNKNOWN (GC took a fresh blob: the
 * client retries); nothing may answer 5xx. Afterwards every tagged image pulls
 * completely with identical digests, and after a final GC no blob file or
 * link remains that no tagged image references.
 *
 * UNIREG_RACE_SEED=<n> replays a seed (the interleaving still varies);
 * UNIREG_RACE_OPS sets the number of operations (default 600).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { allTags, blobFiles, pullCompletely, taggedBlobDigests } from '../helpers/gc.js';
import { MT } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SEED = Number(process.env.UNIREG_RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const OPS = Number(process.env.UNIREG_RACE_OPS ?? 600);
const WORKERS = 6;
/** The operations stop early (with what was done) once this much time has passed. */
const BUDGET_MS = 40_000;
const REPOS = ['race/a', 'race/b', 'race/c', 'race/d'];
const TAGS = ['t1', 't2', 't3'];

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ gc: { grace: '0s', untagged: '0s' } });
});
after(async () => {
  await srv.destroy();
});

class Failure extends Error {}

test(`randomized push / delete / GC race (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}: replay with UNIREG_RACE_SEED=${SEED}`);
  const rand = prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
    return b;
  };
  const pool = Array.from({ length: 12 }, (_, i) => bytes(512 + i * 97));
  const base = srv.url;
  const stats = { pushes: 0, retried: 0, failedPushes: 0, deletes: 0, gcs: 0, ops: 0 };
  const started = Date.now();

  const check = async (res: Response, what: string, ok: number[]): Promise<number> => {
    const text = await res.text();
    if (res.status >= 500) throw new Failure(`${what}: ${res.status} ${text}`);
    if (!ok.includes(res.status)) throw new Failure(`${what}: unexpected ${res.status} ${text}`);
    return res.status;
  };

  const upload = async (repo: string, data: Buffer): Promise<void> => {
    const digest = sha(data);
    // Clients skip blobs the registry says it has: that is the window GC can hit.
    if ((await check(await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' }), 'HEAD blob', [200, 404])) === 200) return;
    if (rand() < 0.2) {
      const from = pick(REPOS);
      const m = await fetch(`${base}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });
      if ((await check(m, 'mount', [201, 202])) === 201) return;
    }
    await check(
      await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(data),
      }),
      'POST blob',
      [201],
    );
  };

  const image = async (repo: string): Promise<Buffer> => {
    const config = bytes(64);
    const layers = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(pool));
    for (const b of [config, ...layers]) await upload(repo, b);
    return Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: sha(config), size: config.length },
        layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: sha(l), size: l.length })),
      }),
    );
  };

  const putManifest = async (repo: string, ref: string, body: Buffer, type: string): Promise<boolean> => {
    const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': type }, body: new Uint8Array(body) });
    const status = await check(res, `PUT ${repo}:${ref}`, [201, 400]);
    return status === 201; // 400 is MANIFEST_BLOB_UNKNOWN (checked by `check` never being 5xx); the client retries
  };

  const push = async (): Promise<void> => {
    const repo = pick(REPOS);
    const tag = pick(TAGS);
    const asIndex = rand() < 0.25;
    for (let attempt = 0; attempt < 6; attempt++) {
      if (attempt > 0) stats.retried++;
      if (asIndex) {
        const children: { mediaType: string; digest: string; size: number }[] = [];
        let ok = true;
        for (let i = 0; i < 2 && ok; i++) {
          const m = await image(repo);
          ok = await putManifest(repo, sha(m), m, MT.ociManifest);
          children.push({ mediaType: MT.ociManifest, digest: sha(m), size: m.length });
        }
        if (ok && (await putManifest(repo, tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: children })), MT.ociIndex))) {
          stats.pushes++;
          return;
        }
      } else if (await putManifest(repo, tag, await image(repo), MT.ociManifest)) {
        stats.pushes++;
        return;
      }
    }
    stats.failedPushes++;
  };

  const remove = async (): Promise<void> => {
    const repo = pick(REPOS);
    const r = rand();
    stats.deletes++;
    if (r < 0.5) {
      await check(await fetch(`${base}/v2/${repo}/manifests/${pick(TAGS)}`, { method: 'DELETE' }), 'DELETE tag', [202, 404]);
    } else if (r < 0.85) {
      const head = await fetch(`${base}/v2/${repo}/manifests/${pick(TAGS)}`, { method: 'HEAD', headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
      await head.arrayBuffer();
      const digest = head.headers.get('docker-content-digest');
      if (head.status === 200 && digest) {
        await check(await fetch(`${base}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' }), 'DELETE manifest', [202, 404]);
      }
    } else {
      // A blob DELETE of a stray upload (deleting a blob a tagged manifest references would break that
      // image on purpose: the spec allows it, so it is no part of this invariant).
      const stray = bytes(48);
      await upload(repo, stray);
      await check(await fetch(`${base}/v2/${repo}/blobs/${sha(stray)}`, { method: 'DELETE' }), 'DELETE blob', [202, 404]);
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < OPS && Date.now() - started < BUDGET_MS) {
      next++;
      stats.ops++;
      if (rand() < 0.7) await push();
      else await remove();
    }
  };
  let running = true;
  const gcLoop = async (): Promise<void> => {
    while (running) {
      await srv.registry.gc.run();
      stats.gcs++;
    }
  };

  try {
    const gc = gcLoop();
    await Promise.all(Array.from({ length: WORKERS }, worker));
    running = false;
    await gc;
    t.diagnostic(`stats ${JSON.stringify({ ...stats, ms: Date.now() - started })}`);
    assert.ok(stats.gcs >= 2 && stats.pushes > 0, JSON.stringify(stats));

    // Every tagged image pulls completely, with identical digests.
    const tags = await allTags(srv);
    for (const { repo, tag } of tags) await pullCompletely(base, repo, tag);

    // After a final GC nothing unreferenced is left: files, links or untagged manifests.
    const final = await srv.registry.gc.run();
    t.diagnostic(`final gc ${JSON.stringify({ ...final, manifests: undefined })}`);
    const referenced = await taggedBlobDigests(srv);
    const files = await blobFiles(srv);
    assert.deepEqual([...files].filter((d) => !referenced.has(d)), [], 'blob files no tagged image references');
    for (const repo of await srv.registry.deps.meta.listRepositories({ limit: 1000 })) {
      for (const link of await srv.registry.deps.meta.listLinks(repo, { limit: 100_000 })) {
        assert.ok(files.has(link.digest), `link ${repo}@${link.digest} has its file`);
      }
    }
    for (const { repo, tag } of tags) await pullCompletely(base, repo, tag);
  } catch (err) {
    running = false;
    (err as Error).message = `[seed ${SEED}; replay with UNIREG_RACE_SEED=${SEED}] ${(err as Error).message}`;
    throw err;
  }
});
