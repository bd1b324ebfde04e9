/**
 * `npm run bench:scale`: unireg and CNCF Distribution seeded with many repositories, tags and
 * manifests (bench/scale-seed.ts), then measured at each size (bench/scale-measure.ts): catalog
 * and tags/list walks page by page, manifest GET load, the 1,000-tag tags/list load, start-up
 * time and memory on the seeded data, and manifest GET while pushes run. Writes a Markdown
 * report (docs/benchmarks-scale-latest.md by default). See docs/benchmarks.md, "At scale".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BlobData } from './client.js';
import { log } from './phases.js';
import { machineFacts } from './report.js';
import { BIG_REPO, TAGS1000_REPO, catalogPlanOf, midRepo, planOf, seedOverHttp, tagsPlanOf, type SeedPlan } from './scale-seed.js';
import {
  manifestLoad,
  manifestLoadUnderPush,
  pageTimes,
  type Interleaved,
  interleavedManifest,
  type SizeServer,
  type UnderPush,
  pushFiles,
  roundTrips,
  startupFigures,
  type PushFile,
  tagsLoad,
  type Walk,
  walkRounds,
} from './scale-measure.js';
import type { LoadResult } from './load.js';
import { scaleReport, type CatalogOnly, type SizeResult, type TagsOnly } from './scale-report.js';
import { MAX_PAGE } from '../src/http/params.js';
import { cpuTicks, mappedResidentMiB, procStatusMiB, ROOT, stealPercentSince, startRegistry, stopRegistry, type Registry, type RegistryKind } from './servers.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    'distribution-sizes': { type: 'string', default: '100,1000' },
    /** Distribution seeded with this many repositories of one manifest each, for the catalog walk alone ('' or 0: skip). */
    'distribution-catalog': { type: 'string', default: '10000' },
    /** Distribution seeded with big/tags alone as at R repositories (10·R tags), for its tags/list answer ('' or 0: skip). */
    'distribution-tags': { type: 'string', default: '10000' },
    duration: { type: 'string', default: '5' },
    'push-mib': { type: 'string', default: '128' },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'docs/benchmarks-scale-latest.md') },
    'distribution-bin': { type: 'string', default: '/usr/bin/docker-registry' },
  },
});

/** Idle / under-pushes rounds of the manifest GET load (the issue asks for medians of at least 3). */
const PUSH_ROUNDS = 3;
/** Rounds of each size in the interleaved manifest GET comparison. */
const INTERLEAVED_ROUNDS = 8;

/** The middle element of `items` ordered by `key`. */
function medianBy<T>(items: T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)]!;
}

const sizesOf = (s: string) => s.split(',').filter(Boolean).map(Number);
const duration = Number(values.duration);
const pushMib = Number(values['push-mib']);
const distributionBin = values['distribution-bin'];

/** Seeds unireg's root from a process of its own (./scale-seed-child.ts says why); returns seconds. */
async function seedApart(root: string, repos: number): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./scale-seed-child.js', import.meta.url)), root, String(repos)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  if (code !== 0) throw new Error(`seeding ${repos} repositories exited with ${code}: ${out}`);
  return (JSON.parse(out) as { seconds: number }).seconds;
}

/**
 * One size of one registry, seeded, started and measured. With `keep`, the seeded directory is
 * left in place and recorded there (for the interleaved comparison of sizes; the caller removes it).
 */
async function measure(kind: RegistryKind, repos: number, blobs: PushFile[], keep?: Map<number, string>): Promise<SizeResult> {
  const plan = planOf(repos);
  const dir = mkdtempSync(join(tmpdir(), `unireg-scale-${kind}-`));
  const started = new Date().toISOString().slice(11, 19);
  let reg: Registry | undefined;
  try {
    let seedSeconds: number;
    const seedTicks = cpuTicks();
    if (kind === 'unireg') {
      log(`unireg ${repos} repos: seeding through its services, in a process of its own`);
      seedSeconds = await seedApart(join(dir, 'storage'), repos);
    } else {
      log(`distribution ${repos} repos: seeding over HTTP`);
      const seeding = await startRegistry(kind, { dir, distributionBin });
      try {
        seedSeconds = await seedOverHttp(seeding.base, plan);
      } finally {
        await stopRegistry(seeding, { keepDir: true });
      }
    }
    const stealSeeding = stealPercentSince(seedTicks);
    const measureTicks = cpuTicks();
    log(`${kind} ${repos}: seeded in ${seedSeconds.toFixed(1)} s (CPU steal ${stealSeeding.toFixed(1)}%); starting on the seeded data`);
    reg = await startRegistry(kind, { dir, distributionBin });
    const startup = await startupFigures(reg);
    const tagsPage = `${reg.base}/v2/${BIG_REPO}/tags/list?n=100`;
    const catalogPage = `${reg.base}/v2/_catalog?n=1000`;
    const times = { tags: await pageTimes(tagsPage), catalog: await pageTimes(catalogPage) };
    log(`${kind} ${repos}: ready in ${startup.readyMs.toFixed(0)} ms; walking the catalog`);
    const catalog = await walkRounds(reg, '/v2/_catalog?n=1000', 'repositories');
    if (catalog.items !== repos + 1) throw new Error(`catalog walk saw ${catalog.items} repositories, expected ${repos + 1}`);
    log(`${kind} ${repos}: catalog ${catalog.pages} pages in ${catalog.seconds.toFixed(2)} s; walking ${BIG_REPO}`);
    const tags = await walkRounds(reg, `/v2/${BIG_REPO}/tags/list?n=100`, 'tags');
    if (tags.items !== plan.bigTags) throw new Error(`tags walk saw ${tags.items} tags, expected ${plan.bigTags}`);
    // The whole list in as few requests as the registry allows (unireg caps a page at MAX_PAGE; Distribution 2.8 ignores n).
    const tagsMax = await walkRounds(reg, `/v2/${BIG_REPO}/tags/list?n=${MAX_PAGE}`, 'tags');
    if (tagsMax.items !== plan.bigTags) throw new Error(`tags walk (n=${MAX_PAGE}) saw ${tagsMax.items} tags, expected ${plan.bigTags}`);
    const hwmWalksMib = procStatusMiB(reg.pid, 'VmHWM');
    const tablesWalksMib = mappedResidentMiB(reg.pid, '.ldb');
    log(`${kind} ${repos}: tags ${tags.pages} pages in ${tags.seconds.toFixed(2)} s (n=${MAX_PAGE}: ${tagsMax.pages} in ${tagsMax.seconds.toFixed(2)} s); manifest GET load`);
    const mid = midRepo(plan);
    await manifestLoad(reg, mid.repo, mid.tag, 1);
    // Idle and under pushes alternate, PUSH_ROUNDS times: each round's p99 ratio, and the median rounds kept.
    const idle: LoadResult[] = [];
    const pushed: UnderPush[] = [];
    for (let r = 0; r < PUSH_ROUNDS; r++) {
      idle.push(await manifestLoad(reg, mid.repo, mid.tag, duration));
      pushed.push(await manifestLoadUnderPush(reg, mid.repo, mid.tag, duration, blobs));
      log(`${kind} ${repos}: round ${r + 1}: manifest ${idle[r]!.rps.toFixed(0)} req/s p99 ${idle[r]!.p99.toFixed(1)} ms; under ${blobs.length} pushes p99 ${pushed[r]!.load.p99.toFixed(1)} ms`);
    }
    const pushRatios = pushed.map((u, r) => u.load.p99 / idle[r]!.p99);
    const manifest = medianBy(idle, (l) => l.rps);
    const underPush = medianBy(pushed, (u) => u.load.p99);
    const hwmPushesMib = procStatusMiB(reg.pid, 'VmHWM');
    await tagsLoad(reg, TAGS1000_REPO, 1);
    const tags1000 = await tagsLoad(reg, TAGS1000_REPO, duration);
    log(`${kind} ${repos}: manifest ${manifest.rps.toFixed(0)} req/s, tags/list ${tags1000.rps.toFixed(0)} req/s`);
    const hwmMib = procStatusMiB(reg.pid, 'VmHWM');
    const rssEnd = { anon: procStatusMiB(reg.pid, 'RssAnon'), file: procStatusMiB(reg.pid, 'RssFile') };
    const tablesMib = kind === 'unireg' ? { walks: tablesWalksMib, end: mappedResidentMiB(reg.pid, '.ldb') } : undefined;
    const stealPct = { seeding: stealSeeding, measuring: stealPercentSince(measureTicks) };
    return { kind, plan, started, seedSeconds, startup, pageTimes: times, catalog, tags, tagsMax, manifest, tags1000, underPush, pushRatios, hwmMib, hwmSteps: { walks: hwmWalksMib, pushes: hwmPushesMib }, rssEnd, ...(tablesMib ? { tablesMib } : {}), stealPct };
  } finally {
    if (reg) await stopRegistry(reg, { keepDir: true });
    if (keep) keep.set(repos, dir);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** unireg at its smallest and largest seeded sizes, both running, manifest GET in alternation. */
async function interleaved(kept: Map<number, string>): Promise<Interleaved | undefined> {
  const sizes = [...kept.keys()].sort((a, b) => a - b);
  if (sizes.length < 2) return undefined;
  const [small, large] = [sizes[0]!, sizes[sizes.length - 1]!];
  const side = (repos: number) => ({
    repos,
    start: async (): Promise<SizeServer> => {
      const reg = await startRegistry('unireg', { dir: kept.get(repos)! });
      // As startupFigures: the start-up scan of stored content runs in the first seconds after the first answer.
      await new Promise((ok) => setTimeout(ok, 3000));
      return { reg, ...midRepo(planOf(repos)), stop: () => stopRegistry(reg, { keepDir: true }) };
    },
  });
  log(`unireg ${small} and ${large} repos, both running: manifest GET in alternation, ${INTERLEAVED_ROUNDS} rounds of new servers`);
  const result = await interleavedManifest(side(small), side(large), duration, INTERLEAVED_ROUNDS);
  const med = (rs: LoadResult[]) => medianBy(rs, (l) => l.rps).rps.toFixed(0);
  log(`interleaved: ${small} repos ${med(result.small.rounds)} req/s, ${large} repos ${med(result.large.rounds)} req/s (medians)`);
  return result;
}

/**
 * Distribution seeded with `plan` over its API in a directory of its own, restarted on that data, and one
 * listing walked (three rounds); the directory is removed afterwards. For the figures its full seed cannot reach.
 * With `floorPages`, also the seconds of that many GET /v2/ in a row (roundTrips): what a walk of that many
 * pages would cost in round trips alone against this server.
 */
async function distributionWalk(
  plan: SeedPlan,
  what: string,
  path: string,
  field: 'repositories' | 'tags',
  expected: number,
  floorPages = 0,
): Promise<{ seedSeconds: number; readyMs: number; walk: Walk; floorSeconds?: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'unireg-scale-only-'));
  let reg: Registry | undefined;
  try {
    log(`distribution ${what}: seeding over HTTP`);
    const seeding = await startRegistry('distribution', { dir, distributionBin });
    let seedSeconds: number;
    try {
      seedSeconds = await seedOverHttp(seeding.base, plan);
    } finally {
      await stopRegistry(seeding, { keepDir: true });
    }
    reg = await startRegistry('distribution', { dir, distributionBin });
    const walk = await walkRounds(reg, path, field);
    if (walk.items !== expected) throw new Error(`${path} walk saw ${walk.items} ${field}, expected ${expected}`);
    log(`distribution ${what}: ${walk.pages} pages, ${walk.items} ${field} in ${walk.seconds.toFixed(2)} s`);
    if (floorPages === 0) return { seedSeconds, readyMs: reg.readyMs, walk };
    const floorSeconds = await roundTrips(reg, '/v2/', floorPages);
    log(`distribution: ${floorPages} × GET /v2/ in a row in ${floorSeconds.toFixed(3)} s`);
    return { seedSeconds, readyMs: reg.readyMs, walk, floorSeconds };
  } finally {
    if (reg) await stopRegistry(reg, { keepDir: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Distribution with `repos` one-manifest repositories: the catalog walk only. */
async function catalogOnly(repos: number): Promise<CatalogOnly> {
  const { walk, ...rest } = await distributionWalk(catalogPlanOf(repos), `${repos} one-manifest repos (catalog only)`, '/v2/_catalog?n=1000', 'repositories', repos + 1);
  return { repos, ...rest, catalog: walk };
}

/** Distribution with big/tags alone as at `repos` repositories (10·R tags): its tags/list answer only. */
async function tagsOnly(repos: number): Promise<TagsOnly> {
  const plan = tagsPlanOf(repos);
  const pages = Math.ceil(plan.bigTags / 100);
  const { walk, floorSeconds, ...rest } = await distributionWalk(plan, `${BIG_REPO} with ${plan.bigTags} tags (tags only)`, `/v2/${BIG_REPO}/tags/list?n=100`, 'tags', plan.bigTags, pages);
  return { repos, ...rest, tags: walk, floor: { pages, seconds: floorSeconds! } };
}

async function main(): Promise<void> {
  const load0 = (await import('node:os')).loadavg();
  // The facts (with the load average "at the start") are read now, not when the report is written.
  const machine = machineFacts(distributionBin);
  const started = new Date();
  const runs: [RegistryKind, number][] = [];
  if (values.only !== 'distribution') for (const n of sizesOf(values.sizes)) runs.push(['unireg', n]);
  if (values.only !== 'unireg') for (const n of sizesOf(values['distribution-sizes'])) runs.push(['distribution', n]);
  log(`making ${4} blobs of ${pushMib} MiB for the pushes`);
  const pushDir = mkdtempSync(join(tmpdir(), 'unireg-scale-push-'));
  const results: SizeResult[] = [];
  // The smallest and largest unireg sizes are kept on disk for the interleaved comparison.
  const uniregSizes = runs.filter(([kind]) => kind === 'unireg').map(([, n]) => n);
  const keepSizes = new Set([Math.min(...uniregSizes), Math.max(...uniregSizes)]);
  const kept = new Map<number, string>();
  let sizes: Interleaved | undefined;
  try {
    const blobs = pushFiles(Array.from({ length: 4 }, () => new BlobData(pushMib << 20)), pushDir);
    for (const [kind, n] of runs) results.push(await measure(kind, n, blobs, kind === 'unireg' && keepSizes.has(n) ? kept : undefined));
    sizes = await interleaved(kept);
  } finally {
    rmSync(pushDir, { recursive: true, force: true });
    for (const dir of kept.values()) rmSync(dir, { recursive: true, force: true });
  }
  const catalogRepos = Number(values['distribution-catalog'] || 0);
  const catalog = values.only !== 'unireg' && catalogRepos > 0 ? await catalogOnly(catalogRepos) : undefined;
  const tagsRepos = Number(values['distribution-tags'] || 0);
  const bigTags = values.only !== 'unireg' && tagsRepos > 0 ? await tagsOnly(tagsRepos) : undefined;
  const doc = scaleReport({
    results,
    catalog,
    tags: bigTags,
    interleaved: sizes,
    started,
    finished: new Date(),
    loadBefore: load0,
    loadAfter: (await import('node:os')).loadavg(),
    duration,
    pushMib,
    machine,
    command: process.argv.slice(2).join(' '),
  });
  writeFileSync(values.out, doc);
  log(`wrote ${values.out}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
