/**
 * kill -9 during GC: a real `unireg serve` process is killed at random points
 * of a GC (≥ 20 rounds, each with fresh garbage: stray blobs, a moved tag, a
 * deleted tag). After each restart every tagged image still pulls completely;
 * at the end a GC runs to completion and leaves no unreferenced blob file.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kill9, serveProcess } from '../helpers/cli.js';
import { pullCompletely } from '../helpers/gc.js';
import { pushBlob, pushImage, randomBlob } from '../helpers/oci.js';
import { makeRoot } from '../helpers/server.js';
import type { GcReport } from '../../src/gc/report.js';

const ROUNDS = Number(process.env.UNIREG_KILL_ROUNDS ?? 20);
const SEED = Number(process.env.UNIREG_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));

let root: string | undefined;
let child: ChildProcess | undefined;
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (root) await rm(root, { recursive: true, force: true });
});

/** Starts `unireg serve` on a free port over `dir`; resolves with its base URL once it listens. */
async function serve(dir: string): Promise<{ proc: ChildProcess; url: string }> {
  const started = await serveProcess([], {
    UNIREG_STORAGE_ROOT: dir,
    UNIREG_HTTP_ADDR: '127.0.0.1:0',
    UNIREG_GC_GRACE: '0s',
    UNIREG_GC_UNTAGGED: '0s',
    UNIREG_LOG_LEVEL: 'info',
  });
  child = started.proc;
  return started;
}

test(`kill -9 at random points of a GC, ${ROUNDS} rounds (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  let rand = SEED >>> 0;
  const next = () => ((rand = (Math.imul(rand, 1103515245) + 12345) >>> 0) / 2 ** 32);
  root = await makeRoot();
  const tags = new Map<string, string>(); // repo:tag → repo
  const repos = ['kill/a', 'kill/b', 'kill/c'];
  let finished = 0;
  let killedDuring = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { proc, url } = await serve(root);
    try {
      // Nothing a GC was killed in may have cost a tagged image anything.
      for (const [key, repo] of tags) await pullCompletely(url, repo, key.slice(repo.length + 1));
      // Fresh garbage: stray blobs, an image replacing a tag's, a deleted tag.
      const repo = repos[round % repos.length]!;
      for (let i = 0; i < 30; i++) await pushBlob(url, repo, randomBlob(64));
      await pushImage(url, repo, 'moving', { layers: 2 });
      await pushImage(url, repo, `r${round}`, { layers: 2 });
      tags.set(`${repo}:moving`, repo);
      tags.set(`${repo}:r${round}`, repo);
      if (round > 1) {
        const old = `${repos[(round - 2) % repos.length]}:r${round - 2}`;
        const oldRepo = tags.get(old)!;
        const res = await fetch(`${url}/v2/${oldRepo}/manifests/r${round - 2}`, { method: 'DELETE' });
        assert.equal(res.status, 202);
        tags.delete(old);
      }
      const gc = fetch(`${url}/_unireg/gc`, { method: 'POST' }).then(
        async (r) => (r.status === 200 ? ((await r.json()) as GcReport) : undefined),
        () => undefined,
      );
      await sleep(Math.floor(next() * 150));
      const done = await Promise.race([gc, sleep(0).then(() => 'running' as const)]);
      if (done === 'running') killedDuring++;
      else if (done) finished++;
    } finally {
      await kill9(proc);
    }
  }
  t.diagnostic(`seed ${SEED}: ${ROUNDS} rounds, killed during GC ${killedDuring}, GC finished before the kill ${finished}`);

  const { proc, url } = await serve(root);
  try {
    for (const [key, repo] of tags) await pullCompletely(url, repo, key.slice(repo.length + 1));
    const res = await fetch(`${url}/_unireg/gc`, { method: 'POST' });
    assert.equal(res.status, 200, 'the next GC finishes');
    const report = (await res.json()) as GcReport;
    t.diagnostic(`final gc: ${JSON.stringify(report)}`);
    const second = (await (await fetch(`${url}/_unireg/gc`, { method: 'POST' })).json()) as GcReport;
    assert.deepEqual([second.blobsDeleted, second.linksDeleted, second.manifestsDeleted], [0, 0, 0], 'the final GC left nothing behind');
    for (const [key, repo] of tags) await pullCompletely(url, repo, key.slice(repo.length + 1));
  } finally {
    await kill9(proc);
  }
  assert.ok(killedDuring > 0, `no kill landed during a GC (seed ${SEED})`);
});
