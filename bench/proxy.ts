/**
 * `npm run bench:proxy`: the pull-through cache's figures on loopback.
 *
 *   cold  a 256 MiB blob (PROXY_BENCH_MIB) nobody has pulled: GET through unireg (fetched from the upstream,
 *         stored and streamed at once) vs GET straight from the upstream (CNCF Distribution). Target ≤ 1.2×.
 *         Twice: over loopback, where the upstream answers from its page cache with sendfile and any cache
 *         in between is pure overhead, and over a link of PROXY_BENCH_LINK_MBIT (default 1000) Mbit/s
 *         (bench/link.ts) between the registries and the upstream, as a pull-through cache is deployed.
 *         For scale: the same blob pushed to a plain unireg, and pulled through CNCF Distribution's own
 *         pull-through cache (`proxy.remoteurl`) over loopback.
 *   warm  the same blob again through unireg, once it is stored (a cache hit), vs a plain local pull of the
 *         same blob from a unireg without proxy, read once before (both from the page cache: a pushed blob's
 *         first read comes from the disk); PROXY_BENCH_WARM_PULLS (default 5) of each, alternated, per round.
 *         Target ≥ 0.9× the local throughput.
 *   manifests  GET by tag, 16 connections: cache hits (within manifestTTL) vs a plain local unireg,
 *         alternated PROXY_BENCH_ROUNDS times (the median of each side: the machine is shared).
 *
 * Each registry is its own process (bench/servers.ts); blobs are fetched with curl into /dev/null
 * (bench/client.ts pullBlob). Rounds use a fresh blob each (BlobData variants), so every cold pull is cold.
 */
import { BlobData, pullBlob, pushStreamed } from './client.js';
import { pushImage } from './image.js';
import { startLink, type Link } from './link.js';
import { runLoad } from './load.js';
import { log } from './phases.js';
import { startRegistry, stopRegistry, type Registry } from './servers.js';

const MIB = 1024 * 1024;
const SIZE = Number(process.env.PROXY_BENCH_MIB ?? 256) * MIB;
const ROUNDS = Number(process.env.PROXY_BENCH_ROUNDS ?? 3);
const LINK_MBIT = Number(process.env.PROXY_BENCH_LINK_MBIT ?? 1000);
const WARM_PULLS = Number(process.env.PROXY_BENCH_WARM_PULLS ?? 5);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const mibps = (seconds: number) => SIZE / MIB / seconds;

async function proxyMetric(cache: Registry, line: string): Promise<number> {
  const text = await (await fetch(`${cache.base}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length).trim());
}

/** Waits until the cache has stored `count` fetched blobs (the client has its bytes a little before). */
async function storedBlobs(cache: Registry, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await proxyMetric(cache, 'unireg_proxy_blob_fetches_total{outcome="stored"}')) < count) {
    if (Date.now() > deadline) throw new Error('the cache did not store the blob within 120 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const started: Registry[] = [];
  let link: Link | undefined;
  try {
    const upstream = await startRegistry('distribution');
    started.push(upstream);
    link = await startLink(upstream.base.slice('http://'.length), LINK_MBIT);
    const env = { MALLOC_TRIM_THRESHOLD_: '268435456', UV_USE_IO_URING: '0' };
    const upstreams = [`    - prefix: up\n      url: ${upstream.base}\n      manifestTTL: 1h\n`, `    - prefix: wan\n      url: ${link.base}\n      manifestTTL: 1h\n`];
    const cache = await startRegistry('unireg', { configYaml: `proxy:\n  upstreams:\n${upstreams.join('')}`, env });
    started.push(cache);
    const local = await startRegistry('unireg', { env });
    started.push(local);
    const distProxy = await startRegistry('distribution', { distributionProxy: upstream.base });
    started.push(distProxy);
    log(
      `upstream (Distribution) ${upstream.base}, over a ${LINK_MBIT} Mbit/s link ${link.base}, cache (unireg) ${cache.base}, ` +
        `plain unireg ${local.base}, Distribution's proxy ${distProxy.base}; ${SIZE / MIB} MiB × ${ROUNDS} rounds`,
    );

    const data = new BlobData(SIZE);
    const rows = {
      direct: [] as number[],
      cold: [] as number[],
      distCold: [] as number[],
      push: [] as number[],
      warm: [] as number[],
      local: [] as number[],
      linkDirect: [] as number[],
      linkCold: [] as number[],
    };
    let fetched = 0;
    const fetchedBlobs = 2 * ROUNDS;
    for (let k = 0; k < ROUNDS; k++) {
      const digest = data.variant(k);
      await pushStreamed(upstream.base, 'bench/blob', data, digest);
      rows.push.push(await pushStreamed(local.base, 'bench/blob', data, digest));
      rows.direct.push((await pullBlob(upstream.base, 'bench/blob', digest, SIZE)).seconds);
      rows.cold.push((await pullBlob(cache.base, 'up/bench/blob', digest, SIZE)).seconds);
      rows.distCold.push((await pullBlob(distProxy.base, 'bench/blob', digest, SIZE)).seconds);
      await storedBlobs(cache, ++fetched);
      // A pushed blob's first read comes from the disk (pushes write past the page cache); the
      // cache's fetched blob is in the page cache: compare hits with a local blob read once before.
      await pullBlob(local.base, 'bench/blob', digest, SIZE);
      // A pull of 256 MiB from the page cache takes ~0.1 s here: one sample each moves with the machine's
      // noise, so hits and local pulls alternate WARM_PULLS times and each round keeps the medians.
      const warm: number[] = [];
      const plainLocal: number[] = [];
      for (let i = 0; i < WARM_PULLS; i++) {
        warm.push((await pullBlob(cache.base, 'up/bench/blob', digest, SIZE)).seconds);
        plainLocal.push((await pullBlob(local.base, 'bench/blob', digest, SIZE)).seconds);
      }
      rows.warm.push(median(warm));
      rows.local.push(median(plainLocal));
      // Over the link: a blob of its own, so the cache has never seen it.
      const far = data.variant(100 + k);
      await pushStreamed(upstream.base, 'bench/blob', data, far);
      rows.linkDirect.push((await pullBlob(link.base, 'bench/blob', far, SIZE)).seconds);
      rows.linkCold.push((await pullBlob(cache.base, 'wan/bench/blob', far, SIZE)).seconds);
      await storedBlobs(cache, ++fetched);
      log(
        `round ${k + 1}: direct ${rows.direct[k]!.toFixed(2)} s, cold via unireg ${rows.cold[k]!.toFixed(2)} s, ` +
          `via Distribution's proxy ${rows.distCold[k]!.toFixed(2)} s (push to plain unireg ${rows.push[k]!.toFixed(2)} s), ` +
          `warm via unireg ${rows.warm[k]!.toFixed(2)} s, plain local ${rows.local[k]!.toFixed(2)} s; ` +
          `over the link: direct ${rows.linkDirect[k]!.toFixed(2)} s, cold via unireg ${rows.linkCold[k]!.toFixed(2)} s`,
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
      runLoad({ url: `${base}/v2/${repo}/manifests/v1`, method: 'GET', headers: accept, connections: 16, seconds: 3, pid });
    const hits: number[] = [];
    const plain: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      const h = await load(cache.base, 'up/bench/img', cache.pid);
      const p = await load(local.base, 'bench/img', local.pid);
      if (h.non2xx > 0 || p.non2xx > 0) throw new Error(`manifest load: non-2xx answers (cache ${h.non2xx}, local ${p.non2xx})`);
      hits.push(h.rps);
      plain.push(p.rps);
      log(`manifest load ${k + 1}: cache hits ${h.rps.toFixed(0)} req/s (p50 ${h.p50} ms), plain local ${p.rps.toFixed(0)} req/s (p50 ${p.p50} ms)`);
    }
    log(`upstream blob GETs: ${await proxyMetric(cache, 'unireg_proxy_blob_fetches_total{outcome="started"}')} for ${fetchedBlobs} blobs`);

    const d = median(rows.direct);
    const c = median(rows.cold);
    const w = median(rows.warm);
    const l = median(rows.local);
    const p = median(rows.push);
    const dc = median(rows.distCold);
    const ld = median(rows.linkDirect);
    const lc = median(rows.linkCold);
    const lines = [
      `pull-through cache, ${SIZE / MIB} MiB blob, median of ${ROUNDS} (curl into /dev/null):`,
      `  cold over a ${LINK_MBIT} Mbit/s link to the upstream (bench/link.ts):`,
      `        direct from Distribution  ${ld.toFixed(2)} s  ${mibps(ld).toFixed(0)} MiB/s`,
      `        through unireg (miss)     ${lc.toFixed(2)} s  ${mibps(lc).toFixed(0)} MiB/s   ${(lc / ld).toFixed(2)}× the direct time (target ≤ 1.2×)`,
      `  cold over loopback (the upstream sends from its page cache):`,
      `        direct from Distribution  ${d.toFixed(2)} s  ${mibps(d).toFixed(0)} MiB/s`,
      `        through unireg (miss)     ${c.toFixed(2)} s  ${mibps(c).toFixed(0)} MiB/s   ${(c / d).toFixed(2)}× the direct time`,
      `        through Distribution's proxy ${dc.toFixed(2)} s  ${mibps(dc).toFixed(0)} MiB/s   ${(dc / d).toFixed(2)}× the direct time`,
      `        (push to a plain unireg   ${p.toFixed(2)} s  ${mibps(p).toFixed(0)} MiB/s   what storing the blob on this disk costs)`,
      `  warm  through unireg (hit)      ${w.toFixed(2)} s  ${mibps(w).toFixed(0)} MiB/s`,
      `        plain local unireg        ${l.toFixed(2)} s  ${mibps(l).toFixed(0)} MiB/s   hit throughput ${(l / w).toFixed(2)}× the local (target ≥ 0.9×)`,
      `  manifest GET by tag, 16 connections, median of ${ROUNDS} × 3 s: cache hits ${median(hits).toFixed(0)} req/s, ` +
        `plain local ${median(plain).toFixed(0)} req/s: ${(median(hits) / median(plain)).toFixed(2)}×`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await link?.close();
    for (const r of started.reverse()) await stopRegistry(r);
  }
}

await main();
