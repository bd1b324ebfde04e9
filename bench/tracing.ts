/**
 * What tracing costs on the hottest path: manifest GET by tag against unireg
 * with tracing off (the default), on (OTLP http/protobuf to a sink in this
 * process that reads and drops what it gets), on without an exporter
 * (OTEL_TRACES_EXPORTER=none: spans made, not sent), and optionally a baseline build
 * (`--baseline DIR`: a checkout built without tracing, to show that "off"
 * costs nothing against it). Same image, same load, rounds in rotating order.
 * See docs/tracing.md ("What it costs").
 *
 * Usage: node dist/bench/tracing.js [--duration S] [--connections N] [--rounds N] [--warmup S] [--baseline DIR]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agent } from './client.js';
import { OCI_MANIFEST, pushImage, verifyManifest } from './image.js';
import type { LoadResult } from './load.js';
import { loadPhase, log, settle } from './phases.js';
import { combine, emptyResults, type KindResults } from './report.js';
import { startRegistry, stopRegistry, type Registry, type StartOptions } from './servers.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    baseline: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    'usage: node dist/bench/tracing.js [--duration 10] [--connections 64] [--rounds 3] [--warmup 2] [--baseline DIR]\n' +
      'Manifest GET by tag with tracing off and on (and a baseline build in DIR). See docs/tracing.md.\n',
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

/** An OTLP/HTTP endpoint that reads every export and answers 200, counting bytes. */
async function startSink(): Promise<{ url: string; bytes: () => number; close: () => Promise<void> }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => bytes,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

const fmt = (x: number | undefined, digits = 0) =>
  x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const usPerReq = (x: LoadResult | undefined) => (x && x.responses ? (x.serverCpu / x.responses) * 1e6 : undefined);
const ratio = (x: number | undefined, base: number | undefined) =>
  x === undefined || base === undefined || !base ? '—' : `${(x / base).toFixed(3)}×`;

async function main(): Promise<void> {
  const sink = await startSink();
  const variants: { name: string; options: StartOptions }[] = [];
  if (args.baseline) variants.push({ name: 'baseline build', options: { cli: join(args.baseline, 'dist/src/cli.js') } });
  variants.push({ name: 'tracing off', options: {} });
  variants.push({
    name: 'tracing on',
    options: { env: { UNIREG_TRACING_ENABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' } },
  });
  // Spans made and dropped: what making them costs, without the export.
  variants.push({ name: 'tracing on, OTEL_TRACES_EXPORTER=none', options: { env: { UNIREG_TRACING_ENABLED: 'true', OTEL_TRACES_EXPORTER: 'none' } } });
  const results = new Map<string, KindResults>(variants.map((v) => [v.name, emptyResults()]));
  const regs: { name: string; reg: Registry; manifest: Buffer }[] = [];
  try {
    for (const v of variants) {
      const reg = await startRegistry('unireg', v.options);
      const image = await pushImage(reg.base, REPO, TAG);
      await verifyManifest(reg.base, REPO, TAG, image.manifest);
      regs.push({ name: v.name, reg, manifest: image.manifest });
      log(`${v.name}: unireg at ${reg.base} (pid ${reg.pid})`);
    }
    await settle();
    for (let round = 0; round < rounds; round++) {
      const order = regs.map((_, i) => regs[(i + round) % regs.length]!);
      for (const r of order) {
        log(`round ${round + 1}/${rounds}: GET manifest, ${r.name}`);
        await loadPhase(r.reg, results.get(r.name)!, 'get', warmup, {
          url: `${r.reg.base}/v2/${REPO}/manifests/${TAG}`,
          method: 'GET',
          headers: { Accept: OCI_MANIFEST },
          connections,
          seconds,
          pid: r.reg.pid,
          expectBody: r.manifest.toString('utf8'),
        });
      }
    }
  } finally {
    agent.destroy();
    for (const r of regs) await stopRegistry(r.reg).catch((err: unknown) => log(`stopping ${r.name}: ${String(err)}`));
    await sink.close();
  }
  const ref = combine(results.get('tracing off')!.get);
  const lines = [
    `Manifest GET by tag, ${connections} connections, ${rounds} × ${seconds} s (medians); OTLP sink received ${fmt(sink.bytes() / 1024)} KiB`,
    '',
    '| unireg | req/s | vs off | p50 (ms) | p99 (ms) | server CPU per request (µs) | non-2xx / errors |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const v of variants) {
    const x = combine(results.get(v.name)!.get);
    lines.push(
      `| ${v.name} | ${fmt(x?.rps)} | ${ratio(x?.rps, ref?.rps)} | ${fmt(x?.p50, 2)} | ${fmt(x?.p99, 2)} | ${fmt(usPerReq(x))} | ` +
        `${x ? `${x.non2xx} / ${x.errors + x.timeouts}` : '—'} |`,
    );
  }
  lines.push('', 'Rounds:');
  for (const v of variants) results.get(v.name)!.get.forEach((x, i) => lines.push(`- ${v.name}, round ${i + 1}: ${x.rps.toFixed(0)} req/s`));
  const failures = variants.flatMap((v) => results.get(v.name)!.failures.map((f) => `${v.name}: ${f}`));
  process.stdout.write(`\n${lines.join('\n')}\n`);
  if (failures.length) {
    process.stdout.write(`\nFAILURES:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
