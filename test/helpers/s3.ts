/**
 * A real S3 server for one test file: a one-node Ceph cluster with radosgw, started by
 * test/engines/start-s3.sh on free ports (it needs PORT..PORT+9) and stopped by its PID
 * files in after(). Without the Ceph packages the file's tests skip with the reason
 * (fail under CI, where .ci/run installs them).
 *
 *     const s3 = s3Engine();                 // at module level: starts in before(), stops in after()
 *     test('...', async (t) => { if (!s3.gate.check(t)) return; const settings = s3.settings(); ... });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import type { S3Settings } from '../../src/storage/s3/client.js';
import { REPO_ROOT } from './repo.js';
import { gateFor, run, type Gate, type Tool } from './tools.js';

const SCRIPT = join(REPO_ROOT, 'test/engines/start-s3.sh');
const TOOLS: Tool[] = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool', 'curl', 'bash'];

export interface S3Engine {
  /** Checked at the top of each test: skips (fails in CI) when the engine could not start. */
  gate: Gate;
  /** Settings of the bucket with a fresh key prefix (one per call: tests do not see each other's objects). */
  settings(): S3Settings;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

/** A base port with it and the next nine free (start-s3.sh needs PORT..PORT+9). */
export async function freePortRange(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let p = base; p < base + 10 && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error('no 10 consecutive free ports found');
}

export function s3Engine(): S3Engine {
  let gate: Gate | undefined;
  let dir: string | undefined;
  let env: Record<string, string> = {};
  const engine: S3Engine = {
    get gate(): Gate {
      if (!gate) throw new Error('s3Engine(): the before() hook has not run');
      return gate;
    },
    settings: () => ({
      endpoint: env.S3_ENDPOINT!,
      region: env.S3_REGION!,
      bucket: env.S3_BUCKET!,
      prefix: `t-${randomUUID().slice(0, 8)}`,
      accessKey: env.S3_ACCESS_KEY!,
      secretKey: env.S3_SECRET_KEY!,
      forcePathStyle: true,
    }),
  };
  before(async () => {
    gate = await gateFor(TOOLS);
    if (gate.blocked) return;
    dir = join(await mkdtemp(join(tmpdir(), 'unireg-s3-')), 'ceph');
    const port = await freePortRange();
    const r = await run('bash', [SCRIPT, dir, String(port)], { timeout: 240_000, allowFailure: true, env: { ...process.env, S3_OSD_SIZE_GB: '10' } });
    if (r.code !== 0) {
      gate.block(`test/engines/start-s3.sh did not start radosgw (exit ${r.code}): ${r.stderr.slice(-1500)}`);
      return;
    }
    env = Object.fromEntries([...r.stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  }, { timeout: 300_000 });
  after(async () => {
    if (dir === undefined) return;
    await run('bash', [SCRIPT, 'stop', dir], { timeout: 60_000, allowFailure: true });
    await rm(join(dir, '..'), { recursive: true, force: true });
  });
  return engine;
}
