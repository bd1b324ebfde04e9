/**
 * startTestServer() on shared stores: when UNIREG_TEST_REPLICAS is set (JSON, see
 * ReplicatedTarget), every test server is three `unireg serve` processes on
 * S3 + PostgreSQL behind nginx (test/helpers/replicas.ts), configured with the
 * test's overrides, and the test talks to the balancer. A data root names a
 * PostgreSQL database and an S3 key prefix, so a test that restarts a server on
 * the same root finds its content again. test/e2e/replicas-http.test.ts runs existing
 * HTTP test files this way (through targetReplicas(), with the engines it starts).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { configSchema } from '../../src/config/schema.js';
import type { Registry } from '../../src/registry/registry.js';
import type { S3Settings } from '../../src/storage/s3/client.js';
import { createDatabase } from './postgres.js';
import { startReplicas, type Replicas } from './replicas.js';
import type { Overrides, TestServer } from './server.js';

export const REPLICAS_ENV = 'UNIREG_TEST_REPLICAS';

export interface ReplicatedTarget {
  /** The PostgreSQL server (a database is created per data root). */
  postgresUrl: string;
  /** The bucket (a key prefix is chosen per data root). */
  s3: Omit<S3Settings, 'prefix'>;
  count?: number;
}

let provider: (() => ReplicatedTarget) | undefined;

/**
 * Makes every later startTestServer() of this process a replicated one, on the target `get`
 * returns then (a test file that starts the engines itself: they are up by the time its
 * suites start servers). Wins over UNIREG_TEST_REPLICAS.
 */
export function targetReplicas(get: () => ReplicatedTarget): void {
  provider = get;
}

/** The target set by targetReplicas() or named by UNIREG_TEST_REPLICAS, if any. */
export function replicatedTarget(): ReplicatedTarget | undefined {
  if (provider) return provider();
  const raw = process.env[REPLICAS_ENV];
  return raw === undefined || raw === '' ? undefined : (JSON.parse(raw) as ReplicatedTarget);
}

/** Data root → its shared stores (kept for a restart on the same root). */
const storesOf = new Map<string, { postgresUrl: string; prefix: string }>();
const balancers = new WeakMap<TestServer, Replicas>();

/** The replicas behind a test server started on shared stores. */
export function replicasOf(srv: TestServer): Replicas | undefined {
  return balancers.get(srv);
}


/** The settings of one replicated test server: the test's overrides on the shared stores. */
export async function replicatedConfig(target: ReplicatedTarget, dataRoot: string, overrides: Overrides): Promise<Record<string, unknown>> {
  let stores = storesOf.get(dataRoot);
  if (!stores) {
    stores = { postgresUrl: await createDatabase(target.postgresUrl), prefix: `t-${randomUUID().slice(0, 8)}` };
    storesOf.set(dataRoot, stores);
  }
  return {
    ...overrides,
    http: { addr: '127.0.0.1:0', shutdownGrace: 2, ...overrides.http },
    storage: {
      root: join(dataRoot, 'scratch'),
      blobs: { driver: 's3', s3: { ...target.s3, prefix: stores.prefix } },
      metadata: { driver: 'postgres', postgres: { url: stores.postgresUrl, poolSize: 4 } },
    },
    // serveProcess reads the listening address from the info line.
    log: { level: 'info' },
  };
}

export async function startReplicatedTestServer(target: ReplicatedTarget, overrides: Overrides, dataRoot: string): Promise<TestServer> {
  const input = await replicatedConfig(target, dataRoot, overrides);
  const config = configSchema.parse(input);
  const run = join(dataRoot, `run-${randomUUID().slice(0, 8)}`);
  await mkdir(run, { recursive: true });
  const file = join(run, 'config.json');
  // JSON is YAML: `unireg serve --config` reads it as it is.
  await writeFile(file, JSON.stringify(input));
  const replicas = await startReplicas({ dir: join(run, 'nginx'), config: file, count: target.count ?? 3 });
  const unavailable = (what: string) => (): never => {
    throw new Error(`srv.${what} is in-process only: the test targets replicas (${REPLICAS_ENV})`);
  };
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= replicas.stop());
  const srv: TestServer = {
    url: replicas.url,
    host: replicas.host,
    root: dataRoot,
    config,
    metricsUrl: undefined,
    get server(): Server {
      return unavailable('server')();
    },
    get registry(): Registry {
      return unavailable('registry')();
    },
    close: stop,
    stop,
    destroy: async () => {
      await stop();
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
  balancers.set(srv, replicas);
  return srv;
}
