/**
 * Slow and hostile clients against one unireg process (a child; its VmRSS read
 * from /proc), loopback only, bounded in count and time:
 *
 *   1. slow bodies: 400 concurrent 4 MiB manifest PUTs trickled in slices, and
 *      200 PATCHes that send a head and 1 KiB and then stall, while a client
 *      pulls a manifest in a loop: peak server RSS and the pull's p99; then
 *      whether every stalled PATCH was cut off after http.bodyIdleTimeout and a
 *      stalled session takes its chunk again;
 *   2. wrong passwords: floods from 10 source addresses (127.0.0.2 to
 *      127.0.0.11) while a logged-in client pulls in a loop: the pull's p99.
 *
 * Prints the figures and PASS/FAIL per target; exits 1 if a target failed.
 * Usage: node dist/bench/hostile.js [--manifests 400] [--stalled 200] [--seconds 15] [--rss-mib 300] [--p99-ms 50] [--only slow|auth]
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { putSmallBlob, startUpload, request } from './client.js';
import { percentile, pullLoop, simple, slowPut, stalledPatch } from './hostile-clients.js';
import { OCI_MANIFEST, pushImage } from './image.js';
import { log } from './phases.js';
import { procStatusKiB, sampleRss, startRegistry, stopRegistry, type Registry } from './servers.js';

const { values: args } = parseArgs({
  options: {
    manifests: { type: 'string', default: '400' },
    stalled: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '15' },
    'rss-mib': { type: 'string', default: '300' },
    'p99-ms': { type: 'string', default: '50' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write('usage: node dist/bench/hostile.js [--manifests 400] [--stalled 200] [--seconds 15] [--rss-mib 300] [--p99-ms 50] [--only slow|auth]\n');
  process.exit(0);
}
const MANIFESTS = Number(args.manifests);
const STALLED = Number(args.stalled);
const SECONDS = Number(args.seconds);
const RSS_TARGET = Number(args['rss-mib']);
const P99_TARGET = Number(args['p99-ms']);
/** Short enough for the bench to see it act, long enough that the slow PUTs (a slice every 100 ms) never trip it. */
const IDLE_TIMEOUT_S = 5;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

interface Verdict {
  target: string;
  value: string;
  pass: boolean;
}
const verdicts: Verdict[] = [];
const judge = (target: string, value: string, pass: boolean) => verdicts.push({ target, value, pass });
const fmt = (n: number) => n.toFixed(1);

function tally(statuses: (number | string)[]): string {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(String(s), (counts.get(String(s)) ?? 0) + 1);
  return [...counts].sort().map(([s, n]) => `${s}: ${n}`).join(', ');
}

/** A valid image manifest of exactly about `size` bytes (padded with an annotation) for `repo`'s pushed image. */
async function bigManifest(base: string, repo: string, size: number): Promise<Buffer> {
  const layer = randomBytes(1024);
  const layerDigest = await putSmallBlob(base, repo, layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
  const configDigest = await putSmallBlob(base, repo, config);
  const manifest = (pad: number) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
        annotations: { pad: 'x'.repeat(pad) },
      }),
    );
  return manifest(size - manifest(0).length);
}

async function slowBodies(): Promise<void> {
  const reg = await startRegistry('unireg', { env: { UNIREG_HTTP_BODY_IDLE_TIMEOUT: String(IDLE_TIMEOUT_S), UNIREG_LOG_LEVEL: 'warn' } });
  try {
    const repo = 'hostile/slow';
    await pushImage(reg.base, repo, 'small');
    const body = await bigManifest(reg.base, repo, 4 * 1024 * 1024 - 1024);
    const idle = pullLoop(`${reg.base}/v2/${repo}/manifests/small`);
    await sleep(2_000);
    const baseline = await idle.stop();
    log(`phase 1: ${MANIFESTS} slow 4 MiB manifest PUTs + ${STALLED} stalled PATCHes for ~${SECONDS} s`);

    const rssBefore = (procStatusKiB(reg.pid, 'VmRSS') ?? 0) / 1024;
    const rss = sampleRss(reg.pid, 50);
    const sessions = await Promise.all(Array.from({ length: STALLED }, () => startUpload(reg.base, repo)));
    const startedStalls = Date.now();
    const stalls = sessions.map((loc) => stalledPatch(loc, 1 << 20, 1024));
    const pulls = pullLoop(`${reg.base}/v2/${repo}/manifests/small`);
    // Each body in 64 KiB slices every 100 ms, stretched so the whole lasts about SECONDS.
    const slice = Math.max(16 * 1024, Math.ceil(body.length / ((SECONDS * 1000) / 100)));
    const puts = await Promise.all(
      Array.from({ length: MANIFESTS }, (_, i) =>
        slowPut(`${reg.base}/v2/${repo}/manifests/slow-${i}`, { 'Content-Type': OCI_MANIFEST }, body, slice, 100),
      ),
    );
    const loaded = await pulls.stop();
    // Bounded: a stalled PATCH the server has not cut off well after the idle timeout is counted as still open.
    const deadline = sleep((IDLE_TIMEOUT_S + 15) * 1000).then(() => ({ at: Date.now(), outcome: { status: 'still open' as const } }));
    const ends = await Promise.all(stalls.map((s) => Promise.race([s.ended, deadline])));
    for (const s of stalls) s.abort();
    const peak = rss.stop();
    const lastCut = Math.max(...ends.map((e) => e.at)) - startedStalls;

    // A stalled session is usable again: its chunk goes in whole at the same Location.
    const chunk = randomBytes(1 << 20);
    const retry =
      sessions.length === 0
        ? { status: 202 }
        : await request('PATCH', sessions[0]!, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': chunk.length }, body: chunk, expect: [202, 409, 404] });

    console.log('\n## Phase 1: slow bodies');
    console.log(`pull p99 before: ${fmt(percentile(baseline.latencies, 99))} ms (${baseline.latencies.length} pulls)`);
    console.log(`pull p50/p99 during: ${fmt(percentile(loaded.latencies, 50))} / ${fmt(percentile(loaded.latencies, 99))} ms (${loaded.latencies.length} pulls, ${loaded.failures} not 200)`);
    if (process.env.BENCH_DEBUG) {
      const worst = loaded.latencies.map((l, i) => [l, loaded.at[i]! - startedStalls] as const).sort((a, b) => b[0] - a[0]).slice(0, 20);
      console.log(`worst pulls (ms @ s): ${worst.map(([l, t]) => `${fmt(l)}@${fmt(t / 1000)}`).join(' ')}`);
    }
    console.log(`manifest PUT answers: ${tally(puts.map((p) => p.status))}`);
    console.log(`stalled PATCH endings: ${tally(ends.map((e) => e.outcome.status))}; the last ${fmt(lastCut / 1000)} s after they stalled (idle timeout ${IDLE_TIMEOUT_S} s)`);
    console.log(`retry of a stalled session: ${retry.status}`);
    console.log(`server VmRSS before: ${fmt(rssBefore)} MiB; peak during: ${fmt(peak)} MiB`);
    judge(`peak server RSS < ${RSS_TARGET} MiB`, `${fmt(peak)} MiB`, peak < RSS_TARGET);
    judge(`pull p99 during slow bodies < ${P99_TARGET} ms`, `${fmt(percentile(loaded.latencies, 99))} ms`, percentile(loaded.latencies, 99) < P99_TARGET && loaded.failures === 0);
    judge('every stalled PATCH cut off by the server', tally(ends.map((e) => e.outcome.status)), ends.every((e) => e.outcome.status === 'closed'));
    judge('a stalled session takes its chunk again', String(retry.status), retry.status === 202);
  } finally {
    await stopRegistry(reg);
  }
}

async function passwordFloods(): Promise<void> {
  const hash = bcrypt.hashSync('right-password', 10);
  const configYaml = stringify({
    // A limit no flood reaches within the phase: every wrong password costs a real bcrypt check.
    auth: {
      mode: 'basic',
      users: { alice: hash },
      failedLogins: { limit: 100_000, window: '1m' },
    },
    log: { level: 'warn' },
  });
  const reg: Registry = await startRegistry('unireg', { configYaml, auth: true });
  try {
    const authz = `Basic ${Buffer.from('alice:right-password').toString('base64')}`;
    const image = await pushImage(reg.base, 'hostile/auth', 'v1', { Authorization: authz });
    const url = `${reg.base}/v2/${image.repo}/manifests/v1`;
    const idle = pullLoop(url, { Authorization: authz });
    await sleep(2_000);
    const baseline = await idle.stop();
    log(`phase 2: wrong passwords from 10 addresses for ${SECONDS} s`);
    const pulls = pullLoop(url, { Authorization: authz });
    const until = Date.now() + SECONDS * 1000;
    const statuses: number[] = [];
    const flood = async (address: string, worker: number) => {
      for (let i = 0; Date.now() < until; i++) {
        const wrong = `Basic ${Buffer.from(`alice:wrong-${worker}-${i}`).toString('base64')}`;
        statuses.push(await simple(url, 'GET', { Authorization: wrong }, address));
      }
    };
    const floods: Promise<void>[] = [];
    for (let a = 2; a <= 11; a++) for (let w = 0; w < 4; w++) floods.push(flood(`127.0.0.${a}`, a * 10 + w));
    await Promise.all(floods);
    const loaded = await pulls.stop();
    console.log('\n## Phase 2: wrong-password floods');
    console.log(`logged-in pull p99 before: ${fmt(percentile(baseline.latencies, 99))} ms (${baseline.latencies.length} pulls)`);
    console.log(`logged-in pull p50/p99 during: ${fmt(percentile(loaded.latencies, 50))} / ${fmt(percentile(loaded.latencies, 99))} ms (${loaded.latencies.length} pulls, ${loaded.failures} not 200)`);
    console.log(`wrong-password answers: ${tally(statuses)} (${fmt(statuses.length / SECONDS)}/s)`);
    judge(`logged-in pull p99 during floods < ${P99_TARGET} ms`, `${fmt(percentile(loaded.latencies, 99))} ms`, percentile(loaded.latencies, 99) < P99_TARGET && loaded.failures === 0);
  } finally {
    await stopRegistry(reg);
  }
}

console.log(`# bench:hostile (${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
if (args.only !== 'auth') await slowBodies();
if (args.only !== 'slow') await passwordFloods();
console.log('\n## Targets');
for (const v of verdicts) console.log(`${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.value}`);
process.exitCode = verdicts.every((v) => v.pass) ? 0 : 1;
