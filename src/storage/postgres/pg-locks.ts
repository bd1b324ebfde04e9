/**
 * Locks across replicas: PostgreSQL session-level advisory locks
 * (src/registry/locks.ts is the contract and the in-process implementation).
 *
 * A key is first taken in process (a KeyedMutex, as InProcessLocks does), so a
 * replica never holds or waits for one key twice. Then the advisory lock
 * (advisoryKey: first 8 bytes of sha256(key)):
 *   - uncontended (the usual case): pg_try_advisory_lock on this replica's one
 *     lock session succeeds, and the lock stays on that session until released:
 *     one round trip, no connection held per holder;
 *   - held by another replica: a connection from the small wait pool blocks in
 *     pg_advisory_lock until it is free, and holds it until released.
 * run/runAll take their keys one by one in lockOrder; tryRun only tries
 * (pg_try_advisory_lock) and says "not now" when another replica holds it.
 * As in InProcessLocks, run keys and tryRun names are separate spaces.
 *
 * A dead replica's locks die with its connections (the server ends a session
 * whose client is gone). Equally, a lock session that this replica loses
 * (server restart, network cut) loses the locks on it: holders in flight are
 * then only held in process until they finish; new holders use a new session.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { StorageUnavailableError } from '../../domain/errors.js';
import { KeyedMutex } from '../../registry/keyed-mutex.js';
import { lockOrder, type Locks, type TryRunResult } from '../../registry/locks.js';
import { advisoryKey } from './advisory-key.js';
import { pgIo } from './pg-errors.js';
import { clientConfig, createPool } from './pool.js';

export interface PgLocksOptions {
  url: string;
  /** Connections that may wait for locks other replicas hold, at once. */
  waitPoolSize: number;
  log?: Logger;
}

type Release = () => Promise<void>;

export class PgLocks implements Locks {
  private readonly mutex = new KeyedMutex();
  private readonly exclusive = new Set<string>();
  private readonly waiters: pg.Pool;
  private session: Promise<pg.Client> | undefined;
  private closed = false;

  constructor(private readonly options: PgLocksOptions) {
    this.waiters = createPool(options.url, options.waitPoolSize, 'lock-wait', options.log);
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, () => this.holding(`run:${key}`, fn));
  }

  runAll<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const ordered = lockOrder(keys);
    const take = (i: number): Promise<T> => (i === ordered.length ? fn() : this.run(ordered[i]!, () => take(i + 1)));
    return take(0);
  }

  async tryRun<T>(name: string, fn: () => Promise<T>): Promise<TryRunResult<T>> {
    if (this.exclusive.has(name)) return { acquired: false };
    this.exclusive.add(name);
    try {
      const release = await this.tryAcquire(advisoryKey(`try:${name}`));
      if (release === undefined) return { acquired: false };
      try {
        return { acquired: true, value: await fn() };
      } finally {
        await release();
      }
    } finally {
      this.exclusive.delete(name);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    await session?.then((c) => c.end()).catch(() => undefined);
    await this.waiters.end();
  }

  private async holding<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const id = advisoryKey(name);
    const release = (await this.tryAcquire(id)) ?? (await this.wait(id));
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Takes the lock on the lock session if it is free; undefined when another session holds it. */
  private async tryAcquire(id: string): Promise<Release | undefined> {
    const client = await this.lockSession();
    const { rows } = await pgIo(() => client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [id]));
    if (!rows[0]?.ok) return undefined;
    return async () => {
      // A session that died meanwhile took the lock with it.
      await client.query('SELECT pg_advisory_unlock($1)', [id]).catch((err: unknown) => this.sessionFailed(client, err));
    };
  }

  /** Waits for the lock on a connection of its own, which holds it until released. */
  private async wait(id: string): Promise<Release> {
    const client = await pgIo(() => this.waiters.connect());
    try {
      await pgIo(() => client.query('SELECT pg_advisory_lock($1)', [id]));
    } catch (err) {
      client.release(true);
      throw err;
    }
    return async () => {
      try {
        await client.query('SELECT pg_advisory_unlock($1)', [id]);
        client.release();
      } catch (err) {
        // Never pooled again: it may still hold the lock.
        client.release(err instanceof Error ? err : true);
      }
    };
  }

  private lockSession(): Promise<pg.Client> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('POSTGRES_NOT_OPEN'));
    if (this.session) return this.session;
    const client = new pg.Client(clientConfig(this.options.url, 'locks'));
    client.on('error', (err) => this.sessionFailed(client, err));
    client.on('end', () => this.sessionFailed(client, undefined));
    const session = pgIo(async () => {
      await client.connect();
      return client;
    });
    this.session = session;
    session.catch(() => {
      if (this.session === session) this.session = undefined;
    });
    return session;
  }

  private sessionFailed(client: pg.Client, err: unknown): void {
    const current = this.session;
    if (!current) return;
    void current.then(
      (c) => {
        if (c !== client || this.session !== current) return;
        this.session = undefined;
        if (!this.closed) this.options.log?.warn({ err }, 'PostgreSQL lock session lost: the locks on it are released; a new session takes the next ones');
        client.end().catch(() => undefined);
      },
      () => undefined,
    );
  }
}
