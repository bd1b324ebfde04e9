/** One measured phase against one registry: a bulk transfer (MB/s) or a fixed-duration load (req/s). */
import { spawnSync } from 'node:child_process';
import { request, RequestFailed, type PullResult } from './client.js';
import { runLoad, type LoadOptions } from './load.js';
import type { Bulk, KindResults } from './report.js';
import { cpuSeconds, minorFaults, sampleRss, type Registry } from './servers.js';

export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Flushes dirty pages before a timed phase, so one phase's writeback does not land in the next. */
export async function settle(): Promise<void> {
  spawnSync('sync');
  await sleep(500);
}

export function describe(err: unknown): string {
  return err instanceof RequestFailed ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** Runs one timed transfer of `bytes`, recording MB/s, server and client CPU, and the highest VmRSS. */
export async function bulkPhase(
  reg: Registry,
  out: KindResults,
  phase: 'push' | 'chunked' | 'pull',
  bytes: number,
  fn: () => Promise<number | PullResult>,
): Promise<void> {
  await settle();
  const bulk: Bulk = out[phase];
  const rss = sampleRss(reg.pid, 100);
  const cpu0 = cpuSeconds(reg.pid);
  const faults0 = minorFaults(reg.pid);
  const client0 = process.cpuUsage();
  try {
    const r = await fn();
    const c = process.cpuUsage(client0);
    bulk.serverCpu.push(cpuSeconds(reg.pid) - cpu0);
    bulk.faults.push(minorFaults(reg.pid) - faults0);
    const secs = typeof r === 'number' ? r : r.seconds;
    const childCpu = typeof r === 'number' ? 0 : r.clientCpu;
    const mbps = bytes / secs / 1e6;
    bulk.mbps.push(mbps);
    bulk.clientCpu.push((c.user + c.system) / 1e6 + childCpu);
    log(`${reg.kind} ${phase}: ${mbps.toFixed(0)} MB/s (${secs.toFixed(2)} s)`);
  } catch (err) {
    out.failures.push(`${phase}: ${describe(err)}`);
    log(`${reg.kind} ${phase} FAILED: ${describe(err)}`);
  } finally {
    bulk.rssMiB = Math.max(bulk.rssMiB, rss.stop());
  }
}

/** A warm-up run (discarded), then the measured run; any non-2xx is reported with a probe of the same request. */
export async function loadPhase(
  reg: Registry,
  out: KindResults,
  key: 'get' | 'head' | 'tags',
  warmupSeconds: number,
  opts: LoadOptions,
): Promise<void> {
  try {
    if (warmupSeconds > 0) await runLoad({ ...opts, seconds: warmupSeconds });
    const r = await runLoad(opts);
    out[key].push(r);
    const codes = Object.entries(r.codes).map(([c, n]) => `${c}×${n}`).join(' ');
    log(`${reg.kind} ${key}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms [${codes}]`);
    if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0 || r.mismatches > 0) {
      let probe: string;
      try {
        const res = await request(opts.method, opts.url, { headers: opts.headers ?? {}, expect: [200] });
        probe = `a single ${opts.method} afterwards got ${res.status}`;
      } catch (err) {
        probe = `a single ${opts.method} afterwards: ${describe(err)}`;
      }
      out.failures.push(
        `${key}: ${opts.method} ${opts.url}: status counts ${JSON.stringify(r.codes)}, ${r.errors} socket errors, ` +
          `${r.timeouts} timeouts, ${r.mismatches} wrong bodies; ${probe}`,
      );
    }
  } catch (err) {
    out.failures.push(`${key}: ${describe(err)}`);
    log(`${reg.kind} ${key} FAILED: ${describe(err)}`);
  }
}
