/**
 * `npm run bench:proxy`: the pull-through cache's figures on loopback.
 *
 *   cold  a 256 MiB blob (PROXY_BENCH_MIB) nobody has pulled: GET through unireg (fetched from the upstream,
 *         stored and streamed at once) vs GET straight from the upstream (CNCF Distribution). Target ≤ 1.2×.
 *   warm  the same blob again through unireg (a cache hit) vs a plain local pull of the same blob pushed to
 *         a unireg without proxy. Target ≥ 0.9× the local throughput.
 *   manifests  GET by tag, 16 connections for 5 s: cache hits (within manifestTTL) vs a plain local unireg.
 *
 * Each registry is its own process (bench/servers.ts); blobs are fetched with curl into /dev/null
 * (bench/client.ts pullBlob). Rounds use a fresh blob each (BlobData variants), so every cold pull is cold.
 */
import { BlobData, pullBlob, pushStreamed } from './client.js';
import { pushImage } from './image.js';
import { runLoad } from './load.js';
import { log } from './phases.js';
import { startRegistry, stopRegistry, type Registry } from './servers.js';

const MIB = 1024 * 1024;
const SIZE = Number(process.env.PROXY_BENCH_MIB ?? 256) * MIB;
const ROUNDS = Number(process.env.PROXY_BENCH_ROUNDS ?? 3);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const mibps = (seconds: number) => SIZE / MIB / seconds;

async function main(): Promise<void> {
  const started: Registry[] = [];
  try {
    const upstream = await startRegistry('distribution');
    started.push(upstream);
    const cache = await startRegistry('unireg', {
      configYaml: `proxy:\n  upstreams:\n    - prefix: up\n      url: ${upstream.base}\n      manifestTTL: 1h\n`,
      env: { MALLOC_TRIM_THRESHOLD_: '268435456' },
    });
    started.push(cache);
    const local = await startRegistry('unireg', { env: { MALLOC_TRIM_THRESHOLD_: '268435456' } });
    started.push(local);
    log(`upstream (Distribution) ${upstream.base}, cache (unireg) ${cache.base}, plain unireg ${local.base}; ${SIZE / MIB} MiB × ${ROUNDS} rounds`);

    const data = new BlobData(SIZE);
    const rows = { direct: [] as number[], cold: [] as number[], warm: [] as number[], local: [] as number[] };
    for (let k = 0; k < ROUNDS; k++) {
      const digest = data.variant(k);
      await pushStreamed(upstream.base, 'bench/blob', data, digest);
      await pushStreamed(local.base, 'bench/blob', data, digest);
      rows.direct.push((await pullBlob(upstream.base, 'bench/blob', digest, SIZE)).seconds);
      rows.cold.push((await pullBlob(cache.base, 'up/bench/blob', digest, SIZE)).seconds);
      rows.warm.push((await pullBlob(cache.base, 'up/bench/blob', digest, SIZE)).seconds);
      rows.local.push((await pullBlob(local.base, 'bench/blob', digest, SIZE)).seconds);
      log(
        `round ${k + 1}: direct ${rows.direct[k]!.toFixed(2)} s, cold via unireg ${rows.cold[k]!.toFixed(2)} s, ` +
          `warm via unireg ${rows.warm[k]!.toFixed(2)} s, plain local ${rows.local[k]!.toFixed(2)} s`,
      );
    }

    await pushImage(upstream.base, 'bench/img', 'v1');
    await pushImage(local.base, 'bench/img', 'v1');
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
    // One pull through the cache first: the load then measures hits.
    const first = await fetch(`${cache.base}/v2/up/bench/img/manifests/v1`, { headers: accept });
    if (first.status !== 200) throw new Error(`manifest through the cache: ${first.status}`);
    await first.arrayBuffer();
    const load = (base: string, repo: string, pid: number) =>
      runLoad({ url: `${base}/v2/${repo}/manifests/v1`, method: 'GET', headers: accept, connections: 16, seconds: 5, pid });
    const hits = await load(cache.base, 'up/bench/img', cache.pid);
    const plain = await load(local.base, 'bench/img', local.pid);
    const metrics = await (await fetch(`${cache.base}/metrics`)).text();
    log(`cache metrics: ${metrics.split('\n').filter((l) => l.startsWith('unireg_proxy_')).join('; ')}`);

    const d = median(rows.direct);
    const c = median(rows.cold);
    const w = median(rows.warm);
    const l = median(rows.local);
    const lines = [
      `pull-through cache, ${SIZE / MIB} MiB blob, median of ${ROUNDS} (curl into /dev/null, loopback):`,
      `  cold  direct from Distribution  ${d.toFixed(2)} s  ${mibps(d).toFixed(0)} MiB/s`,
      `        through unireg (miss)     ${c.toFixed(2)} s  ${mibps(c).toFixed(0)} MiB/s   ${(c / d).toFixed(2)}× the direct time (target ≤ 1.2×)`,
      `  warm  through unireg (hit)      ${w.toFixed(2)} s  ${mibps(w).toFixed(0)} MiB/s`,
      `        plain local unireg        ${l.toFixed(2)} s  ${mibps(l).toFixed(0)} MiB/s   hit throughput ${(l / w).toFixed(2)}× the local (target ≥ 0.9×)`,
      `  manifest GET by tag, 16 connections, 5 s: cache hits ${hits.rps.toFixed(0)} req/s (p50 ${hits.p50} ms, p99 ${hits.p99} ms, non-2xx ${hits.non2xx}), ` +
        `plain local ${plain.rps.toFixed(0)} req/s (p50 ${plain.p50} ms, p99 ${plain.p99} ms): ${(hits.rps / plain.rps).toFixed(2)}×`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const r of started.reverse()) await stopRegistry(r);
  }
}

await main();
