/**
 * A throwaway PostgreSQL 15 server per test file, started by the project's own
 * script (test/engines/start-postgres.sh: initdb + pg_ctl from Debian's
 * packages, every file in a temporary directory, TCP on 127.0.0.1 on a free
 * port) and stopped by its PID file in after(). Outside CI a machine without
 * the binaries skips the tests with the reason; under CI they fail.
 *
 *     const pg = usePostgres();             // at the top of the file: before/after hooks
 *     test('...', async (t) => { if (!pg.gate.check(t)) return; const url = await pg.database(); ... });
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from './ports.js';
import { Gate, gateFor, run } from './tools.js';

const SCRIPT = fileURLToPath(new URL('../../../test/engines/start-postgres.sh', import.meta.url));

export interface PostgresServer {
  /** postgresql://postgres:test@127.0.0.1:PORT/test */
  url: string;
  port: number;
  /** The postmaster's PID. */
  pid: number;
  dir: string;
}

/** Starts a server; rejects with the script's output when it cannot. */
export async function startPostgres(): Promise<PostgresServer> {
  const dir = join(tmpdir(), `unireg-pg-${randomUUID().slice(0, 8)}`);
  const port = await freePort();
  const r = await run('bash', [SCRIPT, dir, String(port)], { timeout: 120_000 });
  const url = /PGURL=(\S+)/.exec(r.stdout)?.[1];
  const pid = Number((await readFile(join(dir, 'postgres.pid'), 'utf8')).trim());
  if (url === undefined || !Number.isInteger(pid)) throw new Error(`start-postgres.sh printed no URL:\n${r.stdout}\n${r.stderr}`);
  return { url, port, pid, dir };
}

/** Stops the server by the PID in its directory and removes the directory. */
export async function stopPostgres(server: PostgresServer): Promise<void> {
  await run('bash', [SCRIPT, 'stop', server.dir], { timeout: 60_000, allowFailure: true });
}

/** A URL of the same server with another database. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export interface PostgresFixture {
  gate: Gate;
  server(): PostgresServer;
  /** A fresh, empty database on the file's server; its URL. */
  database(): Promise<string>;
  /** Runs one SQL statement as the superuser (in database `db`, default the server's). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], url?: string): Promise<R[]>;
}

/** One server for the test file: started in before(), stopped in after(); tests check `gate` first. */
export function usePostgres(): PostgresFixture {
  let gate = new Gate('PostgreSQL was not started');
  let server: PostgresServer | undefined;
  let databases = 0;
  const fixture: PostgresFixture = {
    get gate() {
      return gate;
    },
    server: () => {
      if (!server) throw new Error('PostgreSQL is not running');
      return server;
    },
    database: async () => {
      const name = `t${++databases}_${randomUUID().slice(0, 8)}`;
      await fixture.sql(`CREATE DATABASE ${name}`);
      return withDatabase(fixture.server().url, name);
    },
    sql: async <R extends pg.QueryResultRow>(text: string, values: unknown[] = [], url?: string) => {
      const client = new pg.Client({ connectionString: url ?? fixture.server().url });
      await client.connect();
      try {
        return (await client.query<R>(text, values)).rows;
      } finally {
        await client.end();
      }
    },
  };
  before(async () => {
    gate = await gateFor(['bash', 'initdb', 'pg_ctl', 'psql']);
    if (gate.blocked) return;
    try {
      server = await startPostgres();
    } catch (err) {
      gate.block(`PostgreSQL did not start: ${(err as Error).message}`);
    }
  });
  after(async () => {
    if (server) await stopPostgres(server);
  });
  return fixture;
}

/** A fresh, empty database on the server (a superuser URL); its URL. */
export async function createDatabase(serverUrl: string): Promise<string> {
  const name = `d_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
