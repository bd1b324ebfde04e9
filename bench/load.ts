/**
 * Fixed-duration load with autocannon (programmatic API). Latencies are
 * recorded here from every response (autocannon's own histogram keeps whole
 * milliseconds only), so percentiles have microsecond resolution.
 */
import autocannon, { type Client } from 'autocannon';
import { createRequire } from 'node:module';
import { cpuSeconds } from './servers.js';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** Every GET body must equal this (counted in `mismatches` otherwise). */
  expectBody?: string;
  /** Server process, for its CPU time during the run. */
  pid: number;
}

export interface LoadResult {
  responses: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  codes: Record<string, number>;
  /** CPU seconds used by the server / by this (client) process during the run. */
  serverCpu: number;
  clientCpu: number;
}

/**
 * autocannon's parser (http-parser-js) does not know a response answers a
 * HEAD request, so it would wait for Content-Length body bytes that never
 * come. Telling it to skip the body from onHeadersComplete fixes that.
 */
const kOnHeadersComplete: number = (() => {
  const fromBench = createRequire(import.meta.url);
  const fromAutocannon = createRequire(fromBench.resolve('autocannon'));
  return (fromAutocannon('http-parser-js') as { HTTPParser: { kOnHeadersComplete: number } }).HTTPParser
    .kOnHeadersComplete;
})();

function skipBodies(client: Client): void {
  // setupClient runs before autocannon installs its parser callbacks: intercept the assignment.
  let handler: ((...args: unknown[]) => unknown) | undefined;
  const skipping = (...args: unknown[]) => {
    handler?.(...args);
    return true;
  };
  Object.defineProperty(client.parser, kOnHeadersComplete, {
    configurable: true,
    get: () => skipping,
    set: (fn: (...args: unknown[]) => unknown) => {
      handler = fn;
    },
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return new Promise((ok, fail) => {
    let latencies = new Float64Array(1 << 16);
    let n = 0;
    const cpu0 = cpuSeconds(opts.pid);
    const client0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: opts.url,
        method: opts.method,
        headers: opts.headers,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.seconds,
        timeout: 10,
        ...(opts.expectBody !== undefined ? { expectBody: opts.expectBody } : {}),
        ...(opts.method === 'HEAD' ? { setupClient: skipBodies } : {}),
      },
      (err, result) => {
        if (err) return fail(err);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(client0);
        const sorted = latencies.subarray(0, n).sort();
        const codes: Record<string, number> = {};
        for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) codes[code] = Number(count);
        ok({
          responses: n,
          seconds,
          rps: n / seconds,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          max: percentile(sorted, 100),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches ?? 0,
          codes,
          serverCpu: cpuSeconds(opts.pid) - cpu0,
          clientCpu: (cpu.user + cpu.system) / 1e6,
        });
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
  });
}
