/**
 * The engines of `npm run bench -- --storage s3`: a real radosgw (test/engines/start-s3.sh)
 * and a PostgreSQL 15 (test/engines/start-postgres.sh), each in a temporary directory on
 * free loopback ports and stopped by the PID files the scripts keep; and the storage
 * settings that point unireg (s3 blobs + postgres metadata) and CNCF Distribution
 * (its s3 driver, under its own root directory in the same bucket) at them.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDatabase } from '../test/helpers/postgres.js';
import { freePortRange } from '../test/helpers/s3.js';
import { freePort, ROOT } from './servers.js';

const run = promisify(execFile);

export interface S3Env {
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
}

export interface Engines {
  s3: S3Env;
  /** postgresql://postgres:test@127.0.0.1:PORT/test */
  postgresUrl: string;
  /** Stops radosgw (and its mon/osd) and PostgreSQL by their PID files; removes their directories. */
  stop(): Promise<void>;
}


function exports(stdout: string): Record<string, string> {
  return Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

async function script(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const r = await run('bash', [join(ROOT, 'test/engines', name), ...args], {
      timeout: 240_000,
      env: { ...process.env, ...env },
      maxBuffer: 16 << 20,
    });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${e.message}\n${(e.stderr ?? '').slice(-2000)}`);
  }
}

/** Starts radosgw and PostgreSQL (one after the other: the machine has few cores). */
export async function startEngines(log: (msg: string) => void): Promise<Engines> {
  const base = mkdtempSync(join(tmpdir(), 'unireg-bench-s3pg-'));
  const s3Dir = join(base, 'ceph');
  // Not inside `base` (mode 0700): as root, the script runs PostgreSQL as user postgres.
  const pgDir = join(tmpdir(), `unireg-bench-pg-${randomUUID().slice(0, 8)}`);
  let s3Started = false;
  let pgStarted = false;
  const stop = async () => {
    if (s3Started) await script('start-s3.sh', ['stop', s3Dir]).catch((err: unknown) => log(String(err)));
    if (pgStarted) await script('start-postgres.sh', ['stop', pgDir]).catch((err: unknown) => log(String(err)));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    log('starting radosgw (test/engines/start-s3.sh)');
    s3Started = true;
    const s3 = exports(await script('start-s3.sh', [s3Dir, String(await freePortRange())], { S3_OSD_SIZE_GB: '30' }));
    log(`radosgw up at ${s3.S3_ENDPOINT}; starting PostgreSQL (test/engines/start-postgres.sh)`);
    pgStarted = true;
    const pgEnv = exports(await script('start-postgres.sh', [pgDir, String(await freePort())]));
    const postgresUrl = pgEnv.PGURL;
    if (!s3.S3_ENDPOINT || !s3.S3_BUCKET || !s3.S3_ACCESS_KEY || !s3.S3_SECRET_KEY || !postgresUrl) {
      throw new Error('start-s3.sh / start-postgres.sh printed no endpoint, bucket, keys or PGURL');
    }
    log(`PostgreSQL up at ${postgresUrl.replace(/:[^:@/]*@/, ':***@')}`);
    return {
      s3: {
        endpoint: s3.S3_ENDPOINT,
        region: s3.S3_REGION ?? 'us-east-1',
        bucket: s3.S3_BUCKET,
        accessKey: s3.S3_ACCESS_KEY,
        secretKey: s3.S3_SECRET_KEY,
      },
      postgresUrl,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}


/** unireg's settings on the engines: s3 blobs under a fresh key prefix, postgres metadata in a fresh database. */
export async function uniregStorage(engines: Engines): Promise<Record<string, unknown>> {
  return {
    storage: {
      blobs: {
        driver: 's3',
        s3: { ...engines.s3, prefix: `unireg-${randomUUID().slice(0, 8)}`, forcePathStyle: true },
      },
      metadata: { driver: 'postgres', postgres: { url: await createDatabase(engines.postgresUrl) } },
    },
  };
}

/**
 * Distribution's `storage:` entry (YAML flow mapping) for its s3 driver on the same bucket,
 * under its own root directory. Blob GETs are proxied (redirect disabled), as unireg does
 * by default, so both pulls measure the registry, not radosgw alone.
 */
export function distributionStorage(s3: S3Env): string {
  const root = `/distribution-${randomUUID().slice(0, 8)}`;
  return (
    `s3: {regionendpoint: "${s3.endpoint}", region: ${s3.region}, bucket: ${s3.bucket}, ` +
    `accesskey: "${s3.accessKey}", secretkey: "${s3.secretKey}", secure: false, v4auth: true, ` +
    `rootdirectory: ${root}}, redirect: {disable: true}`
  );
}
