/** The results table (markdown), the machine facts and the generated docs/benchmarks-latest.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import type { LoadResult } from './load.js';
import type { RegistryKind } from './servers.js';

export interface Bulk {
  /** One figure per round. */
  mbps: number[];
  serverCpu: number[];
  clientCpu: number[];
  /** Minor page faults of the server during each round. */
  faults: number[];
  /** Highest VmRSS sampled during the phase, MiB. */
  rssMiB: number;
}

export interface KindResults {
  push: Bulk;
  chunked: Bulk;
  pull: Bulk;
  /** One result per round. */
  get: LoadResult[];
  head: LoadResult[];
  tags: LoadResult[];
  hwmMiB?: number;
  failures: string[];
}

export function emptyResults(): KindResults {
  const bulk = (): Bulk => ({ mbps: [], serverCpu: [], clientCpu: [], faults: [], rssMiB: 0 });
  return { push: bulk(), chunked: bulk(), pull: bulk(), get: [], head: [], tags: [], failures: [] };
}

/** Rounds combined: medians of rate and percentiles, sums of counts and CPU. */
export function combine(rs: LoadResult[]): LoadResult | undefined {
  if (rs.length === 0) return undefined;
  const sum = (f: (r: LoadResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  const codes: Record<string, number> = {};
  for (const r of rs) for (const [c, n] of Object.entries(r.codes)) codes[c] = (codes[c] ?? 0) + n;
  return {
    responses: sum((r) => r.responses),
    seconds: sum((r) => r.seconds),
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    max: Math.max(...rs.map((r) => r.max)),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    mismatches: sum((r) => r.mismatches),
    codes,
    serverCpu: sum((r) => r.serverCpu),
    clientCpu: sum((r) => r.clientCpu),
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

type Better = 'higher' | 'lower';

interface Row {
  label: string;
  u?: number;
  d?: number;
  digits: number;
  target?: { better: Better; factor: number; text: string };
  /** Shown instead of the numbers (e.g. a count summary). */
  text?: [string, string];
}

function ratioCell(row: Row): [string, string] {
  const { u, d, target } = row;
  if (u === undefined || d === undefined || !Number.isFinite(u) || !Number.isFinite(d) || d === 0) {
    return ['—', target ? target.text : ''];
  }
  const r = u / d;
  let verdict = '';
  if (target) {
    const met = target.better === 'higher' ? r >= target.factor : r < target.factor;
    verdict = `${target.text} ${met ? '✅' : '❌'}`;
  }
  return [`${r.toFixed(2)}×`, verdict];
}

export function sizeLabel(sizeMib: number): string {
  return sizeMib % 1024 === 0 ? `${sizeMib / 1024} GiB` : `${sizeMib} MiB`;
}

export function table(results: Partial<Record<RegistryKind, KindResults>>, opts: {
  sizeMib: number;
  connections: number;
  tagConnections: number;
  chunkMib: number;
  /** Push / chunked push target (unireg ÷ Distribution), default 2. */
  pushTarget?: number;
}): string {
  const U = results.unireg;
  const D = results.distribution;
  const bulk = (r: KindResults | undefined, k: 'push' | 'chunked' | 'pull') => (r ? median(r[k].mbps) : undefined);
  const cpuPerGiB = (r: KindResults | undefined, k: 'push' | 'chunked' | 'pull', size: number) =>
    r && r[k].serverCpu.length ? median(r[k].serverCpu) / size : undefined;
  const gib = opts.sizeMib / 1024;
  const size = sizeLabel(opts.sizeMib);
  const lr = (r: KindResults | undefined, k: 'get' | 'head' | 'tags') => (r ? combine(r[k]) : undefined);
  const usPerReq = (x: LoadResult | undefined) => (x && x.responses ? (x.serverCpu / x.responses) * 1e6 : undefined);
  const bad = (x: LoadResult | undefined) =>
    x ? `${x.non2xx} / ${x.errors + x.timeouts}${x.mismatches ? ` / ${x.mismatches} bad bodies` : ''}` : '—';
  const higher = (factor: number): Row['target'] => ({ better: 'higher', factor, text: `≥ ${factor}×` });
  const lowerP99: Row['target'] = { better: 'lower', factor: 1, text: '< 1× (lower)' };
  const rows: Row[] = [
    { label: `Push ${size}, one streamed PATCH + PUT (MB/s)`, u: bulk(U, 'push'), d: bulk(D, 'push'), digits: 0, target: higher(opts.pushTarget ?? 2) },
    { label: `Push ${size}, ${opts.chunkMib} MiB chunks with Content-Range (MB/s)`, u: bulk(U, 'chunked'), d: bulk(D, 'chunked'), digits: 0, target: higher(opts.pushTarget ?? 2) },
    { label: `Pull ${size}, GET blob (MB/s)`, u: bulk(U, 'pull'), d: bulk(D, 'pull'), digits: 0, target: higher(1) },
    { label: `Manifest GET by tag, ${opts.connections} conns (req/s)`, u: lr(U, 'get')?.rps, d: lr(D, 'get')?.rps, digits: 0, target: higher(5) },
    { label: 'Manifest GET p50 (ms)', u: lr(U, 'get')?.p50, d: lr(D, 'get')?.p50, digits: 2 },
    { label: 'Manifest GET p99 (ms)', u: lr(U, 'get')?.p99, d: lr(D, 'get')?.p99, digits: 2, target: lowerP99 },
    { label: `Manifest HEAD by tag, ${opts.connections} conns (req/s)`, u: lr(U, 'head')?.rps, d: lr(D, 'head')?.rps, digits: 0, target: higher(5) },
    { label: 'Manifest HEAD p50 (ms)', u: lr(U, 'head')?.p50, d: lr(D, 'head')?.p50, digits: 2 },
    { label: 'Manifest HEAD p99 (ms)', u: lr(U, 'head')?.p99, d: lr(D, 'head')?.p99, digits: 2, target: lowerP99 },
    { label: 'Manifest GET / HEAD: non-2xx / socket errors', digits: 0, text: [`${bad(lr(U, 'get'))}; ${bad(lr(U, 'head'))}`, `${bad(lr(D, 'get'))}; ${bad(lr(D, 'head'))}`] },
    { label: `tags/list?n=1000 (1,000 tags), ${opts.tagConnections} conns (req/s)`, u: lr(U, 'tags')?.rps, d: lr(D, 'tags')?.rps, digits: 0 },
    { label: 'tags/list p99 (ms)', u: lr(U, 'tags')?.p99, d: lr(D, 'tags')?.p99, digits: 2 },
    { label: 'tags/list: non-2xx / socket errors', digits: 0, text: [bad(lr(U, 'tags')), bad(lr(D, 'tags'))] },
    { label: 'Server CPU per manifest GET (µs)', u: usPerReq(lr(U, 'get')), d: usPerReq(lr(D, 'get')), digits: 0 },
    { label: 'Server CPU per streamed push (s per GiB)', u: cpuPerGiB(U, 'push', gib), d: cpuPerGiB(D, 'push', gib), digits: 2 },
    { label: 'Server CPU per pull (s per GiB)', u: cpuPerGiB(U, 'pull', gib), d: cpuPerGiB(D, 'pull', gib), digits: 2 },
    { label: 'Max VmRSS during streamed push (MiB)', u: U?.push.rssMiB || undefined, d: D?.push.rssMiB || undefined, digits: 0 },
    { label: 'Max VmRSS during chunked push (MiB)', u: U?.chunked.rssMiB || undefined, d: D?.chunked.rssMiB || undefined, digits: 0 },
    { label: 'Max VmRSS during pull (MiB)', u: U?.pull.rssMiB || undefined, d: D?.pull.rssMiB || undefined, digits: 0 },
    { label: 'Peak RSS after the run, VmHWM (MiB)', u: U?.hwmMiB, d: D?.hwmMiB, digits: 0 },
  ];
  const lines = [
    '| Figure | unireg | Distribution | unireg / Distribution | Target |',
    '|---|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const [u, d] = row.text ?? [fmt(row.u, row.digits), fmt(row.d, row.digits)];
    const [ratio, verdict] = row.text ? ['', ''] : ratioCell(row);
    lines.push(`| ${row.label} | ${u} | ${d} | ${ratio} | ${verdict} |`);
  }
  return lines.join('\n');
}

/** Every round's figure, and every failure, for the record. */
export function details(results: Partial<Record<RegistryKind, KindResults>>): string {
  const out: string[] = [];
  for (const [kind, r] of Object.entries(results) as [RegistryKind, KindResults][]) {
    const rounds = (b: Bulk) => (b.mbps.length ? b.mbps.map((x) => x.toFixed(0)).join(', ') : '—');
    const cpu = (b: Bulk) =>
      b.serverCpu.length
        ? `server ${b.serverCpu.map((x) => x.toFixed(1)).join(', ')} s; client ${b.clientCpu.map((x) => x.toFixed(1)).join(', ')} s; ` +
          `server minor faults ${b.faults.join(', ')}`
        : '';
    out.push(`- **${kind}**, MB/s per round: streamed push ${rounds(r.push)} (CPU ${cpu(r.push)})`);
    out.push(`  - chunked push: ${rounds(r.chunked)} (CPU ${cpu(r.chunked)})`);
    out.push(`  - pull: ${rounds(r.pull)} (CPU ${cpu(r.pull)})`);
    for (const k of ['get', 'head', 'tags'] as const) {
      for (const x of r[k]) {
        out.push(
          `  - ${k}: ${x.rps.toFixed(0)} req/s, ${x.responses} responses in ${x.seconds.toFixed(1)} s, ` +
            `status ${JSON.stringify(x.codes)}, p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} / ` +
            `max ${x.max.toFixed(1)} ms, CPU server ${x.serverCpu.toFixed(1)} s, client ${x.clientCpu.toFixed(1)} s`,
        );
      }
    }
    for (const f of r.failures) out.push(`  - **FAILURE** ${f.replace(/\n/g, '\n    ')}`);
  }
  return out.join('\n');
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '(unavailable)';
  }
}

export function machineFacts(distributionBin: string): string {
  const mem = sh('free', ['-m']).split('\n')[1]?.trim().split(/\s+/)[1];
  let vm = 'no hypervisor flag in /proc/cpuinfo';
  try {
    if (/^flags\s*:.*\bhypervisor\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'))) {
      vm = `virtual machine (cpuid hypervisor flag; systemd-detect-virt: ${sh('systemd-detect-virt', [])})`;
    }
  } catch {
    vm = '(unknown)';
  }
  return [
    `- CPU: ${sh('nproc', [])} cores (nproc), ${cpus()[0]?.model ?? '?'}; client and both servers share them`,
    `- Memory: ${mem ?? '?'} MiB total (free -m)`,
    `- Virtualisation: ${vm}`,
    `- Storage for both registries: ${sh('findmnt', ['-no', 'FSTYPE,SOURCE', '--target', tmpdir()]).replace(/\s+/g, ' ')} (${tmpdir()})`,
    `- Kernel: ${sh('uname', ['-sr'])}`,
    `- Node.js: ${process.version}`,
    `- Distribution: ${sh(distributionBin, ['--version'])}`,
    `- Load average at the start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  ].join('\n');
}

export interface ReportDocument {
  title: string;
  /** The sentence saying which command made it, and where the figures are explained. */
  generated: string;
  settings: string;
  facts: string;
  table: string;
  detailsTitle: string;
  details: string;
  failures?: string[];
}

/** The markdown file a benchmark command writes (--out). */
export function reportDocument(d: ReportDocument): string {
  return [
    `# ${d.title}`,
    '',
    d.generated,
    '',
    d.settings,
    '',
    '## Machine',
    '',
    d.facts,
    '',
    '## Results',
    '',
    d.table,
    '',
    `## ${d.detailsTitle}`,
    '',
    d.details,
    '',
    ...(d.failures?.length ? ['## FAILURES', '', ...d.failures.map((f) => `- ${f.replace(/\n/g, '\n  ')}`), ''] : []),
  ].join('\n');
}
