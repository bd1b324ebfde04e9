/**
 * External tools for end-to-end tests (skopeo, podman, buildah, dockerd, ...).
 *
 * The rule: a test that needs a tool which is missing is **skipped with a printed
 * reason** on a developer machine, and **fails** under CI (`CI=true`, `1`, `yes`
 * or `on`: the CI machine installs everything, see `.ci/run`, so a missing tool
 * there is a broken setup, not something to skip silently).
 *
 * Every tool a test runs is named in TEST_TOOLS with the Debian package that
 * provides it; `requireTool`/`gateFor` accept only those names, and a unit test
 * (test/unit/ci-tools.test.ts) checks that `.ci/run` installs each package and
 * checks for each tool after the install.
 *
 * Child processes run asynchronously (spawn, never execSync): the registry under
 * test listens in this same process and must keep serving while a client runs.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Executables the tests run, each with the Debian package that provides it.
 * `.ci/run` must install every package listed here and check for every tool
 * (test/unit/ci-tools.test.ts keeps the two in step).
 */
export const TEST_TOOLS = {
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  dockerd: 'docker.io',
  docker: 'docker.io',
  ctr: 'containerd',
  /** CNCF Distribution: a real upstream of the pull-through cache tests (test/proxy/), and `npm run bench`. */
  'docker-registry': 'docker-registry',
  'docker-compose': 'docker-compose',
  /** `kubectl kustomize` renders deploy/kubernetes/ offline (test/unit/kubernetes.test.ts). */
  kubectl: 'kubernetes-client',
  openssl: 'openssl',
  curl: 'curl',
  /** GNU tar, for the layer byte cross-check. */
  tar: 'tar',
  /** The README's Try-it block and test/fixtures/multiboot/build.sh. */
  bash: 'bash',
  sha256sum: 'coreutils',
  /** The GC client test reports disk usage before and after. */
  du: 'coreutils',
  /** removeScratch lazily unmounts what a daemon left behind. */
  umount: 'mount',
  /** Storage-failure tests mount a small tmpfs or a read-only bind mount (on main: test/e2e/disk-full.test.ts). */
  mount: 'mount',
  /** The read-only-root test (test/e2e/read-only-root.test.ts) runs unireg in its own mount namespace. */
  unshare: 'util-linux',
  touch: 'coreutils',
  /** verify's progress bar needs a terminal: script(1) gives it one. */
  script: 'bsdutils',
  /** layer.test.ts builds the reference tar with a shell one-liner. */
  sh: 'dash',
  as: 'binutils',
  ld: 'binutils',
  'qemu-system-x86_64': 'qemu-system-x86',
  /** unireg's boot checks run QEMU through setpriv as an unprivileged user when unireg is root. */
  setpriv: 'util-linux',
  /** The web UI tests (test/ui/) drive it with puppeteer-core. */
  chromium: 'chromium',
  /**
   * PostgreSQL 15 for the metadata tests (test/engines/start-postgres.sh). initdb and pg_ctl live in
   * /usr/lib/postgresql/<version>/bin, not on PATH: which() looks there too, and .ci/run adds it to PATH.
   */
  initdb: 'postgresql',
  pg_ctl: 'postgresql',
  psql: 'postgresql',
  /** The round-robin balancer in front of the replica tests' unireg processes (test/helpers/replicas.ts). */
  nginx: 'nginx-light',
  /** test/engines/start-s3.sh: a one-node Ceph cluster with radosgw, the S3 server of the s3 blob driver's tests. */
  'ceph-mon': 'ceph-mon',
  'ceph-osd': 'ceph-osd',
  radosgw: 'radosgw',
  'radosgw-admin': 'ceph-common',
  ceph: 'ceph-common',
  monmaptool: 'ceph-base',
  'ceph-authtool': 'ceph-common',
} as const;

export type Tool = keyof typeof TEST_TOOLS;

/** Whether a CI variable's value means "on" (true, 1, yes, on; any case). */
export function truthy(value: string | undefined): boolean {
  return /^(true|1|yes|on)$/i.test((value ?? '').trim());
}

/** Under CI a missing tool fails the test instead of skipping it. */
export const inCI = truthy(process.env.CI);

/** Full path of an executable found on PATH (or in the sbin directories), else undefined. */
export async function which(name: string): Promise<string | undefined> {
  if (name.includes('/')) {
    return (await isExecutable(name)) ? name : undefined;
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  // dockerd lives in /usr/sbin, which a non-login PATH may lack; PostgreSQL's server tools in its versioned bin directory.
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin', ...(await postgresBinDirs())]) if (!dirs.includes(extra)) dirs.push(extra);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** /usr/lib/postgresql/<version>/bin of the installed versions, newest first (Debian keeps initdb/pg_ctl there). */
async function postgresBinDirs(): Promise<string[]> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  return versions
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => `/usr/lib/postgresql/${v}/bin`);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Requirements {
  /** Executables that must be on PATH. */
  tools?: readonly Tool[];
  /** The test needs uid 0 (podman/buildah/dockerd with private storage). */
  root?: boolean;
}

/**
 * Why a test cannot run here, or undefined when everything it needs is present.
 * The reason names every missing piece and how to get it.
 */
export async function missingReason(req: Requirements | readonly Tool[]): Promise<string | undefined> {
  const { tools = [], root = false }: Requirements = isToolList(req) ? { tools: req } : req;
  const problems: string[] = [];
  const missing: Tool[] = [];
  for (const tool of tools) if (!(await which(tool))) missing.push(tool);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((tool) => TEST_TOOLS[tool]))];
    problems.push(`missing tool(s): ${missing.join(', ')} (Debian: apt-get install ${packages.join(' ')}, or run .ci/run)`);
  }
  if (root && process.getuid?.() !== 0) problems.push('needs to run as root (uid 0)');
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function isToolList(req: Requirements | readonly Tool[]): req is readonly Tool[] {
  return Array.isArray(req);
}

/**
 * Skips the running test with `reason` (printed by the reporter and on stderr),
 * or fails it when CI=true. Use as `return skipOrFail(t, reason)`.
 */
export function skipOrFail(t: TestContext, reason: string): void {
  if (inCI) {
    throw new Error(`CI=${process.env.CI}, so this cannot be skipped: ${reason}`);
  }
  process.stderr.write(`# SKIP ${t.name}: ${reason}\n`);
  t.skip(reason);
}

/**
 * Inside a test: true when the requirements are met; otherwise skips (or, in CI,
 * fails) the test and returns false.
 *
 *     test('push', async (t) => { if (!(await requireTool(t, 'skopeo'))) return; ... });
 */
export async function requireTool(t: TestContext, ...tools: Tool[]): Promise<boolean> {
  return requireAll(t, { tools });
}

export async function requireAll(t: TestContext, req: Requirements): Promise<boolean> {
  const reason = await missingReason(req);
  if (reason === undefined) return true;
  skipOrFail(t, reason);
  return false;
}

/**
 * A gate for a whole test file, evaluated once: `gate.check(t)` at the top of
 * each test skips (or fails in CI) with the same reason, so a missing tool is
 * reported once per test and the file still runs its `after()` clean-up.
 */
export class Gate {
  private reason: string | undefined;
  constructor(reason?: string) {
    this.reason = reason;
  }
  /** Records a problem found later (e.g. a daemon that did not start); the first one wins. */
  block(reason: string): void {
    this.reason ??= reason;
  }
  get blocked(): string | undefined {
    return this.reason;
  }
  /** True when the test may run; otherwise skips it (fails it in CI) and returns false. */
  check(t: TestContext): boolean {
    if (this.reason === undefined) return true;
    skipOrFail(t, this.reason);
    return false;
  }
}

export async function gateFor(req: Requirements | readonly Tool[]): Promise<Gate> {
  return new Gate(await missingReason(req));
}

export interface RunOptions {
  /** Milliseconds before the child is killed (SIGTERM, then SIGKILL after 5 s). Default 120 s. */
  timeout?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
  /** Resolve instead of reject on a non-zero exit status. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command line, for messages. */
  command: string;
  ms: number;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/** A readable description of a finished command, for assertion messages. */
export function describeRun(r: RunResult): string {
  const status = r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
  return `$ ${r.command}\n(${status}, ${r.ms} ms)\n--- stderr ---\n${tail(r.stderr)}\n--- stdout ---\n${tail(r.stdout, 2000)}`;
}

export class CommandError extends Error {
  constructor(readonly result: RunResult, why: string) {
    super(`${why}\n${describeRun(result)}`);
    this.name = 'CommandError';
  }
}

/**
 * Runs a command asynchronously and collects its output. Rejects (with the command
 * line, exit status and stderr in the message) on a non-zero exit or a timeout.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeout = opts.timeout ?? 120_000;
  const command = [cmd, ...args].map(quote).join(' ');
  const started = Date.now();
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d;
    });
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    }, timeout);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      const result: RunResult = { code, signal, stdout, stderr, command, ms: Date.now() - started };
      if (timedOut) reject(new CommandError(result, `timed out after ${timeout} ms`));
      else if (code !== 0 && !opts.allowFailure) reject(new CommandError(result, 'command failed'));
      else resolve(result);
    });
    child.stdin!.on('error', () => {
      /* the child may exit without reading its input */
    });
    child.stdin!.end(opts.input);
  });
}

/** Polls `probe` until it returns true or `ms` pass; returns whether it succeeded. */
export async function waitFor(probe: () => Promise<boolean>, ms: number, every = 200): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await probe()) return true;
    } catch {
      /* not yet */
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Removes a scratch directory a client used (podman, buildah or dockerd state):
 * first lazily unmounts anything still mounted under it (a daemon killed hard can
 * leave overlay or shm mounts behind), then deletes it. Never throws.
 */
export async function removeScratch(dir: string | undefined): Promise<void> {
  if (!dir || dir === '/' || !dir.startsWith('/')) return;
  try {
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    const points = mountinfo
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
      .map((p) => p.replace(/\\040/g, ' '))
      .sort((a, b) => b.length - a.length);
    for (const point of points) await run('umount', ['-l', point], { timeout: 15_000, allowFailure: true });
  } catch {
    /* no /proc, or nothing mounted */
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: unknown) => {
    process.stderr.write(`# could not remove ${dir}: ${String(err)}\n`);
  });
}
