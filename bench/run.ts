/**
 * unireg vs CNCF Distribution, same workload, one run: blob push (streamed
 * and chunked), blob pull, manifest GET/HEAD under load, tags/list, and RSS.
 * See docs/benchmarks.md. Usage: npm run bench -- [--size-mib N] [--duration S]
 * [--only unireg|distribution] [--rounds N] [--phases push,chunked,pull,manifest,tags]
 * [--storage fs|s3] [--replicas 1,2,3]. With --storage s3 both registries store in a real
 * radosgw (and unireg its metadata in PostgreSQL), started and stopped by this run (bench/s3pg.ts);
 * --replicas then also measures 1..N unireg replicas behind nginx (bench/replica-scan.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { agent, BlobData, pullBlob, pushChunked, pushStreamed } from './client.js';
import { OCI_MANIFEST, pushImage, pushTags, checkTags, tagsUrl, verifyManifest, type Image } from './image.js';
import { bulkPhase, describe, loadPhase, log, settle } from './phases.js';
import { details, emptyResults, machineFacts, reportDocument, sizeLabel, table, type KindResults } from './report.js';
import { replicaScan, scanTable, type ScanOptions, type ScanRow } from './replica-scan.js';
import { distributionStorage, startEngines, uniregStorage, type Engines } from './s3pg.js';
import { procStatusKiB, ROOT, startRegistry, stopRegistry, type Registry, type RegistryKind } from './servers.js';

const PHASES = ['push', 'chunked', 'pull', 'manifest', 'tags'] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    duration: { type: 'string', default: '10' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    phases: { type: 'string', default: PHASES.join(',') },
    connections: { type: 'string', default: '64' },
    'tag-connections': { type: 'string', default: '16' },
    'chunk-mib': { type: 'string', default: '16' },
    warmup: { type: 'string', default: '2' },
    out: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'distribution-bin': { type: 'string', default: '/usr/bin/docker-registry' },
    storage: { type: 'string', default: 'fs' },
    replicas: { type: 'string' },
    'replica-pushes': { type: 'string', default: '4' },
    'replica-push-mib': { type: 'string', default: '128' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    'usage: npm run bench -- [--size-mib 1024] [--duration 10] [--rounds 3] [--only unireg|distribution]\n' +
      `  [--phases ${PHASES.join(',')}] [--connections 64] [--tag-connections 16] [--chunk-mib 16]\n` +
      '  [--warmup 2] [--out docs/benchmarks-latest.md] [--cpu-prof DIR] [--distribution-bin PATH]\n' +
      '  [--storage fs|s3] [--replicas 1,2,3] [--replica-pushes 4] [--replica-push-mib 128]\n' +
      '  --storage s3: radosgw + PostgreSQL are started for the run (unireg: s3 blobs + postgres metadata;\n' +
      '  Distribution: its s3 driver); --replicas (s3 only): unireg replicas behind nginx, GET and push.\n' +
      'See docs/benchmarks.md.\n',
  );
  process.exit(0);
}

function num(name: keyof typeof args, min: number): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}`);
  return v;
}

const sizeMib = num('size-mib', 1);
const seconds = num('duration', 1);
const tagSeconds = Math.max(1, Math.round(seconds / 2));
const rounds = num('rounds', 1);
const connections = num('connections', 1);
const tagConnections = num('tag-connections', 1);
const chunkMib = num('chunk-mib', 1);
const warmup = num('warmup', 0);
if (args.only !== undefined && args.only !== 'unireg' && args.only !== 'distribution') {
  throw new Error('--only must be unireg or distribution');
}
const kinds: RegistryKind[] = args.only ? [args.only as RegistryKind] : ['unireg', 'distribution'];
if (args.storage !== 'fs' && args.storage !== 's3') throw new Error('--storage must be fs or s3');
const onS3 = args.storage === 's3';
const replicaCounts = args.replicas === undefined ? [] : args.replicas.split(',').map(Number);
if (replicaCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error('--replicas takes counts 1..8, e.g. 1,2,3');
if (replicaCounts.length && !onS3) throw new Error('--replicas needs --storage s3 (replicas share S3 + PostgreSQL)');
const scanOpts: ScanOptions = {
  counts: replicaCounts,
  rounds,
  seconds,
  warmup,
  connections,
  pushes: num('replica-pushes', 1),
  pushMib: num('replica-push-mib', 1),
};
const out = args.out ?? join(ROOT, onS3 ? 'docs/benchmarks-s3pg-latest.md' : 'docs/benchmarks-latest.md');
const phases = new Set(args.phases!.split(',').map((p) => p.trim()) as Phase[]);
for (const p of phases) if (!PHASES.includes(p)) throw new Error(`unknown phase ${p}; known: ${PHASES.join(',')}`);

const REPO = 'bench/blob';

async function main(): Promise<void> {
  const facts = machineFacts(args['distribution-bin']!);
  const started = new Date();
  log(`size ${sizeLabel(sizeMib)}, ${rounds} round(s), load ${seconds} s (tags ${tagSeconds} s), phases ${[...phases].join(',')}`);
  const needData = phases.has('push') || phases.has('chunked') || phases.has('pull');
  let data: BlobData | undefined;
  if (needData) {
    log(`generating ${sizeLabel(sizeMib)} of blob data and its sha256 (not timed)`);
    data = new BlobData(sizeMib * 1048576);
  }
  const results: Partial<Record<RegistryKind, KindResults>> = {};
  const regs: Registry[] = [];
  let engines: Engines | undefined;
  let scan: ScanRow[] = [];
  let variant = 0;
  // On Ctrl-C, stop the servers this run started (by PID) and remove their temp dirs.
  process.once('SIGINT', () => {
    log('interrupted: stopping the registries');
    Promise.all(regs.map((r) => stopRegistry(r, { graceMs: 3000 })))
      .then(() => engines?.stop())
      .finally(() => process.exit(130));
  });
  try {
    if (onS3) engines = await startEngines(log);
    for (const kind of kinds) {
      const nodeFlags =
        kind === 'unireg' && args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`] : [];
      if (nodeFlags.length) mkdirSync(resolve(args['cpu-prof']!), { recursive: true });
      const storageOpts = !engines
        ? {}
        : kind === 'unireg'
          ? { configYaml: JSON.stringify(await uniregStorage(engines)) }
          : { distributionStorage: distributionStorage(engines.s3) };
      const reg = await startRegistry(kind, { nodeFlags, distributionBin: args['distribution-bin']!, ...storageOpts });
      log(`${kind} up at ${reg.base} (pid ${reg.pid}, dir ${reg.dir})`);
      regs.push(reg);
      results[kind] = emptyResults();
    }

    if (data) {
      for (let round = 0; round < rounds; round++) {
        // Alternate which registry goes first, so that drift on a shared machine hits both.
        const order = round % 2 === 0 ? regs : [...regs].reverse();
        const pushed = new Map<RegistryKind, string>();
        if (phases.has('push')) {
          for (const reg of order) {
            const digest = data.variant(variant++);
            await bulkPhase(reg, results[reg.kind]!, 'push', data.size, async () => {
              const s = await pushStreamed(reg.base, REPO, data!, digest);
              pushed.set(reg.kind, digest);
              return s;
            });
          }
        }
        if (phases.has('chunked')) {
          for (const reg of order) {
            const digest = data.variant(variant++);
            await bulkPhase(reg, results[reg.kind]!, 'chunked', data.size, async () => {
              const s = await pushChunked(reg.base, REPO, data!, digest, chunkMib << 20);
              if (!pushed.has(reg.kind)) pushed.set(reg.kind, digest);
              return s;
            });
          }
        }
        if (phases.has('pull')) {
          for (const reg of order) {
            let digest = pushed.get(reg.kind);
            if (digest === undefined) {
              try {
                const d = data.variant(variant++);
                await pushStreamed(reg.base, REPO, data, d);
                digest = d;
              } catch (err) {
                results[reg.kind]!.failures.push(`pull (pushing the blob to pull): ${describe(err)}`);
                continue;
              }
            }
            const d = digest;
            await bulkPhase(reg, results[reg.kind]!, 'pull', data.size, () => pullBlob(reg.base, REPO, d, data!.size));
          }
        }
      }
    }

    // Load phases: set up on every registry, then run the rounds interleaved.
    const images = new Map<RegistryKind, Image>();
    if (phases.has('manifest')) {
      for (const reg of regs) {
        try {
          images.set(reg.kind, await pushImage(reg.base, 'bench/image', 'v1'));
        } catch (err) {
          results[reg.kind]!.failures.push(`manifest (pushing the image): ${describe(err)}`);
          log(`${reg.kind} manifest setup FAILED: ${describe(err)}`);
        }
      }
    }
    const tagged = new Set<RegistryKind>();
    if (phases.has('tags')) {
      for (const reg of regs) {
        try {
          log(`${reg.kind}: pushing the manifest under 1,000 tags`);
          await pushTags(reg.base, 'bench/tags', 1000);
          tagged.add(reg.kind);
        } catch (err) {
          results[reg.kind]!.failures.push(`tags (pushing 1,000 tags): ${describe(err)}`);
          log(`${reg.kind} tags setup FAILED: ${describe(err)}`);
        }
      }
    }
    await settle();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? regs : [...regs].reverse();
      for (const method of ['GET', 'HEAD'] as const) {
        for (const reg of order) {
          const image = images.get(reg.kind);
          if (!image) continue;
          const url = `${reg.base}/v2/${image.repo}/manifests/${image.tag}`;
          await loadPhase(reg, results[reg.kind]!, method === 'GET' ? 'get' : 'head', warmup, {
            url,
            method,
            headers: { Accept: OCI_MANIFEST },
            connections,
            seconds,
            pid: reg.pid,
            ...(method === 'GET' ? { expectBody: image.manifest.toString('utf8') } : {}),
          });
        }
      }
      for (const reg of order) {
        if (!tagged.has(reg.kind)) continue;
        const url = tagsUrl(reg.base, 'bench/tags', 1000);
        await loadPhase(reg, results[reg.kind]!, 'tags', warmup, {
          url,
          method: 'GET',
          connections: tagConnections,
          seconds: tagSeconds,
          pid: reg.pid,
        });
      }
    }
    for (const reg of regs) {
      const image = images.get(reg.kind);
      try {
        if (image) await verifyManifest(reg.base, image.repo, image.tag, image.manifest);
        if (tagged.has(reg.kind)) await checkTags(reg.base, 'bench/tags', 1000);
      } catch (err) {
        results[reg.kind]!.failures.push(`after the load phases: ${describe(err)}`);
      }
    }

    for (const reg of regs) {
      const hwm = procStatusKiB(reg.pid, 'VmHWM');
      results[reg.kind]!.hwmMiB = hwm === undefined ? undefined : hwm / 1024;
    }
    for (const reg of regs.splice(0)) {
      await stopRegistry(reg).catch((err: unknown) => log(`stopping ${reg.kind} (pid ${reg.pid}): ${describe(err)}`));
    }
    if (engines && replicaCounts.length) scan = await replicaScan(engines, scanOpts);
  } finally {
    agent.destroy();
    for (const reg of regs) {
      await stopRegistry(reg).catch((err: unknown) => log(`stopping ${reg.kind} (pid ${reg.pid}): ${describe(err)}`));
    }
    await engines?.stop();
  }

  // On S3 the push target is 1.5× (both registries wait on the same object store).
  const tbl = table(results, { sizeMib, connections, tagConnections, chunkMib, pushTarget: onS3 ? 1.5 : 2 });
  const scanTbl = scan.length ? scanTable(scan, scanOpts) : '';
  if (scanTbl) process.stdout.write(`\n${scanTbl}\n`);
  const det = details(results);
  process.stdout.write(`\n${tbl}\n\n${det}\n`);
  const doc = reportDocument({
    title: onS3 ? 'Benchmark on S3 + PostgreSQL: latest run' : 'Benchmark: latest run',
    generated: `Generated by \`npm run bench\` (bench/run.ts) on ${started.toISOString()}; see docs/benchmarks.md for what each figure means.`,
    settings:
      `Settings: phases ${[...phases].join(', ')}; ${rounds} round(s) of each, registries alternating, medians shown; ` +
      `blob ${sizeLabel(sizeMib)}, chunks ${chunkMib} MiB; manifest load ${seconds} s per method at ${connections} ` +
      `connections; tags/list ${tagSeconds} s at ${tagConnections} connections; ${warmup} s warm-up before each load ` +
      `run${args.only ? `; only ${args.only}` : ''}${onS3 ? '; storage: a real radosgw (Ceph 16) for both registries, PostgreSQL 15 for unireg\'s metadata' : ''}${args['cpu-prof'] ? '; unireg ran under --cpu-prof' : ''}. ` +
      `Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    facts,
    table: scanTbl ? `${tbl}\n\n### unireg replicas behind nginx\n\n${scanTbl}` : tbl,
    detailsTitle: 'Per round and per phase',
    details: det,
  });
  writeFileSync(out, doc);
  log(`wrote ${out}`);
  const failed = Object.values(results).some((r) => r && r.failures.length > 0) || scan.some((r) => r.failures.length > 0);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${describe(err)}\n`);
  process.exit(1);
});
