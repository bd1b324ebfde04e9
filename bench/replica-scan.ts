/**
 * Replica count against throughput on S3 + PostgreSQL: for each count N, N `unireg serve`
 * processes behind nginx (round robin; test/helpers/replicas.ts, the harness of the
 * replica tests) on a fresh database and key prefix, then manifest GET under load and
 * concurrent streamed pushes, both through the balancer. Every process is stopped by
 * PID before the next count starts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReplicas } from '../test/helpers/replicas.js';
import { BlobData, pushStreamed } from './client.js';
import { OCI_MANIFEST, pushImage } from './image.js';
import { runLoad, type LoadResult } from './load.js';
import { describe, log, settle } from './phases.js';
import { median } from './report.js';
import { uniregStorage, type Engines } from './s3pg.js';
import { cpuSeconds } from './servers.js';

export interface ScanOptions {
  counts: number[];
  rounds: number;
  seconds: number;
  warmup: number;
  connections: number;
  /** Concurrent streamed pushes per round, each of `pushMib`. */
  pushes: number;
  pushMib: number;
}

export interface ScanRow {
  replicas: number;
  get: LoadResult[];
  /** Aggregate MB/s of the concurrent pushes, per round. */
  pushMbps: number[];
  /** Server CPU seconds (all replicas) per 1,000 manifest GETs, per round. */
  cpuPerKGet: number[];
  failures: string[];
}

const sumCpu = (pids: number[]) => pids.reduce((a, p) => a + cpuSeconds(p), 0);

async function scanOne(engines: Engines, count: number, o: ScanOptions, data: BlobData, variantBase: number): Promise<ScanRow> {
  const row: ScanRow = { replicas: count, get: [], pushMbps: [], cpuPerKGet: [], failures: [] };
  const dir = mkdtempSync(join(tmpdir(), `unireg-bench-replicas-${count}-`));
  const config = join(dir, 'config.json');
  // JSON is YAML: `unireg serve --config` reads it as it is.
  writeFileSync(
    config,
    JSON.stringify({ ...(await uniregStorage(engines)), log: { level: 'info' }, http: { addr: '127.0.0.1:0' } }),
    { mode: 0o600 },
  );
  const set = await startReplicas({ dir: join(dir, 'nginx'), config, count, env: { UNIREG_STORAGE_ROOT: join(dir, 'scratch'), MALLOC_TRIM_THRESHOLD_: '268435456' } });
  const pids = set.replicas.map((r) => r.proc!.pid!);
  log(`${count} replica(s) behind nginx at ${set.url} (pids ${pids.join(' ')})`);
  try {
    const image = await pushImage(set.url, 'bench/image', 'v1');
    await settle();
    for (let round = 0; round < o.rounds; round++) {
      const url = `${set.url}/v2/${image.repo}/manifests/${image.tag}`;
      const opts = { url, method: 'GET' as const, headers: { Accept: OCI_MANIFEST }, connections: o.connections, seconds: o.seconds, pid: pids[0]!, expectBody: image.manifest.toString('utf8') };
      if (o.warmup > 0) await runLoad({ ...opts, seconds: o.warmup });
      const cpu0 = sumCpu(pids);
      const r = await runLoad(opts);
      row.get.push(r);
      row.cpuPerKGet.push(((sumCpu(pids) - cpu0) / Math.max(1, r.responses)) * 1000);
      log(`${count} replica(s) manifest GET: ${r.rps.toFixed(0)} req/s p99 ${r.p99.toFixed(2)} ms ${JSON.stringify(r.codes)}`);
      if (r.non2xx || r.errors || r.timeouts || r.mismatches) row.failures.push(`GET round ${round}: ${JSON.stringify(r.codes)}, ${r.errors} errors, ${r.timeouts} timeouts, ${r.mismatches} wrong bodies`);
      await settle();
      // One buffer per push: BlobData.variant rewrites its buffer, so concurrent pushes need their own.
      const blobs = Array.from({ length: o.pushes }, (_, i) => (i === 0 ? data : new BlobData(data.size)));
      const digests = blobs.map((b, i) => b.variant(variantBase + round * o.pushes + i));
      const t0 = performance.now();
      await Promise.all(blobs.map((b, i) => pushStreamed(set.url, `bench/push${i}`, b, digests[i]!)));
      const mbps = (o.pushes * data.size) / ((performance.now() - t0) / 1000) / 1e6;
      row.pushMbps.push(mbps);
      log(`${count} replica(s) ${o.pushes} concurrent pushes: ${mbps.toFixed(0)} MB/s together`);
    }
  } catch (err) {
    row.failures.push(describe(err));
    log(`${count} replica(s) FAILED: ${describe(err)}`);
  } finally {
    await set.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return row;
}

export async function replicaScan(engines: Engines, o: ScanOptions): Promise<ScanRow[]> {
  const data = new BlobData(o.pushMib << 20);
  const rows: ScanRow[] = [];
  for (const [i, count] of o.counts.entries()) rows.push(await scanOne(engines, count, o, data, 1_000_000 + i * 1000));
  return rows;
}

export function scanTable(rows: ScanRow[], o: ScanOptions): string {
  const base = rows[0];
  const baseGet = base ? median(base.get.map((r) => r.rps)) : NaN;
  const basePush = base ? median(base.pushMbps) : NaN;
  const lines = [
    `| unireg replicas behind nginx | Manifest GET, ${o.connections} conns (req/s) | × of ${base?.replicas ?? 1} | GET p99 (ms) | Server CPU per 1,000 GETs, all replicas (s) | ${o.pushes} concurrent pushes of ${o.pushMib} MiB (MB/s together) | × of ${base?.replicas ?? 1} | Failures |`,
    '|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const get = median(r.get.map((x) => x.rps));
    const p99 = median(r.get.map((x) => x.p99));
    const push = median(r.pushMbps);
    const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');
    lines.push(
      `| ${r.replicas} | ${f(get)} | ${f(get / baseGet, 2)}× | ${f(p99, 2)} | ${f(median(r.cpuPerKGet), 2)} | ${f(push)} | ${f(push / basePush, 2)}× | ${r.failures.length ? r.failures.join('; ').replace(/\n/g, ' ') : 'none'} |`,
    );
  }
  return lines.join('\n');
}
