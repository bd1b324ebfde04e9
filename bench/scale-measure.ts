/** The measurements of `npm run bench:scale` against one running, seeded registry. */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobData, request } from './client.js';
import { runLoad, type LoadResult } from './load.js';
import { procStatusMiB, sampleRss, type Registry } from './servers.js';

export interface Walk {
  pages: number;
  items: number;
  seconds: number;
  /** Milliseconds per page, in order. */
  pageMs: number[];
  /** Highest VmRSS of the server during the walk (MiB). */
  maxRssMib: number;
  /** With `walkRounds`: every round's whole time in order (the first is the cold one); the rest of the figures are the median round's. */
  roundSeconds?: number[];
  /** With `walkRounds`: every round's p99 of the last tenth of its pages over the first tenth's, in order. */
  roundFlatness?: number[];
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** First and last tenth of the pages (at least one page each): p50 and p99 of each. */
export function firstLast(pageMs: number[]): { firstP50: number; firstP99: number; lastP50: number; lastP99: number } {
  const k = Math.max(1, Math.floor(pageMs.length / 10));
  const first = pageMs.slice(0, k);
  const last = pageMs.slice(-k);
  return { firstP50: percentile(first, 50), firstP99: percentile(first, 99), lastP50: percentile(last, 50), lastP99: percentile(last, 99) };
}

/** The p99 of the last tenth of the pages over the first tenth's (1: as fast at the end as at the start). */
export function flatness(pageMs: number[]): number {
  const fl = firstLast(pageMs);
  return fl.lastP99 / fl.firstP99;
}

/** Follows Link rel="next" from `path` to the end, timing each page; `field` is the array in the body. */
export async function walk(reg: Registry, path: string, field: 'repositories' | 'tags'): Promise<Walk> {
  const rss = sampleRss(reg.pid, 50);
  const pageMs: number[] = [];
  let items = 0;
  let next: string | undefined = `${reg.base}${path}`;
  const t0 = performance.now();
  while (next !== undefined) {
    const t = performance.now();
    const res = await request('GET', next, { expect: [200] });
    pageMs.push(performance.now() - t);
    const body = JSON.parse(res.body.toString('utf8')) as Record<string, string[] | null>;
    items += body[field]?.length ?? 0;
    const link = res.headers.link;
    const m = typeof link === 'string' ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
    next = m ? new URL(m[1]!, reg.base).toString() : undefined;
  }
  return { pages: pageMs.length, items, seconds: (performance.now() - t0) / 1000, pageMs, maxRssMib: rss.stop() };
}

/** Walks per figure (the issue asks for medians of at least 3). */
export const WALK_ROUNDS = 3;

/**
 * `rounds` walks one after the other: the median one (by whole time), with the seconds of
 * every round (the first, right after start-up, is the cold one) and the highest VmRSS of all.
 */
export async function walkRounds(reg: Registry, path: string, field: 'repositories' | 'tags', rounds = WALK_ROUNDS): Promise<Walk> {
  const all: Walk[] = [];
  for (let r = 0; r < rounds; r++) all.push(await walk(reg, path, field));
  const median = [...all].sort((a, b) => a.seconds - b.seconds)[Math.floor((all.length - 1) / 2)]!;
  return {
    ...median,
    roundSeconds: all.map((w) => w.seconds),
    roundFlatness: all.map((w) => flatness(w.pageMs)),
    maxRssMib: Math.max(...all.map((w) => w.maxRssMib)),
  };
}

/**
 * Seconds for `count` GETs of `path` one after the other on a kept-alive connection, the way a walk sends its
 * pages (median of `rounds`). With Distribution's `/v2/`, its cheapest request, this is the least any walk of
 * `count` pages could take against it: the floor under the tags/list target.
 */
export async function roundTrips(reg: Registry, path: string, count: number, rounds = WALK_ROUNDS): Promise<number> {
  const all: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let k = 0; k < count; k++) await request('GET', `${reg.base}${path}`, { expect: [200] });
    all.push((performance.now() - t0) / 1000);
  }
  return percentile(all, 50);
}

/** curl's time_total (ms) of one GET of `url` (a process of its own, no keep-alive); checks 200. */
async function curlOnce(url: string): Promise<number> {
  const out = await new Promise<string>((ok, fail) =>
    execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', url], (err, stdout) => (err ? fail(err) : ok(stdout))),
  );
  const [code, secs] = out.trim().split(' ');
  if (code !== '200') throw new Error(`curl ${url}: ${code}`);
  return Number(secs) * 1000;
}

/** Median ms of one page: the bench's client on a fresh connection, on a kept-alive one, and curl. */
export interface PageTimes {
  fresh: number;
  kept: number;
  curl: number;
}

/**
 * One page timed `count` times each way: the bench's client on a fresh connection (as curl), on a kept-alive one,
 * and curl. The three alternate, the order rotating every round, after 3 discarded rounds: measured one after
 * the other, whichever went first met a server (and a client) not yet warmed up, and came out slower.
 */
export async function pageTimes(url: string, count = 15): Promise<PageTimes> {
  const { Agent } = await import('node:http');
  const clientOnce = async (agent?: InstanceType<typeof Agent>): Promise<number> => {
    const t = performance.now();
    await request('GET', url, { expect: [200], ...(agent ? { agent } : {}) });
    return performance.now() - t;
  };
  const ways: (() => Promise<number>)[] = [() => clientOnce(new Agent({ keepAlive: false })), () => clientOnce(), () => curlOnce(url)];
  const times: number[][] = [[], [], []];
  for (let round = -3; round < count; round++) {
    for (let j = 0; j < ways.length; j++) {
      const w = (j + Math.max(round, 0)) % ways.length;
      const ms = await ways[w]!();
      if (round >= 0) times[w]!.push(ms);
    }
  }
  return { fresh: percentile(times[0]!, 50), kept: percentile(times[1]!, 50), curl: percentile(times[2]!, 50) };
}

export interface Startup {
  readyMs: number;
  rssAtReadyMib: number;
  /** VmRSS 3 s after the first answer (background start-up work done). */
  rssAfter3sMib: number;
}

export async function startupFigures(reg: Registry): Promise<Startup> {
  const rssAtReadyMib = procStatusMiB(reg.pid, 'VmRSS');
  await new Promise((ok) => setTimeout(ok, 3000));
  return { readyMs: reg.readyMs, rssAtReadyMib, rssAfter3sMib: procStatusMiB(reg.pid, 'VmRSS') };
}

export function manifestLoad(reg: Registry, repo: string, tag: string, seconds: number, connections = 64): Promise<LoadResult> {
  return runLoad({
    url: `${reg.base}/v2/${repo}/manifests/${tag}`,
    method: 'GET',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    connections,
    seconds,
    pid: reg.pid,
  });
}

export function tagsLoad(reg: Registry, repo: string, seconds: number, connections = 64): Promise<LoadResult> {
  return runLoad({ url: `${reg.base}/v2/${repo}/tags/list?n=1000`, method: 'GET', connections, seconds, pid: reg.pid });
}

export interface UnderPush {
  load: LoadResult;
  pushes: number;
  pushedMiB: number;
}

/** One writer's blob on disk, for curl to stream: each push rewrites its last 16 bytes (a new digest). */
export interface PushFile {
  data: BlobData;
  path: string;
}

/** Writes the blob's bytes to `dir/name`: a file curl can send. */
export function pushFile(data: BlobData, dir: string, name: string): PushFile {
  const path = join(dir, name);
  writeFileSync(path, data.buf);
  return { data, path };
}

export function pushFiles(blobs: BlobData[], dir: string): PushFile[] {
  return blobs.map((data, w) => pushFile(data, dir, `push-${w}.bin`));
}

/**
 * Manifest GET load while one curl process per file pushes it back to back for the whole run.
 * The pushes are driven from a process of their own (./push-driver.ts), not from this one:
 * spawning curl forks the spawning process, and a load generator holding the push blobs
 * (hundreds of MiB) stalled its own event loop in every fork, which doubled the p99 it
 * measured under pushes (docs/benchmarks.md, "At scale").
 */
export async function manifestLoadUnderPush(
  reg: Registry,
  repo: string,
  tag: string,
  seconds: number,
  files: PushFile[],
): Promise<UnderPush> {
  const driver = spawn(process.execPath, [fileURLToPath(new URL('./push-driver.js', import.meta.url)), reg.base, ...files.map((f) => f.path)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  driver.stdout.setEncoding('utf8');
  const ready = new Promise<void>((ok, fail) => {
    driver.stdout.on('data', (text: string) => {
      out += text;
      if (out.includes('ready\n')) ok();
    });
    driver.once('exit', (code) => fail(new Error(`push driver exited (${code}) before it was ready: ${out}`)));
  });
  const exited = new Promise<number | null>((ok) => driver.once('exit', ok));
  try {
    await ready;
    // Let the pushes get going before the load starts.
    await new Promise((ok) => setTimeout(ok, 500));
    const load = await manifestLoad(reg, repo, tag, seconds);
    driver.stdin.end();
    const code = await exited;
    const m = /pushes (\d+)/.exec(out);
    if (code !== 0 || !m) throw new Error(`push driver exited (${code}): ${out}`);
    const pushes = Number(m[1]);
    return { load, pushes, pushedMiB: (pushes * (files[0]?.data.size ?? 0)) / (1 << 20) };
  } finally {
    if (driver.exitCode === null) driver.kill();
  }
}

/** Manifest GET at two sizes of one registry, measured in alternation (./scale.ts, `interleaved`). */
export interface Interleaved {
  small: { repos: number; rounds: LoadResult[] };
  large: { repos: number; rounds: LoadResult[] };
}

/** A registry started on one size's seeded data, with the manifest to load; stop() ends it. */
export interface SizeServer {
  reg: Registry;
  repo: string;
  tag: string;
  stop(): Promise<void>;
}

/**
 * Manifest GET load against two sizes in turn, `rounds` times, each round on a newly started
 * pair of servers, the order swapped every round (small, large; large, small; ...). The sizes
 * are measured minutes apart in the main sequence, and on a shared VM the req/s of one registry
 * drifts by more than 10% over minutes; and one process can be 25-35% faster or slower than
 * another on the same data for its whole life (where its memory landed on the host, presumably),
 * so each round starts both anew.
 */
export async function interleavedManifest(
  small: { repos: number; start: () => Promise<SizeServer> },
  large: { repos: number; start: () => Promise<SizeServer> },
  seconds: number,
  rounds = 8,
): Promise<Interleaved> {
  const out: Interleaved = { small: { repos: small.repos, rounds: [] }, large: { repos: large.repos, rounds: [] } };
  for (let r = 0; r < rounds; r++) {
    const servers: Partial<Record<'small' | 'large', SizeServer>> = {};
    try {
      servers.small = await small.start();
      servers.large = await large.start();
      for (const s of [servers.small, servers.large]) await manifestLoad(s.reg, s.repo, s.tag, 1);
      const order = r % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const);
      for (const which of order) {
        const s = servers[which]!;
        out[which].rounds.push(await manifestLoad(s.reg, s.repo, s.tag, seconds));
      }
    } finally {
      for (const s of [servers.small, servers.large]) await s?.stop();
    }
  }
  return out;
}
