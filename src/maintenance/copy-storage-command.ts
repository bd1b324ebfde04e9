/**
 * `unireg copy-storage --from CONFIG --to CONFIG [--resume] [--verify] [--json]`:
 * copies a stopped registry's storage (blobs and metadata) into the stores another
 * configuration names: fs+LevelDB to S3+PostgreSQL and back, or any other mix.
 * Exit code 0 when everything was copied, 1 when some blobs could not be (corrupt
 * at the source: reported, not copied) or the copy failed, 2 when it cannot run
 * (usage, configuration, a source that is missing or running, a destination that
 * is not empty without --resume).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CopyStoresError, openCopyStores, type CopyStores } from './copy-stores.js';
import { copyStorage, isEmpty, type CopyProgress, type CopySummary } from './copy-storage.js';

export const COPY_STORAGE_USAGE = `usage: unireg copy-storage --from FILE --to FILE [--resume] [--verify] [--concurrency N] [--json]

Copies every blob and every metadata record of a stopped registry into the stores
another configuration names (storage.* of each file; UNIREG_* variables are not
read, since they would apply to both). Blobs are hashed on the way and a blob whose
bytes do not match its digest is reported and not copied. Upload sessions in
progress are left out. Stop the registry (every replica) before copying.

  --from FILE        configuration of the registry to copy
  --to FILE          configuration of the stores to copy into (must be empty)
  --resume           the destination is an earlier, interrupted copy: blobs already
                     there with the right size are skipped, records are rewritten
  --verify           re-read every copied blob from the destination and rehash it
  --concurrency N    blobs copied at once (default 4)
  --json             print the summary as JSON

Exit code: 0 copied, 1 blobs left out or the copy failed, 2 could not run.`;

class UsageError extends Error {}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        resume: { type: 'boolean' },
        verify: { type: 'boolean' },
        concurrency: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const mb = (n: number) => (n / 1e6).toFixed(1);

/** Progress on stderr: a line at most every second, and the last one. */
function reporter(): (p: CopyProgress) => void {
  let shown = 0;
  return (p) => {
    const now = Date.now();
    const last = p.phase === 'blobs' ? p.blobsDone === p.blobsTotal : false;
    if (now - shown < 1000 && !last) return;
    shown = now;
    const line =
      p.phase === 'blobs'
        ? `blobs ${p.blobsDone}/${p.blobsTotal} (${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB)`
        : `metadata: ${p.records} records`;
    process.stderr.write(`copy-storage: ${line}\n`);
  };
}

function formatSummary(from: CopyStores, to: CopyStores, s: CopySummary): string {
  const seconds = s.ms / 1000;
  const rate = seconds > 0 ? s.blobs.bytesCopied / 1e6 / seconds : 0;
  const lines = [
    `from ${from.describe}`,
    `to   ${to.describe}`,
    `blobs: ${s.blobs.copied} copied (${mb(s.blobs.bytesCopied)} MB), ${s.blobs.skipped} already there, ${s.blobs.failed.length} not copied, of ${s.blobs.total} (${mb(s.blobs.bytesTotal)} MB)`,
    `metadata: ${s.metadata.records} records copied${s.metadata.uploadSessionsLeftOut > 0 ? `, ${s.metadata.uploadSessionsLeftOut} upload sessions in progress left out` : ''}`,
    `took ${seconds.toFixed(1)} s (${rate.toFixed(1)} MB/s of blobs)`,
  ];
  for (const f of s.blobs.failed) lines.push(`NOT COPIED ${f.digest}: ${f.problem}`);
  if (s.blobs.failed.length > 0) lines.push('run `unireg verify` on the source: the records naming these blobs were copied, their content was not');
  return `${lines.join('\n')}\n`;
}

async function load(file: string | undefined, flag: string): Promise<Config> {
  if (file === undefined) throw new UsageError(`${flag} FILE is required`);
  return loadConfig({ file, env: {} });
}

async function run(args: string[]): Promise<number> {
  const values = parse(args);
  if (values.help) {
    process.stdout.write(`${COPY_STORAGE_USAGE}\n`);
    return 0;
  }
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError('--concurrency: a whole number from 1 to 64');
  const fromConfig = await load(values.from, '--from');
  const toConfig = await load(values.to, '--to');
  const from = await openCopyStores(fromConfig, 'source');
  try {
    const to = await openCopyStores(toConfig, 'destination');
    try {
      if (from.describe === to.describe) throw new UsageError(`--from and --to name the same stores (${from.describe})`);
      if (!values.resume && !(await isEmpty(to))) {
        throw new UsageError(`the destination is not empty (${to.describe}); give --resume to continue an interrupted copy into it`);
      }
      const summary = await copyStorage(from, to, { concurrency, verifyDestination: values.verify ?? false, onProgress: reporter() });
      process.stdout.write(values.json ? `${JSON.stringify({ from: from.describe, to: to.describe, ...summary }, null, 2)}\n` : formatSummary(from, to, summary));
      return summary.blobs.failed.length === 0 ? 0 : 1;
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** Runs `unireg copy-storage`; resolves with the exit code. */
export async function copyStorageCommand(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof CopyStoresError) {
      process.stderr.write(`unireg: copy-storage: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`unireg: copy-storage failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
