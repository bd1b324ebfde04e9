/**
 * `npm run bench:gc`: online GC at scale. Seeds a real `unireg serve` over HTTP
 * with 10,000 small blobs in 2,000 tagged manifests across 20 repositories
 * (5 blobs each: a config and 4 layers), then drops the tags of a quarter of
 * them (gc.untagged 0s, grace 0s: those manifests and their 2,500 blobs are
 * garbage). Measures manifest GET latency (by tag, 8 connections) idle, during
 * a dry-run GC and during the real GC, with the GC's duration and the server's
 * RSS. Target: p99 during GC within 2× idle. Prints a Markdown table.
 *
 * BENCH_GC_REPOS / BENCH_GC_MANIFESTS (per repository) / BENCH_GC_LAYERS scale it down for a quick look.
 */
import { createHash } from 'node:crypto';
import { request } from './client.js';
import { log } from './phases.js';
import { procStatusMiB, sampleRss, startRegistry, stopRegistry, type Registry } from './servers.js';

const REPOS = Number(process.env.BENCH_GC_REPOS ?? 20);
const PER_REPO = Number(process.env.BENCH_GC_MANIFESTS ?? 100);
const LAYERS = Number(process.env.BENCH_GC_LAYERS ?? 4);
const CONNECTIONS = 8;
const IDLE_SECONDS = 5;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const repoName = (r: number) => `bench/gc-${String(r).padStart(2, '0')}`;

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function seed(base: string): Promise<{ blobs: number; manifests: number }> {
  const jobs: { repo: string; i: number }[] = [];
  for (let r = 0; r < REPOS; r++) for (let i = 0; i < PER_REPO; i++) jobs.push({ repo: repoName(r), i });
  let blobs = 0;
  await pool(jobs, 16, async ({ repo, i }) => {
    const parts = Array.from({ length: 1 + LAYERS }, (_, k) => Buffer.from(`${repo}/${i}/${k}/${'x'.repeat(200 + k)}`));
    for (const body of parts) {
      await request('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${sha(body)}`, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
        body,
        expect: [201],
      });
      blobs++;
    }
    const [config, ...layers] = parts;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config!), size: config!.length },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(l), size: l.length })),
      }),
    );
    await request('PUT', `${base}/v2/${repo}/manifests/m${i}`, {
      headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.length },
      body: manifest,
      expect: [201],
    });
  });
  return { blobs, manifests: jobs.length };
}

interface Latency {
  requests: number;
  p50: number;
  p99: number;
  max: number;
}

/** GETs manifests by tag on CONNECTIONS loops until `until` resolves (or for `seconds`). */
async function getLoop(base: string, until: Promise<unknown>): Promise<Latency> {
  const latencies: number[] = [];
  let done = false;
  void until.finally(() => (done = true));
  const kept = Array.from({ length: REPOS }, (_, r) => repoName(r));
  let k = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (!done) {
        const repo = kept[k++ % kept.length]!;
        // Tags m0..m(PER_REPO*3/4 - 1) are kept.
        const tag = `m${k % Math.floor((PER_REPO * 3) / 4)}`;
        const t0 = process.hrtime.bigint();
        await request('GET', `${base}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST }, expect: [200] });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
  return { requests: latencies.length, p50: pct(50), p99: pct(99), max: pct(100) };
}

async function gcUnderLoad(reg: Registry, dryRun: boolean): Promise<{ report: Record<string, unknown>; latency: Latency; rssMiB: number; ms: number }> {
  const rss = sampleRss(reg.pid, 50);
  const t0 = Date.now();
  const gc = request('POST', `${reg.base}/_unireg/gc${dryRun ? '?dryRun=true' : ''}`, { expect: [200] });
  const latency = await getLoop(reg.base, gc);
  const res = await gc;
  const ms = Date.now() - t0;
  const report = JSON.parse(res.body.toString()) as Record<string, unknown>;
  delete report.blobs;
  delete report.links;
  delete report.manifests;
  return { report, latency, rssMiB: rss.stop(), ms };
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');

async function main(): Promise<void> {
  const reg = await startRegistry('unireg', { env: { UNIREG_GC_GRACE: '0s', UNIREG_GC_UNTAGGED: '0s', UNIREG_LOG_LEVEL: 'warn' } });
  try {
    log(`seeding ${REPOS} repositories × ${PER_REPO} manifests × ${1 + LAYERS} blobs over HTTP`);
    const t0 = Date.now();
    const seeded = await seed(reg.base);
    log(`seeded ${seeded.blobs} blobs, ${seeded.manifests} manifests in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // A quarter of the tags go: their manifests and blobs become garbage.
    const drops: { repo: string; i: number }[] = [];
    for (let r = 0; r < REPOS; r++) for (let i = Math.floor((PER_REPO * 3) / 4); i < PER_REPO; i++) drops.push({ repo: repoName(r), i });
    await pool(drops, 8, async ({ repo, i }) => {
      await request('DELETE', `${reg.base}/v2/${repo}/manifests/m${i}`, { expect: [202] });
    });
    log(`dropped ${drops.length} tags`);

    const quiet = Date.now();
    const quietDry = JSON.parse((await request('POST', `${reg.base}/_unireg/gc?dryRun=true`, { expect: [200] })).body.toString()) as { durationMs: number };
    log(`dry run without load: ${quietDry.durationMs} ms (request ${Date.now() - quiet} ms)`);
    const idleLoad = async (): Promise<{ latency: Latency; rssMiB: number }> => {
      const rss = sampleRss(reg.pid, 50);
      const latency = await getLoop(reg.base, new Promise((ok) => setTimeout(ok, IDLE_SECONDS * 1000)));
      return { latency, rssMiB: rss.stop() };
    };
    const idleBefore = await idleLoad();
    const idle = idleBefore.latency;
    log(`idle: ${idle.requests} GETs, p99 ${fmt(idle.p99)} ms`);
    const dry = await gcUnderLoad(reg, true);
    log(`dry run: ${JSON.stringify(dry.report)}`);
    const real = await gcUnderLoad(reg, false);
    log(`gc: ${JSON.stringify(real.report)}`);
    const again = await gcUnderLoad(reg, false);
    log(`second gc (nothing to do): ${JSON.stringify(again.report)}`);
    const idleAfter = await idleLoad();
    // GC is compared with the quieter of the two idle runs (the machine is shared: idle varies too).
    const reference = Math.min(idle.p99, idleAfter.latency.p99);

    const row = (name: string, l: Latency, ms: string, rss: string) =>
      `| ${name} | ${ms} | ${l.requests} | ${fmt(l.p50)} | ${fmt(l.p99)} | ${fmt(l.max)} | ${fmt(l.p99 / reference)}× | ${rss} |`;
    const out = [
      `GC over ${seeded.blobs} blobs / ${seeded.manifests} manifests / ${REPOS} repositories; ${drops.length} tags dropped ` +
        `(garbage: ${real.report.manifestsDeleted} manifests, ${real.report.blobsDeleted} blobs, ${real.report.linksDeleted} links).`,
      '',
      '| phase | GC duration (ms) | manifest GETs | p50 (ms) | p99 (ms) | max (ms) | p99 vs quieter idle | server RSS max (MiB) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      row(`idle before GC (${IDLE_SECONDS} s)`, idle, '-', fmt(idleBefore.rssMiB)),
      row(`idle after GC (${IDLE_SECONDS} s)`, idleAfter.latency, '-', fmt(idleAfter.rssMiB)),
      `| dry-run GC without load | ${quietDry.durationMs} | - | - | - | - | - | - |`,
      row('during dry-run GC', dry.latency, String(dry.report.durationMs), fmt(dry.rssMiB)),
      row('during GC', real.latency, String(real.report.durationMs), fmt(real.rssMiB)),
      row('during a second GC (nothing left)', again.latency, String(again.report.durationMs), fmt(again.rssMiB)),
      '',
      `server peak RSS over the whole run (VmHWM): ${fmt(procStatusMiB(reg.pid, 'VmHWM'))} MiB`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await stopRegistry(reg);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
