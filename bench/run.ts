/**
 * unireg vs CNCF Distribution, same workload, one run: blob push (streamed
 * and chunked), blob pull, manifest GET/HEAD under load, tags/list, and RSS.
 * See docs/benchmarks.md. Usage: npm run bench -- [--size-mib N] [--duration S]
 * [--only unireg|distribution] [--rounds N] [--phases push,chunked,pull,manifest,tags]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { agent, BlobData, pullBlob, pushChunked, pushStreamed } from './client.js';
import { OCI_MANIFEST, pushImage, pushTags, checkTags, tagsUrl, verifyManifest, type Image } from './image.js';
import { bulkPhase, describe, loadPhase, log, settle } from './phases.js';
import { details, emptyResults, machineFacts, reportDocument, sizeLabel, table, type KindResults } from './report.js';
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
    out: { type: 'string', default: join(ROOT, 'docs/benchmarks-latest.md') },
    'cpu-prof': { type: 'string' },
    'distribution-bin': { type: 'string', default: '/usr/bin/docker-registry' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    'usage: npm run bench -- [--size-mib 1024] [--duration 10] [--rounds 3] [--only unireg|distribution]\n' +
      `  [--phases ${PHASES.join(',')}] [--connections 64] [--tag-connections 16] [--chunk-mib 16]\n` +
      '  [--warmup 2] [--out docs/benchmarks-latest.md] [--cpu-prof DIR] [--distribution-bin PATH]\n' +
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
  let variant = 0;
  // On Ctrl-C, stop the servers this run started (by PID) and remove their temp dirs.
  process.once('SIGINT', () => {
    log('interrupted: stopping the registries');
    Promise.all(regs.map((r) => stopRegistry(r, { graceMs: 3000 }))).finally(() => process.exit(130));
  });
  try {
    for (const kind of kinds) {
      const nodeFlags =
        kind === 'unireg' && args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`] : [];
      if (nodeFlags.length) mkdirSync(resolve(args['cpu-prof']!), { recursive: true });
      const reg = await startRegistry(kind, { nodeFlags, distributionBin: args['distribution-bin']! });
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
  } finally {
    agent.destroy();
    for (const reg of regs) {
      await stopRegistry(reg).catch((err: unknown) => log(`stopping ${reg.kind} (pid ${reg.pid}): ${describe(err)}`));
    }
  }

  const tbl = table(results, { sizeMib, connections, tagConnections, chunkMib });
  const det = details(results);
  process.stdout.write(`\n${tbl}\n\n${det}\n`);
  const doc = reportDocument({
    title: 'Benchmark: latest run',
    generated: `Generated by \`npm run bench\` (bench/run.ts) on ${started.toISOString()}; see docs/benchmarks.md for what each figure means.`,
    settings:
      `Settings: phases ${[...phases].join(', ')}; ${rounds} round(s) of each, registries alternating, medians shown; ` +
      `blob ${sizeLabel(sizeMib)}, chunks ${chunkMib} MiB; manifest load ${seconds} s per method at ${connections} ` +
      `connections; tags/list ${tagSeconds} s at ${tagConnections} connections; ${warmup} s warm-up before each load ` +
      `run${args.only ? `; only ${args.only}` : ''}${args['cpu-prof'] ? '; unireg ran under --cpu-prof' : ''}. ` +
      `Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    facts,
    table: tbl,
    detailsTitle: 'Per round and per phase',
    details: det,
  });
  writeFileSync(args.out!, doc);
  log(`wrote ${args.out}`);
  const failed = Object.values(results).some((r) => r && r.failures.length > 0);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${describe(err)}\n`);
  process.exit(1);
});
