/**
 * `npm run bench:search`: kconfig search over the index. Packs 500 unikernel
 * variants into 50 repositories of a real `unireg serve` over HTTP (5 tags per
 * repository, an x86_64/qemu and an arm64/fc variant per tag, each from a
 * `.config` of about 200 keys: a common base, 150 library switches drawn per
 * variant, CONFIG_HZ in {100, 250, 1000} and CONFIG_LIBUKDEBUG_PRINTK y/n), then
 * times GET /_unikraft/search for several queries (one connection, one request at a
 * time, after a warm-up) and prints p50/p99/max per query as a Markdown table.
 * Target: p99 <= 50 ms for a first page.
 *
 * BENCH_SEARCH_REPOS / BENCH_SEARCH_TAGS / BENCH_SEARCH_REQUESTS scale it.
 */
import { createHash } from 'node:crypto';
import { request } from './client.js';
import { log } from './phases.js';
import { startRegistry, stopRegistry } from './servers.js';

const REPOS = Number(process.env.BENCH_SEARCH_REPOS ?? 50);
const TAGS = Number(process.env.BENCH_SEARCH_TAGS ?? 5);
const REQUESTS = Number(process.env.BENCH_SEARCH_REQUESTS ?? 300);
const PLATFORMS = [
  ['x86_64', 'qemu'],
  ['arm64', 'fc'],
] as const;

/** A deterministic number in [0, 1) from a string. */
const rand = (seed: string) => createHash('sha256').update(seed).digest().readUInt32BE(0) / 2 ** 32;

function dotConfig(seed: string): string {
  const lines = ['CONFIG_UK_FULLVERSION="0.18.0~bench"', 'CONFIG_UK_NAME="bench"', 'CONFIG_HAVE_BOOTENTRY=y', 'CONFIG_LIBUKALLOC=y'];
  for (let i = 0; i < 150; i++) if (rand(`${seed}/lib${i}`) < 0.5) lines.push(`CONFIG_LIB_${String(i).padStart(3, '0')}=y`);
  for (let i = 0; i < 40; i++) lines.push(`CONFIG_OPT_${i}=${Math.floor(rand(`${seed}/opt${i}`) * 4)}`);
  lines.push(`CONFIG_HZ=${[100, 250, 1000][Math.floor(rand(`${seed}/hz`) * 3)]}`);
  lines.push(`CONFIG_LIBUKDEBUG_PRINTK=${rand(`${seed}/printk`) < 0.5 ? 'y' : 'n'}`);
  if (rand(`${seed}/rare`) < 0.02) lines.push('CONFIG_RARE_ADVISORY=y');
  return `${lines.join('\n')}\n`;
}

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function seed(base: string): Promise<number> {
  const jobs: { repo: string; tag: string; arch: string; plat: string }[] = [];
  for (let r = 0; r < REPOS; r++) {
    for (let t = 0; t < TAGS; t++) for (const [arch, plat] of PLATFORMS) jobs.push({ repo: `bench/app-${String(r).padStart(2, '0')}`, tag: `v${t}`, arch, plat });
  }
  await pool(jobs, 4, async ({ repo, tag, arch, plat }) => {
    const id = `${repo}/${tag}/${arch}`;
    const form = new FormData();
    form.append('tag', tag);
    form.append('arch', arch);
    form.append('plat', plat);
    form.append('kconfig', new Blob([dotConfig(id)]), '.config');
    form.append('kernel', new Blob([createHash('sha256').update(id).digest().toString('hex').repeat(64)]), 'kernel');
    const res = await fetch(`${base}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: form });
    if (res.status !== 201) throw new Error(`pack ${id}: ${res.status} ${await res.text()}`);
  });
  return jobs.length;
}

interface Row {
  query: string;
  results: number;
  p50: number;
  p99: number;
  max: number;
}

async function time(base: string, query: string): Promise<Row> {
  const url = `${base}/_unikraft/search?${query}`;
  let results = 0;
  for (let i = 0; i < 20; i++) await request('GET', url, { expect: [200] });
  const latencies: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = process.hrtime.bigint();
    const res = await request('GET', url, { expect: [200] });
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    results = (JSON.parse(res.body.toString()) as { results: unknown[] }).results.length;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
  return { query, results, p50: pct(50), p99: pct(99), max: pct(100) };
}

async function main(): Promise<void> {
  const reg = await startRegistry('unireg', { env: { UNIREG_LOG_LEVEL: 'warn' } });
  try {
    const t0 = Date.now();
    const variants = await seed(reg.base);
    log(`packed ${variants} variants in ${REPOS} repositories in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const queries = [
      'kconfig=CONFIG_LIBUKDEBUG_PRINTK=y&match=exact',
      'kconfig=CONFIG_LIBUKDEBUG_PRINTK=y&match=exact&n=10',
      'kconfig=CONFIG_HZ=1000',
      'kconfig=CONFIG_HZ&match=exact&arch=x86_64',
      'kconfig=CONFIG_LIB_017=y&kconfig=CONFIG_HZ=250&plat=fc',
      'kconfig=CONFIG_RARE_ADVISORY=y',
      'kconfig=PRINTK',
      'kconfig=CONFIG_LIBUKDEBUG_PRINTK=y&match=exact&last=bench/app-25:v0@sha256:' + '0'.repeat(64),
    ];
    const rows: Row[] = [];
    for (const q of queries) {
      rows.push(await time(reg.base, q));
      log(`${q}: p99 ${rows.at(-1)!.p99.toFixed(2)} ms`);
    }
    const fmt = (n: number) => n.toFixed(2);
    process.stdout.write(
      [
        `\nkconfig search, ${variants} variants in ${REPOS} repositories, ${REQUESTS} sequential requests per query (n=100 unless given):\n`,
        '| query | results | p50 ms | p99 ms | max ms |',
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows.map((r) => `| \`${r.query}\` | ${r.results} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} |`),
        '',
      ].join('\n'),
    );
  } finally {
    await stopRegistry(reg);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:search failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
