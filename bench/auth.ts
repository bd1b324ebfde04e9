/**
 * What authentication costs on the hottest path: manifest GET and HEAD by tag
 * against three unireg processes, one per auth.mode (none; basic with a cost-10
 * bcrypt user; token with one pull token fetched from /auth/token), same image,
 * same load; plus the token endpoint itself (GET /auth/token with Basic
 * credentials). No wrong password is ever sent, so the failed-login limiter
 * never counts anything. See docs/benchmarks.md ("Authentication overhead").
 *
 * Usage: node dist/bench/auth.js [--duration S] [--connections N] [--rounds N] [--warmup S] [--out FILE]
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { agent, request } from './client.js';
import { OCI_MANIFEST, pushImage, verifyManifest, type Image } from './image.js';
import type { LoadResult } from './load.js';
import { describe, loadPhase, log, settle } from './phases.js';
import { combine, emptyResults, machineFacts, reportDocument, type KindResults } from './report.js';
import { ROOT, startRegistry, stopRegistry, type Registry, type StartOptions } from './servers.js';

const MODES = ['none', 'basic', 'token'] as const;
type Mode = (typeof MODES)[number];

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    out: { type: 'string', default: join(ROOT, 'docs/benchmarks-auth-latest.md') },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    'usage: node dist/bench/auth.js [--duration 10] [--connections 64] [--rounds 3] [--warmup 2]\n' +
      '  [--out docs/benchmarks-auth-latest.md]\n' +
      'Manifest GET/HEAD by tag with auth.mode none, basic and token, and GET /auth/token. See docs/benchmarks.md.\n',
  );
  process.exit(0);
}

function num(name: 'duration' | 'connections' | 'rounds' | 'warmup', min: number): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}`);
  return v;
}

const seconds = num('duration', 1);
const connections = num('connections', 1);
const rounds = num('rounds', 1);
const warmup = num('warmup', 0);

const REPO = 'bench/image';
const TAG = 'v1';
const USER = 'bench';
const SERVICE = 'unireg';
const BCRYPT_COST = 10;

/** Load runs per round: GET and HEAD in each mode, and the token endpoint. */
const RUNS_PER_ROUND = MODES.length * 2 + 1;
/** Access tokens must outlive the whole run: the one token is fetched once, before the first round. */
const TOKEN_EXPIRY_S = Math.ceil(rounds * RUNS_PER_ROUND * (seconds + warmup + 2) * 2) + 600;

interface Setup {
  mode: Mode;
  reg: Registry;
  /** Authorization for the measured requests (none in mode none). */
  pull: Record<string, string>;
  image: Image;
}

const basicHeader = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** GET /auth/token for `scope` with Basic credentials; checks what the token carries and how long it lasts. */
async function fetchToken(base: string, basic: string, actions: string[]): Promise<string> {
  const scope = `repository:${REPO}:${actions.join(',')}`;
  const url = `${base}/auth/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`;
  const res = await request('GET', url, { headers: { Authorization: basic }, expect: [200] });
  const body = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
  const token = body.access_token ?? body.token;
  if (!token) throw new Error(`GET ${url}: no token in ${res.body.toString('utf8').slice(0, 300)}`);
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sub?: string;
    exp?: number;
    access?: { type: string; name: string; actions: string[] }[];
  };
  const granted = claims.access?.find((a) => a.type === 'repository' && a.name === REPO)?.actions ?? [];
  if (claims.sub !== USER || actions.some((a) => !granted.includes(a))) {
    throw new Error(`GET ${url}: token for ${claims.sub} carries ${JSON.stringify(claims.access)}, expected ${scope}`);
  }
  const left = (claims.exp ?? 0) - Date.now() / 1000;
  if (left < TOKEN_EXPIRY_S - 60) throw new Error(`GET ${url}: token expires in ${left.toFixed(0)} s, expected ~${TOKEN_EXPIRY_S} s`);
  return token;
}

/** With auth on, the same manifest GET without credentials must be refused: the runs are not anonymous by mistake. */
async function checkRefusedAnonymously(base: string): Promise<void> {
  await request('GET', `${base}/v2/${REPO}/manifests/${TAG}`, { headers: { Accept: OCI_MANIFEST }, expect: [401] });
}

function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const usPerReq = (x: LoadResult | undefined) => (x && x.responses ? (x.serverCpu / x.responses) * 1e6 : undefined);

function ratio(x: number | undefined, base: number | undefined): string {
  if (x === undefined || base === undefined || !Number.isFinite(x) || !Number.isFinite(base) || base === 0) return '—';
  return `${(x / base).toFixed(2)}×`;
}

const bad = (x: LoadResult | undefined) =>
  x ? `${x.non2xx} / ${x.errors + x.timeouts}${x.mismatches ? ` / ${x.mismatches} bad bodies` : ''}` : '—';

function table(results: Record<Mode, KindResults>, tokenEndpoint: KindResults): string {
  const lines = [
    '| Request | auth.mode | req/s | req/s vs none | p50 (ms) | p99 (ms) | p99 vs none | max (ms) | server CPU per request (µs) | CPU vs none | non-2xx / socket errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const key of ['get', 'head'] as const) {
    const none = combine(results.none[key]);
    for (const mode of MODES) {
      const x = combine(results[mode][key]);
      const label = `Manifest ${key.toUpperCase()} by tag`;
      lines.push(
        `| ${label} | ${mode} | ${fmt(x?.rps)} | ${ratio(x?.rps, none?.rps)} | ${fmt(x?.p50, 2)} | ${fmt(x?.p99, 2)} | ` +
          `${ratio(x?.p99, none?.p99)} | ${fmt(x?.max, 1)} | ${fmt(usPerReq(x))} | ${ratio(usPerReq(x), usPerReq(none))} | ${bad(x)} |`,
      );
    }
  }
  const t = combine(tokenEndpoint.get);
  lines.push(
    `| GET /auth/token (Basic; signs a new token each time) | token | ${fmt(t?.rps)} | — | ${fmt(t?.p50, 2)} | ${fmt(t?.p99, 2)} | — | ` +
      `${fmt(t?.max, 1)} | ${fmt(usPerReq(t))} | — | ${bad(t)} |`,
  );
  return lines.join('\n');
}

function details(results: Record<Mode, KindResults>, tokenEndpoint: KindResults): string {
  const out: string[] = [];
  const line = (what: string, x: LoadResult, round: number) =>
    `- ${what}, round ${round + 1}: ${x.rps.toFixed(0)} req/s, ${x.responses} responses in ${x.seconds.toFixed(1)} s, ` +
    `status ${JSON.stringify(x.codes)}, p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} / max ${x.max.toFixed(1)} ms, ` +
    `CPU server ${x.serverCpu.toFixed(2)} s (${fmt(usPerReq(x))} µs per request), client ${x.clientCpu.toFixed(2)} s`;
  for (const key of ['get', 'head'] as const) {
    for (const mode of MODES) results[mode][key].forEach((x, i) => out.push(line(`${key.toUpperCase()} manifest, ${mode}`, x, i)));
  }
  tokenEndpoint.get.forEach((x, i) => out.push(line('GET /auth/token', x, i)));
  return out.join('\n');
}

async function main(): Promise<void> {
  const facts = machineFacts('/nonexistent')
    .split('\n')
    .filter((l) => !l.startsWith('- Distribution:'))
    .join('\n')
    .replace('client and both servers share them', 'the client and the three unireg processes share them')
    .replace('Storage for both registries', 'Storage of the three unireg processes');
  const started = new Date();
  log(
    `auth modes ${MODES.join(', ')}: ${rounds} round(s), ${seconds} s per run after ${warmup} s warm-up, ` +
      `${connections} connections; token expiry ${TOKEN_EXPIRY_S} s`,
  );

  const password = randomBytes(18).toString('base64url');
  const hash = bcrypt.hashSync(password, BCRYPT_COST);
  const basic = basicHeader(USER, password);
  const users = { [USER]: hash };
  const options: Record<Mode, StartOptions> = {
    none: {},
    basic: { auth: true, configYaml: stringify({ auth: { mode: 'basic', users } }) },
    token: {
      auth: true,
      configYaml: stringify({ auth: { mode: 'token', users, token: { service: SERVICE, expiry: `${TOKEN_EXPIRY_S}s` } } }),
    },
  };

  const results = { none: emptyResults(), basic: emptyResults(), token: emptyResults() } as Record<Mode, KindResults>;
  const tokenEndpoint = emptyResults();
  const failures: string[] = [];
  const regs: Registry[] = [];
  process.once('SIGINT', () => {
    log('interrupted: stopping the registries');
    Promise.all(regs.map((r) => stopRegistry(r, { graceMs: 3000 }))).finally(() => process.exit(130));
  });

  const setups: Setup[] = [];
  try {
    for (const mode of MODES) {
      const reg = await startRegistry('unireg', options[mode]);
      regs.push(reg);
      log(`unireg auth.mode=${mode} up at ${reg.base} (pid ${reg.pid}, dir ${reg.dir})`);
      let push: Record<string, string> = {};
      let pull: Record<string, string> = {};
      if (mode === 'basic') push = pull = { Authorization: basic };
      if (mode === 'token') {
        push = { Authorization: `Bearer ${await fetchToken(reg.base, basic, ['pull', 'push'])}` };
        pull = { Authorization: `Bearer ${await fetchToken(reg.base, basic, ['pull'])}` };
      }
      const image = await pushImage(reg.base, REPO, TAG, push);
      // Once more with the measured credentials: the password check (basic) or the token check
      // (token) is now cached, as it is for a client that keeps pulling.
      await verifyManifest(reg.base, REPO, TAG, image.manifest, pull);
      if (mode !== 'none') await checkRefusedAnonymously(reg.base);
      setups.push({ mode, reg, pull, image });
    }
    const tokenReg = setups.find((s) => s.mode === 'token')!.reg;
    const tokenUrl = `${tokenReg.base}/auth/token?service=${SERVICE}&scope=${encodeURIComponent(`repository:${REPO}:pull`)}`;
    await settle();

    for (let round = 0; round < rounds; round++) {
      // Rotate which mode goes first, so that drift on a shared machine does not always hit the same one.
      const order = setups.map((_, i) => setups[(i + round) % setups.length]!);
      for (const method of ['GET', 'HEAD'] as const) {
        for (const s of order) {
          log(`round ${round + 1}/${rounds}: ${method} manifest, auth.mode=${s.mode}`);
          await loadPhase(s.reg, results[s.mode], method === 'GET' ? 'get' : 'head', warmup, {
            url: `${s.reg.base}/v2/${REPO}/manifests/${TAG}`,
            method,
            headers: { ...s.pull, Accept: OCI_MANIFEST },
            connections,
            seconds,
            pid: s.reg.pid,
            ...(method === 'GET' ? { expectBody: s.image.manifest.toString('utf8') } : {}),
          });
        }
      }
      log(`round ${round + 1}/${rounds}: GET /auth/token`);
      await loadPhase(tokenReg, tokenEndpoint, 'get', warmup, {
        url: tokenUrl,
        method: 'GET',
        headers: { Authorization: basic },
        connections,
        seconds,
        pid: tokenReg.pid,
      });
    }

    for (const s of setups) {
      try {
        await verifyManifest(s.reg.base, REPO, TAG, s.image.manifest, s.pull);
      } catch (err) {
        results[s.mode].failures.push(`after the load runs: ${describe(err)}`);
      }
    }
  } finally {
    agent.destroy();
    for (const reg of regs) {
      await stopRegistry(reg).catch((err: unknown) => log(`stopping pid ${reg.pid}: ${describe(err)}`));
    }
  }

  for (const mode of MODES) for (const f of results[mode].failures) failures.push(`auth.mode=${mode}: ${f}`);
  for (const f of tokenEndpoint.failures) failures.push(`GET /auth/token: ${f}`);

  const tbl = table(results, tokenEndpoint);
  const det = details(results, tokenEndpoint);
  process.stdout.write(`\n${tbl}\n\n${det}\n`);
  const doc = reportDocument({
    title: 'Benchmark: authentication overhead, latest run',
    generated:
      `Generated by \`npm run bench:auth\` (bench/auth.ts) on ${started.toISOString()}; see the section ` +
      '"Authentication overhead" in docs/benchmarks.md for what each figure means.',
    settings:
      `Settings: three unireg processes (auth.mode none; basic with one cost-${BCRYPT_COST} bcrypt user from auth.users; ` +
      `token with unireg as issuer, one pull token for repository:${REPO}:pull fetched once, expiry ${TOKEN_EXPIRY_S} s), ` +
      `the same image in each; ${rounds} round(s), modes rotating, medians shown (CPU per request: total over the rounds); ` +
      `${seconds} s per run at ${connections} connections, no pipelining, ${warmup} s warm-up before each. ` +
      `Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    facts,
    table: tbl,
    detailsTitle: 'Per round',
    details: det,
    failures,
  });
  writeFileSync(args.out!, doc);
  log(`wrote ${args.out}`);
  if (failures.length) {
    process.stderr.write(`\nbench:auth FAILED: ${failures.length} failure(s); every run must answer 2xx only:\n`);
    for (const f of failures) process.stderr.write(`  - ${f}\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:auth FAILED: ${describe(err)}\n`);
  process.exit(1);
});
