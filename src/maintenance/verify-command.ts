/**
 * `unireg verify [--repair] [--json] [--config FILE | --root DIR]`: checks (and
 * repairs) a stopped registry's data root. Exit code 0 when clean (or, with
 * --repair, when everything was repaired), 1 when problems are found or remain,
 * 2 when it cannot run (usage, configuration, no data root, registry running).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ConfigError, loadConfig } from '../config/load.js';
import { duration, durationMs } from '../config/duration.js';
import { FsBlobStore } from '../storage/fs/fs-blob-store.js';
import { Layout } from '../storage/fs/layout.js';
import { LevelKv } from '../storage/level/level-kv.js';
import { KvMetadataStore } from '../storage/metadata/kv-metadata-store.js';
import { publicFinding } from './findings.js';
import { repair, type RepairResult } from './verify-repair.js';
import { formatReport } from './verify-report.js';
import { verify } from './verify.js';

export const VERIFY_USAGE = `usage: unireg verify [--repair] [--orphan-grace DURATION] [--json] [--config FILE | --root DIR]

Checks a stopped registry's data root: rehashes every blob, checks that every
manifest's blobs and child manifests are there, and lists orphan blob files, size
mismatches, dangling links and tags, stale upload sessions and unreadable records.

  --config FILE          the registry's configuration (default: $UNIREG_CONFIG); its storage.root is checked
  --root DIR             the data root to check (instead of a configuration)
  --repair               quarantine corrupt blobs, remove dangling links and tags, broken manifests
                         (their bytes are kept in quarantine/), unreadable records and stale sessions
  --orphan-grace DUR     with --repair, also remove orphan blob files older than DUR (e.g. 1h);
                         without it orphans are left for garbage collection
  --json                 print the report as JSON

Exit code: 0 clean (or all repaired), 1 problems found (or left), 2 could not run.`;

class UsageError extends Error {}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        repair: { type: 'boolean' },
        'orphan-grace': { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string', short: 'c' },
        root: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function isLocked(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED';
}

/** A progress bar of the bytes rehashed, on stderr when it is a terminal. */
function progressBar(): { update(done: number, total: number): void; stop(): void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'rehashing {bar} {percentage}% | {mb}/{totalMb} MB | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    update(done, total) {
      if (!started) bar.start(total, 0, { mb: '0.0', totalMb: mb(total) });
      started = true;
      bar.update(done, { mb: mb(done), totalMb: mb(total) });
    },
    stop: () => bar.stop(),
  };
}

/** A duration argument: seconds, or a number with a unit (0 allowed). */
function graceMs(raw: string): number {
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  const parsed = duration.safeParse(raw);
  if (!parsed.success) throw new UsageError(`--orphan-grace: expected a duration like 30s or 1h, got ${raw}`);
  return durationMs(parsed.data);
}

async function run(args: string[]): Promise<number> {
  const values = parse(args);
  if (values.help) {
    process.stdout.write(`${VERIFY_USAGE}\n`);
    return 0;
  }
  if (values.config !== undefined && values.root !== undefined) throw new UsageError('give --config or --root, not both');
  if (values['orphan-grace'] !== undefined && !values.repair) throw new UsageError('--orphan-grace goes with --repair');
  const orphanGraceMs = values['orphan-grace'] === undefined ? undefined : graceMs(values['orphan-grace']);
  const config = await loadConfig({ file: values.root !== undefined ? undefined : (values.config ?? process.env.UNIREG_CONFIG) });
  if (config.storage.blobs.driver !== 'fs') {
    throw new UsageError('unireg verify rehashes the blob files under the data root: it works with storage.blobs.driver fs only (GC works on s3)');
  }
  if (values.root === undefined && config.storage.metadata.driver !== 'level') {
    // verify is an offline check of one data root's LevelDB; replicas sharing PostgreSQL keep running meanwhile.
    throw new UsageError('unireg verify checks LevelDB metadata (storage.metadata.driver level); it does not check a PostgreSQL metadata store');
  }
  const layout = new Layout(resolve(values.root ?? config.storage.root));
  const isDir = (path: string) => stat(path).then((s) => s.isDirectory(), () => false);
  if (!(await isDir(layout.root)) || !(await isDir(layout.metaDir))) {
    throw new UsageError(`no unireg data root at ${layout.root} (expected ${layout.metaDir})`);
  }
  const meta = new KvMetadataStore(new LevelKv(layout.metaDir));
  try {
    await meta.open();
  } catch (err) {
    if (isLocked(err)) throw new UsageError(`the registry using ${layout.root} is running (its LevelDB is locked): stop it, then verify`);
    const cause = (err as Error).cause instanceof Error ? ` (${((err as Error).cause as Error).message})` : '';
    throw new UsageError(`cannot open the metadata in ${layout.metaDir}: ${(err as Error).message}${cause}`);
  }
  try {
    const stores = { layout, meta, blobs: new FsBlobStore(layout) };
    const bar = progressBar();
    const options = { uploadExpiryMs: durationMs(config.uploads.expiry), progress: bar?.update, now: Date.now() };
    const report = await verify(stores, options).finally(() => bar?.stop());
    const repaired: RepairResult | undefined = values.repair ? await repair(stores, report.findings, { ...options, orphanGraceMs }) : undefined;
    if (values.json) {
      const out: Record<string, unknown> = { ...report, findings: report.findings.map(publicFinding) };
      if (repaired) out.repair = { actions: repaired.actions, remaining: repaired.remaining.map(publicFinding) };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      process.stdout.write(formatReport(report, repaired));
    }
    if (repaired) return repaired.remaining.length === 0 ? 0 : 1;
    return report.clean ? 0 : 1;
  } finally {
    await meta.close();
  }
}

/** Runs `unireg verify`; resolves with the exit code. */
export async function verifyCommand(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`unireg: verify: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`unireg: verify: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`unireg: verify failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
