/** The Markdown report of `npm run bench:scale`. */
import { MAX_PAGE } from '../src/http/params.js';
import type { LoadResult } from './load.js';
import { firstLast, flatness, percentile, type Interleaved, type PageTimes, type Startup, type UnderPush, type Walk } from './scale-measure.js';
import type { SeedPlan } from './scale-seed.js';
import type { RegistryKind } from './servers.js';

export interface SizeResult {
  kind: RegistryKind;
  plan: SeedPlan;
  started: string;
  seedSeconds: number;
  startup: Startup;
  /** Median ms of one page with the bench's client (fresh connection / kept alive) and with curl. */
  pageTimes: { tags: PageTimes; catalog: PageTimes };
  catalog: Walk;
  tags: Walk;
  /** The same list at the largest page the registry serves (n=10000; Distribution ignores n). */
  tagsMax: Walk;
  manifest: LoadResult;
  tags1000: LoadResult;
  underPush: UnderPush;
  /** p99 under pushes / idle p99 of each alternated round. */
  pushRatios?: number[];
  hwmMib: number;
  /** VmHWM after the walks and after the manifest rounds with pushes: which step set the peak. */
  hwmSteps?: { walks: number; pushes: number };
  /** RssAnon and RssFile at the end: a high peak from LevelDB's mapped tables shows in the second. */
  rssEnd?: { anon: number; file: number };
  /** Resident MiB of LevelDB's table files (`.ldb` mappings) after the walks and at the end; unireg only. */
  tablesMib?: { walks: number; end: number };
  /** CPU time stolen by the hypervisor (%) while seeding and while measuring: a slow host shows here. */
  stealPct?: { seeding: number; measuring: number };
}

/** Distribution seeded for the catalog walk alone (one manifest per repository). */
export interface CatalogOnly {
  repos: number;
  seedSeconds: number;
  readyMs: number;
  catalog: Walk;
}

/** Distribution seeded with big/tags alone (10·R tags), for its tags/list answer at the largest size. */
export interface TagsOnly {
  repos: number;
  seedSeconds: number;
  readyMs: number;
  tags: Walk;
  /** `pages` GET /v2/ in a row against the same Distribution (the n=100 walk's page count): the round trips alone. */
  floor: { pages: number; seconds: number };
}

export interface ScaleReportInput {
  results: SizeResult[];
  catalog?: CatalogOnly;
  tags?: TagsOnly;
  /** Manifest GET at the smallest and largest unireg sizes, measured in alternation. */
  interleaved?: Interleaved;
  started: Date;
  finished: Date;
  loadBefore: number[];
  loadAfter: number[];
  duration: number;
  pushMib: number;
  machine: string;
  command: string;
}

const f = (x: number, digits = 2) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');
const i = (x: number) => f(x, 0);
const label = (r: SizeResult) => `${r.kind} ${i(r.plan.repos)} repos / ${i(r.plan.tags)} tags`;

function walkRows(name: string, pick: (r: SizeResult) => Walk): [string, (r: SizeResult) => string][] {
  return [
    [`${name}: pages / entries`, (r) => `${i(pick(r).pages)} / ${i(pick(r).items)}`],
    [`${name}: whole walk, median of the rounds (s)`, (r) => f(pick(r).seconds, 3)],
    [`${name}: each round, the first cold (s)`, (r) => (pick(r).roundSeconds ?? [pick(r).seconds]).map((x) => f(x, 3)).join(' / ')],
    [`${name}: page p50 (ms)`, (r) => f(percentile(pick(r).pageMs, 50))],
    [`${name}: p99 first tenth of pages (ms)`, (r) => f(firstLast(pick(r).pageMs).firstP99)],
    [`${name}: p99 last tenth of pages (ms)`, (r) => f(firstLast(pick(r).pageMs).lastP99)],
    [
      `${name}: last / first p99 of each round: median (each round)`,
      (r) => {
        const each = pick(r).roundFlatness ?? [flatness(pick(r).pageMs)];
        return `${f(percentile(each, 50))}× (${each.map((x) => `${f(x)}×`).join(' / ')})`;
      },
    ],
    [`${name}: max server VmRSS during the walk (MiB)`, (r) => i(pick(r).maxRssMib)],
  ];
}

const ROWS: [string, (r: SizeResult) => string][] = [
  ['Seeding (s)', (r) => f(r.seedSeconds, 1)],
  ['Start-up to first answered GET /v2/ (ms)', (r) => i(r.startup.readyMs)],
  ['VmRSS at the first answer / 3 s later (MiB)', (r) => `${i(r.startup.rssAtReadyMib)} / ${i(r.startup.rssAfter3sMib)}`],
  ...walkRows('Catalog walk n=1000', (r) => r.catalog),
  ...walkRows(`tags/list walk n=100`, (r) => r.tags),
  [`tags/list walk n=${MAX_PAGE} (the largest page): pages / whole walk, median of the rounds (s)`, (r) => `${i(r.tagsMax.pages)} / ${f(r.tagsMax.seconds, 3)}`],
  ['Manifest GET, 64 conns (req/s)', (r) => i(r.manifest.rps)],
  ['Manifest GET p50 / p99 (ms)', (r) => `${f(r.manifest.p50)} / ${f(r.manifest.p99)}`],
  ['tags/list?n=1000 of 1,000 tags, 64 conns (req/s)', (r) => i(r.tags1000.rps)],
  ['tags/list p50 / p99 (ms)', (r) => `${f(r.tags1000.p50)} / ${f(r.tags1000.p99)}`],
  ['Manifest GET during 4 pushes (req/s)', (r) => i(r.underPush.load.rps)],
  ['Manifest GET during 4 pushes p50 / p99 (ms)', (r) => `${f(r.underPush.load.p50)} / ${f(r.underPush.load.p99)}`],
  [
    'p99 during pushes / idle p99: median (each round)',
    (r) => {
      const each = r.pushRatios ?? [r.underPush.load.p99 / r.manifest.p99];
      return `${f(percentile(each, 50))}× (${each.map((x) => `${f(x)}×`).join(' / ')})`;
    },
  ],
  ['Pushes completed during that load (MiB)', (r) => `${r.underPush.pushes} (${i(r.underPush.pushedMiB)})`],
  ['Non-2xx / socket errors in the loads', (r) => [r.manifest, r.tags1000, r.underPush.load].map((l) => `${l.non2xx}/${l.errors}`).join(', ')],
  ['Peak RSS, VmHWM (MiB)', (r) => i(r.hwmMib)],
  [
    'VmHWM after the walks / after the manifest and push rounds / after the tags/list load (MiB)',
    (r) => (r.hwmSteps ? `${i(r.hwmSteps.walks)} / ${i(r.hwmSteps.pushes)} / ${i(r.hwmMib)}` : 'not measured'),
  ],
  ['RssAnon / RssFile at the end (MiB)', (r) => (r.rssEnd ? `${i(r.rssEnd.anon)} / ${i(r.rssEnd.file)}` : 'not measured')],
  ['LevelDB tables resident after the walks / at the end (MiB)', (r) => (r.tablesMib ? `${r.tablesMib.walks.toFixed(1)} / ${r.tablesMib.end.toFixed(1)}` : 'n/a')],
  ['CPU stolen by the hypervisor while seeding / measuring (%)', (r) => (r.stealPct ? `${f(r.stealPct.seeding)} / ${f(r.stealPct.measuring)}` : 'not measured')],
];

function table(results: SizeResult[]): string {
  const head = `| Figure | ${results.map(label).join(' | ')} |`;
  const sep = `|---|${results.map(() => '---:').join('|')}|`;
  return [head, sep, ...ROWS.map(([name, cell]) => `| ${name} | ${results.map(cell).join(' | ')} |`)].join('\n');
}

function ratios(results: SizeResult[]): string {
  const lines: string[] = [];
  for (const d of results.filter((r) => r.kind === 'distribution')) {
    const u = results.find((r) => r.kind === 'unireg' && r.plan.repos === d.plan.repos);
    if (!u) continue;
    lines.push(
      `- ${i(d.plan.repos)} repositories: catalog walk ${f(d.catalog.seconds / u.catalog.seconds, 1)}× faster, ` +
        `tags/list of ${i(d.plan.bigTags)} tags: unireg's walk in ${i(u.tags.pages)} pages ${f(u.tags.seconds, 3)} s, ` +
        `Distribution's one answer (it ignores n) ${f(d.tags.seconds, 3)} s, ` +
        `manifest GET ${f(u.manifest.rps / d.manifest.rps, 1)}× the req/s, tags/list of 1,000 tags ${f(u.tags1000.rps / d.tags1000.rps, 1)}× the req/s, ` +
        `start-up ${i(u.startup.readyMs)} vs ${i(d.startup.readyMs)} ms.`,
    );
  }
  // Distribution's walks read its directory tree: extrapolate linearly from its two largest sizes.
  const ds = results.filter((r) => r.kind === 'distribution').sort((a, b) => a.plan.repos - b.plan.repos);
  const biggest = results.filter((r) => r.kind === 'unireg').sort((a, b) => b.plan.repos - a.plan.repos)[0];
  if (ds.length >= 2 && biggest && biggest.plan.repos > ds[ds.length - 1]!.plan.repos) {
    const [a, b] = [ds[ds.length - 2]!, ds[ds.length - 1]!];
    const at = (pick: (r: SizeResult) => number) =>
      pick(b) + ((pick(b) - pick(a)) / (b.plan.repos - a.plan.repos)) * (biggest.plan.repos - b.plan.repos);
    const cat = at((r) => r.catalog.seconds);
    const tg = at((r) => r.tags.seconds);
    lines.push(
      `- ${i(biggest.plan.repos)} repositories, Distribution **extrapolated** linearly from its ${i(a.plan.repos)} and ${i(b.plan.repos)} runs ` +
        `(not measured): catalog walk ≈ ${f(cat, 1)} s (unireg measured ${f(biggest.catalog.seconds, 3)} s: ≈ ${i(cat / biggest.catalog.seconds)}×), ` +
        `one tags/list answer of ${i(biggest.plan.bigTags)} tags ≈ ${f(tg, 2)} s (unireg's walk in ${i(biggest.tags.pages)} pages: ${f(biggest.tags.seconds, 3)} s).`,
    );
  }
  return lines.join('\n');
}

function catalogOnly(c: CatalogOnly, results: SizeResult[]): string {
  const fl = firstLast(c.catalog.pageMs);
  const u = results.find((r) => r.kind === 'unireg' && r.plan.repos === c.repos);
  return [
    `Distribution seeded over its API with ${i(c.repos)} repositories of one manifest each (seeding ${f(c.seedSeconds, 0)} s, start-up ${i(c.readyMs)} ms): ` +
      `catalog walk n=1000, ${c.catalog.pages} pages, ${f(c.catalog.seconds, 2)} s (median; rounds ${(c.catalog.roundSeconds ?? []).map((x) => f(x, 2)).join(' / ')} s); page p50 ${f(percentile(c.catalog.pageMs, 50))} ms, ` +
      `p99 of the first / last tenth ${f(fl.firstP99)} / ${f(fl.lastP99)} ms; pages in order (ms): ${c.catalog.pageMs.map((x) => f(x, 0)).join(', ')}.`,
    u
      ? `unireg at the same number of repositories (the full seed, 10 manifests each): ${f(u.catalog.seconds, 3)} s, **${f(c.catalog.seconds / u.catalog.seconds, 0)}×** faster ` +
        `(medians; first, cold walks: ${f((c.catalog.roundSeconds ?? [c.catalog.seconds])[0]!, 2)} against ${f((u.catalog.roundSeconds ?? [u.catalog.seconds])[0]!, 3)} s, ` +
        `${f((c.catalog.roundSeconds ?? [c.catalog.seconds])[0]! / (u.catalog.roundSeconds ?? [u.catalog.seconds])[0]!, 0)}×).`
      : '',
  ].join(' ');
}

function tagsOnly(t: TagsOnly, results: SizeResult[]): string {
  const u = results.find((r) => r.kind === 'unireg' && r.plan.repos === t.repos);
  const rounds = (w: Walk) => (w.roundSeconds ?? [w.seconds]).map((x) => f(x, 3)).join(' / ');
  return [
    `Distribution seeded over its API with \`${'big/tags'}\` alone, ${i(t.tags.items)} tags of ${i(t.tags.items / 10)} manifests (seeding ${f(t.seedSeconds, 0)} s, ` +
      `start-up ${i(t.readyMs)} ms): it ignores n and answers the whole list in ${i(t.tags.pages)} response${t.tags.pages === 1 ? '' : 's'}, ` +
      `${f(t.tags.seconds, 3)} s (median; rounds ${rounds(t.tags)} s).`,
    u
      ? `unireg at the same size: the walk at n=100, ${i(u.tags.pages)} pages, ${f(u.tags.seconds, 3)} s (rounds ${rounds(u.tags)}), ` +
        `**${f(t.tags.seconds / u.tags.seconds)}×** Distribution's speed; at its largest page (n=${i(MAX_PAGE)}), ` +
        `${i(u.tagsMax.pages)} page${u.tagsMax.pages === 1 ? '' : 's'}, ${f(u.tagsMax.seconds, 3)} s (rounds ${rounds(u.tagsMax)}), **${f(t.tags.seconds / u.tagsMax.seconds)}×**.`
      : '',
    `The floor under any walk at n=100: ${i(t.floor.pages)} GET /v2/ in a row against the same Distribution (its cheapest request, ` +
      `the bench's client, kept alive) take ${f(t.floor.seconds, 3)} s (median of 3), ${f(t.floor.seconds / t.tags.seconds)}× its whole one-answer list; ` +
      `50× faster than that answer would mean the whole walk in ${f((t.tags.seconds / 50) * 1000, 1)} ms, ${f((t.tags.seconds / 50 / t.floor.pages) * 1e6, 1)} µs a page.`,
  ].join(' ');
}

function interleavedSection(x: Interleaved, seconds: number): string {
  const med = (rs: LoadResult[], key: (l: LoadResult) => number) => percentile(rs.map(key), 50);
  const side = (name: string, s: Interleaved['small']) =>
    `| ${name} ${i(s.repos)} repos | ${s.rounds.map((l) => i(l.rps)).join(' / ')} | ${i(med(s.rounds, (l) => l.rps))} | ` +
    `${s.rounds.map((l) => f(l.p99, 1)).join(' / ')} | ${f(med(s.rounds, (l) => l.p99), 1)} |`;
  const rps = med(x.large.rounds, (l) => l.rps) / med(x.small.rounds, (l) => l.rps);
  const p99 = med(x.large.rounds, (l) => l.p99) / med(x.small.rounds, (l) => l.p99);
  return [
    `Both sizes served at once from their seeded data; ${seconds} s loads of 64 connections, ${x.small.rounds.length} rounds, ` +
      'each on a newly started pair of servers, the order alternating (small, large; then large, small; ...). ' +
      'The table above measures each size minutes apart, and over minutes the req/s of one registry on a shared machine drifts by more than 10%; ' +
      'one server process can also run 25–35% faster or slower than another on the same data for its whole life, hence new servers every round.',
    '',
    '| Size | req/s, each round | req/s median | p99 ms, each round | p99 median |',
    '|---|---|---:|---|---:|',
    side('unireg', x.small),
    side('unireg', x.large),
    '',
    `Largest against smallest: **${f(rps * 100 - 100, 1)}%** req/s, **${f(p99 * 100 - 100, 1)}%** p99 (medians).`,
  ].join('\n');
}

function clientCheck(results: SizeResult[]): string {
  return results
    .map(
      (r) =>
        `- ${label(r)}: one tags/list page (n=100) bench client ${f(r.pageTimes.tags.fresh)} ms on a new connection, ${f(r.pageTimes.tags.kept)} ms kept alive; ` +
        `curl ${f(r.pageTimes.tags.curl)} ms. One catalog page (n=1000): client ${f(r.pageTimes.catalog.fresh)} / ${f(r.pageTimes.catalog.kept)} ms; curl ${f(r.pageTimes.catalog.curl)} ms.`,
    )
    .join('\n');
}

export function scaleReport(d: ScaleReportInput): string {
  return [
    '# Scale benchmark: latest run',
    '',
    `Generated by \`npm run bench:scale${d.command ? ` -- ${d.command}` : ''}\` (bench/scale.ts) from ${d.started.toISOString()} to ${d.finished.toISOString()}; ` +
      'how it is measured: [benchmarks.md](benchmarks.md#at-scale-npm-run-benchscale). Do not edit by hand.',
    '',
    `Each size: R repositories, 10·R manifests, 20·R tags (\`${'big/tags'}\` holds 10·R of them), seeded (unireg through its registry services in a ` +
      `process of its own, Distribution over its API), then the registry is started on the seeded data and measured. Loads: ${d.duration} s each, ` +
      `64 connections; manifest GET in ${d.results[0]?.pushRatios?.length ?? 3} rounds alternating with the loads under pushes (medians shown), the rest one round. Pushes: 4 curl processes, each pushing a ${d.pushMib} MiB blob (POST, then one PUT of the whole body with ?digest=) back to back.`,
    '',
    '## Machine',
    '',
    d.machine,
    `- Load average at the end: ${d.loadAfter.map((x) => x.toFixed(2)).join(' ')} (start: ${d.loadBefore.map((x) => x.toFixed(2)).join(' ')})`,
    '',
    '## Results',
    '',
    table(d.results),
    '',
    '## unireg against Distribution',
    '',
    ratios(d.results) || '(no size with both registries)',
    '',
    ...(d.catalog ? ['### Catalog walk at the largest size', '', catalogOnly(d.catalog, d.results), ''] : []),
    ...(d.tags ? ['### tags/list at the largest size', '', tagsOnly(d.tags, d.results), ''] : []),
    ...(d.interleaved ? ['## Manifest GET: smallest and largest size in alternation', '', interleavedSection(d.interleaved, d.duration), ''] : []),
    '## The bench client against curl',
    '',
    clientCheck(d.results),
    '',
  ].join('\n');
}
