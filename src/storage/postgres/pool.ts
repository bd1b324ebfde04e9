/** The node-postgres pools of the metadata driver: one setting for all of them. */
import pg from 'pg';
import type { Logger } from 'pino';

/** How long a query waits for a pooled connection (or a new one) before it fails with 503. */
const CONNECT_TIMEOUT_MS = 10_000;

export function createPool(url: string, max: number, name: string, log?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: `unireg ${name}`,
  });
  // An idle connection that fails (server restart, network cut) is dropped by the pool; without
  // a listener its 'error' would end the process.
  pool.on('error', (err) => log?.warn({ err, pool: name }, 'idle PostgreSQL connection failed; the pool drops it'));
  return pool;
}

/** A single connection's settings; its application_name is `unireg <name>` (the change feed's is counted by PgKv). */
export function clientConfig(url: string, name: string): pg.ClientConfig {
  return { connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, application_name: `unireg ${name}` };
}
