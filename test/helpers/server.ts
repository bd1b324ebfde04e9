/**
 * Test servers: a real unireg listening on 127.0.0.1 (free port), with its
 * storage in a fresh temporary directory, stopped by the test that started it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { replicatedTarget, startReplicatedTestServer } from './replicated-server.js';

export interface TestServer extends RunningServer {
  /** `127.0.0.1:PORT`, as clients name the registry. */
  host: string;
  root: string;
  config: Config;
  /** Stops the server (and keeps the data root). */
  stop(): Promise<void>;
  /** Stops the server and removes its data root. */
  destroy(): Promise<void>;
}

export type Overrides = { [K in keyof ConfigInput]?: Partial<NonNullable<ConfigInput[K]>> };

export async function makeRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'unireg-test-'));
}

/** `logger` replaces the default (silent) one, e.g. to capture log lines. */
export async function startTestServer(overrides: Overrides = {}, root?: string, logger?: Logger): Promise<TestServer> {
  const dataRoot = root ?? (await makeRoot());
  // UNIREG_TEST_REPLICAS: three processes on S3 + PostgreSQL behind nginx instead (test/helpers/replicated-server.ts).
  const replicated = replicatedTarget();
  if (replicated) return startReplicatedTestServer(replicated, overrides, dataRoot);
  const input: Record<string, unknown> = { ...overrides };
  input.http = { addr: '127.0.0.1:0', shutdownGrace: 2, ...overrides.http };
  input.storage = { root: dataRoot, ...overrides.storage };
  input.log = { level: process.env.UNIREG_TEST_LOG ?? 'silent', ...overrides.log };
  const config = configSchema.parse(input);
  const running = await startServer(config, logger ?? pino({ level: config.log.level }));
  const host = new URL(running.url).host;
  return {
    ...running,
    host,
    root: dataRoot,
    config,
    stop: () => running.close(),
    destroy: async () => {
      await running.close();
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
}
