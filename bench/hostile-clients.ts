/**
 * The hostile clients of `npm run bench:hostile`, on node:http, loopback only:
 * slow manifest PUTs (a large body trickled in slices), stalled PATCHes (a head
 * and a few bytes, then nothing), wrong-password floods from a chosen source
 * address; the measured client (sequential pulls) runs on its own thread.
 */
import http from 'node:http';
import { Worker } from 'node:worker_threads';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** No keep-alive, no socket limit: every hostile request has its own connection. */
export const hostileAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

export interface Outcome {
  /** HTTP status, 'closed' when the server closed the connection without an answer, 'still open' when it never did. */
  status: number | 'closed' | 'still open';
}

/** Sends `body` in `slice`-byte pieces every `everyMs`, stopping as soon as the server answers. */
export function slowPut(url: string, headers: Record<string, string | number>, body: Buffer, slice: number, everyMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const u = new URL(url);
    let answered = false;
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'PUT', headers: { ...headers, 'Content-Length': body.length }, agent: hostileAgent },
      (res) => {
        answered = true;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', () => {
      if (!answered) resolve({ status: 'closed' });
    });
    void (async () => {
      for (let at = 0; at < body.length && !answered && !req.destroyed; at += slice) {
        req.write(body.subarray(at, at + slice));
        await sleep(everyMs);
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

export interface Stalled {
  /** Resolves when the server closes the connection (or answers), with the time it did, ms since epoch. */
  ended: Promise<{ at: number; outcome: Outcome }>;
  abort(): void;
}

/** A PATCH that announces `length` bytes, sends `first` of them, and then nothing. */
export function stalledPatch(url: string, length: number, first: number): Stalled {
  const u = new URL(url);
  let abort = () => {};
  const ended = new Promise<{ at: number; outcome: Outcome }>((resolve) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': length },
      agent: hostileAgent,
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ at: Date.now(), outcome: { status: res.statusCode ?? 0 } });
    });
    req.on('error', () => resolve({ at: Date.now(), outcome: { status: 'closed' } }));
    req.write(Buffer.alloc(first, 7));
    abort = () => req.destroy();
  });
  return { ended, abort: () => abort() };
}

/** One request with a body-less answer kept short; resolves with the status. */
export function simple(url: string, method: string, headers: Record<string, string>, localAddress?: string, agent: http.Agent = hostileAgent): Promise<number> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

export interface PullLoop {
  /** Stops and returns the latencies (ms), when each ended (ms since epoch), and how many were not 200. */
  stop(): Promise<{ latencies: number[]; at: number[]; failures: number }>;
}

/** Sequential GETs of `url` on one keep-alive connection, on a thread of their own (./pull-worker.ts). */
export function pullLoop(url: string, headers: Record<string, string> = {}): PullLoop {
  const worker = new Worker(new URL('./pull-worker.js', import.meta.url), { workerData: { url, headers } });
  const result = new Promise<{ latencies: number[]; at: number[]; failures: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const r = await result;
      await worker.terminate();
      return r;
    },
  };
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
