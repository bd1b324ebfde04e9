/**
 * Starting, watching and stopping the two registries under test: unireg
 * (`node dist/src/cli.js serve`) and CNCF Distribution (`docker-registry serve`),
 * each on a free loopback port with a fresh temporary storage directory.
 * unireg can be given a config file and extra UNIREG_* variables (bench/auth.ts
 * uses them to turn authentication on).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `floor`: bench/floor-server.ts, the bare-Node upload floor (uploads only). */
export type RegistryKind = 'unireg' | 'distribution' | 'floor';

export interface Registry {
  kind: RegistryKind;
  /** `http://127.0.0.1:PORT` */
  base: string;
  pid: number;
  dir: string;
  logFile: string;
  child: ChildProcess;
  /** Milliseconds from spawning the process to its first answer to GET /v2/ (polled every 10 ms). */
  readyMs: number;
}

export interface StartOptions {
  /** Extra node flags for unireg, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  nodeFlags?: string[];
  distributionBin?: string;
  /** unireg only: YAML written to `unireg.yaml` in the temp dir and passed with `--config`. */
  configYaml?: string;
  /** unireg only: extra environment variables, applied last (they may override UNIREG_HTTP_ADDR, _STORAGE_ROOT, _LOG_LEVEL). */
  env?: Record<string, string>;
  /** unireg only: another build's `dist/src/cli.js` (bench/tracing.ts compares with a baseline checkout). */
  cli?: string;
  /** Authentication is on: readiness then expects 401 (not 200) on an anonymous GET /v2/. */
  auth?: boolean;
  /** An existing directory (from an earlier run, `storage/` inside) instead of a fresh temporary one: start-up on seeded data. */
  dir?: string;
  /** distribution only: its `storage:` driver entry as a YAML flow mapping body (default: filesystem in the temp dir). */
  distributionStorage?: string;
  /** distribution only: run it as a pull-through cache of this registry URL (its `proxy.remoteurl`). */
  distributionProxy?: string;
}

/** The repository root, seen from dist/bench/servers.js. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** The status of a GET without keep-alive (node:http: no lazy loading on the first call, unlike fetch). */
function getStatus(url: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode ?? 0));
    });
    req.on('error', fail);
  });
}

async function waitReady(reg: Registry, expect: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (reg.child.exitCode !== null || reg.child.signalCode !== null) break;
    try {
      const status = await getStatus(`${reg.base}/v2/`);
      if (status === expect) return;
      last = `status ${status}`;
    } catch (err) {
      last = String((err as Error).cause ?? err);
    }
    await sleep(10);
  }
  let log = '';
  try {
    log = readFileSync(reg.logFile, 'utf8').slice(-2000);
  } catch {
    /* no log */
  }
  throw new Error(`${reg.kind} did not answer GET /v2/ with ${expect} (${last}); exit=${reg.child.exitCode}\n${log}`);
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('UNIREG_')) env[k] = v;
  return env;
}

export async function startRegistry(kind: RegistryKind, opts: StartOptions = {}): Promise<Registry> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `unireg-bench-${kind}-`));
  const storage = join(dir, 'storage');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  const spawnedAt = performance.now();
  try {
    if (kind === 'unireg') {
      const cli = opts.cli ?? join(ROOT, 'dist/src/cli.js');
      const serveArgs = ['serve'];
      if (opts.configYaml !== undefined) {
        const config = join(dir, 'unireg.yaml');
        writeFileSync(config, opts.configYaml, { mode: 0o600 });
        serveArgs.push('--config', config);
      }
      child = spawn(process.execPath, [...(opts.nodeFlags ?? []), cli, ...serveArgs], {
        cwd: dir,
        env: {
          ...cleanEnv(),
          UNIREG_HTTP_ADDR: addr,
          UNIREG_STORAGE_ROOT: storage,
          UNIREG_LOG_LEVEL: 'info',
          // As the launchers start it (npm start, deploy/Dockerfile, deploy/unireg.service).
          MALLOC_TRIM_THRESHOLD_: '268435456',
          MALLOC_ARENA_MAX: '2',
          UV_USE_IO_URING: '0',
          NODE_OPTIONS: '--max-semi-space-size=2',
          ...(opts.env ?? {}),
        },
        stdio: ['ignore', out, out],
      });
    } else if (kind === 'floor') {
      mkdirSync(storage, { recursive: true });
      child = spawn(process.execPath, [join(ROOT, 'dist/bench/floor-server.js'), addr, storage], {
        cwd: dir,
        env: cleanEnv(),
        stdio: ['ignore', out, out],
      });
    } else {
      const config = join(dir, 'config.yml');
      writeFileSync(
        config,
        [
          'version: 0.1',
          'log: {level: warn, accesslog: {disabled: true}}',
          `storage: {${opts.distributionStorage ?? `filesystem: {rootdirectory: ${storage}}`}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}`,
          `http: {addr: ${addr}, secret: local-secret}`,
          ...(opts.distributionProxy === undefined ? [] : [`proxy: {remoteurl: ${opts.distributionProxy}}`]),
          '',
        ].join('\n'),
      );
      // Its s3 driver (aws-sdk-go) panics at start-up on AWS_CA_BUNDLE ("LoadCustomCABundleError: unable to
      // load custom CA bundle, HTTPClient's transport unsupported type"); radosgw here is plain HTTP anyway.
      const { AWS_CA_BUNDLE: _caBundle, ...env } = cleanEnv();
      child = spawn(opts.distributionBin ?? '/usr/bin/docker-registry', ['serve', config], {
        cwd: dir,
        env,
        stdio: ['ignore', out, out],
      });
    }
  } finally {
    closeSync(out);
  }
  const spawnError = new Promise<never>((_, fail) => child.once('error', fail));
  if (child.pid === undefined) await spawnError;
  const reg: Registry = { kind, base: `http://${addr}`, pid: child.pid!, dir, logFile, child, readyMs: NaN };
  try {
    await Promise.race([waitReady(reg, kind === 'unireg' && opts.auth ? 401 : 200), spawnError]);
    reg.readyMs = performance.now() - spawnedAt;
  } catch (err) {
    await stopRegistry(reg, { keepDir: true });
    throw err;
  }
  return reg;
}

/** SIGTERM by PID, SIGKILL after a grace period; then removes the temp dir. */
export async function stopRegistry(reg: Registry, opts: { keepDir?: boolean; graceMs?: number } = {}): Promise<void> {
  const { child } = reg;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
    process.kill(reg.pid, 'SIGTERM');
    const timer = sleep(opts.graceMs ?? 15_000).then(() => 'timeout' as const);
    if ((await Promise.race([exited, timer])) === 'timeout') {
      process.kill(reg.pid, 'SIGKILL');
      await exited;
    }
  }
  if (!opts.keepDir) rmSync(reg.dir, { recursive: true, force: true });
}

/** Fields of /proc/<pid>/status in KiB (VmRSS, VmHWM, ...). */
export function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resident MiB of the process's mappings of files whose name ends with `suffix` (/proc/<pid>/smaps); NaN when the process is gone. */
export function mappedResidentMiB(pid: number, suffix: string): number {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return NaN;
  }
  let kib = 0;
  let counted = false;
  for (const line of smaps.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) counted = line.endsWith(suffix);
    else if (counted && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  return kib / 1024;
}

/** A /proc/<pid>/status size field in MiB; NaN when the process or the field is gone. */
export function procStatusMiB(pid: number, field: string): number {
  return (procStatusKiB(pid, field) ?? NaN) / 1024;
}

/** The machine's CPU time so far (/proc/stat, all CPUs): total and stolen by the hypervisor, in ticks. */
export interface CpuTicks {
  total: number;
  steal: number;
}

export function cpuTicks(): CpuTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/** The share of CPU time the hypervisor took since `from` (%): a noisy neighbour shows here, not in the load average. */
export function stealPercentSince(from: CpuTicks | undefined): number {
  const now = cpuTicks();
  if (!from || !now || now.total === from.total) return NaN;
  return (100 * (now.steal - from.steal)) / (now.total - from.total);
}

/** Fields of /proc/<pid>/stat after "(comm) ": index 0 is field 3 (state) of proc(5). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds the process (all threads) has used so far: utime + stime, in clock ticks of 1/100 s. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / 100 : NaN;
}

/** User and system CPU seconds so far, apart (utime, stime). */
export function cpuSplit(pid: number): { user: number; sys: number } {
  const f = statFields(pid);
  return f ? { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 } : { user: NaN, sys: NaN };
}

/** Minor page faults of the process so far (minflt, field 10). */
export function minorFaults(pid: number): number {
  const f = statFields(pid);
  return f ? Number(f[7]) : NaN;
}

/** Polls VmRSS every `everyMs` until stopped; returns the maximum seen, in MiB. */
export function sampleRss(pid: number, everyMs = 100): { stop(): number } {
  let max = procStatusKiB(pid, 'VmRSS') ?? 0;
  const timer = setInterval(() => {
    const v = procStatusKiB(pid, 'VmRSS');
    if (v !== undefined && v > max) max = v;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const v = procStatusKiB(pid, 'VmRSS');
      if (v !== undefined && v > max) max = v;
      return max / 1024;
    },
  };
}
