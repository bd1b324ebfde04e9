/**
 * SortedKv on PostgreSQL: one bytea key/value table (src/storage/postgres/schema.ts).
 *
 * A batch is ONE statement, so one round trip and one transaction: the batch is
 * reduced to the last operation per key (what applying it in order leaves), then
 * deletes and upserts go as arrays through unnest in data-modifying CTEs, and
 * the change notifications (`announce`, see src/storage/metadata/change-feed.ts)
 * are sent with pg_notify in the same statement: PostgreSQL delivers them only if,
 * and when, the transaction commits, in commit order. The same statement counts
 * the replicas listening for them (their sessions' application_name), which the
 * announcement may wait for to acknowledge (src/storage/postgres/change-listener.ts).
 *
 * Durable batches (the default) commit with the server's synchronous_commit
 * (on, unless the operator chose otherwise); a non-durable batch sets it off for
 * its own transaction (set_config(..., true)): it may be lost on a server crash,
 * never half-applied.
 *
 * Every failure is a storage domain error (src/storage/postgres/pg-errors.ts):
 * 503 when the database cannot be reached or fails, 507 when its disk is full.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { StorageUnavailableError } from '../../domain/errors.js';
import type { KvOp, KvRange, SortedKv } from '../kv.js';
import { pgIo } from './pg-errors.js';
import { createPool } from './pool.js';
import { KV_TABLE, migrate } from './schema.js';

/** The channel change notifications go to (LISTENed by src/storage/postgres/change-listener.ts). */
export const CHANGES_CHANNEL = 'unireg_changes';

export interface PgKvOptions {
  url: string;
  poolSize: number;
  log?: Logger;
  /** How a batch is announced to the replicas; none: no notification. */
  announce?: (ops: readonly KvOp[]) => Announcement;
}

export interface Announcement {
  /** Notification payloads (each shorter than 8000 bytes), sent in the batch's transaction. */
  messages: string[];
  /**
   * Called once the batch is settled: with the number of change-feed listeners connected
   * when it committed, or undefined when it failed. Awaited before batch() resolves; its
   * failure never makes a committed batch fail.
   */
  settle?: (listeners: number | undefined) => Promise<void>;
}

/** The application_name of every replica's change-feed connection (src/storage/postgres/pool.ts names it). */
export const LISTENER_NAME = 'unireg changes';

const upsert = `INSERT INTO ${KV_TABLE} (key, value) SELECT k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value RETURNING 1`;
const BATCH = (durable: boolean) => `WITH
  d AS (DELETE FROM ${KV_TABLE} WHERE key = ANY($1::bytea[]) RETURNING 1),
  u AS (${upsert}),
  n AS (SELECT pg_notify('${CHANGES_CHANNEL}', p) FROM unnest($4::text[]) AS p)${durable ? '' : `,
  s AS (SELECT set_config('synchronous_commit', 'off', true))`}
SELECT (SELECT count(*) FROM n)${durable ? '' : ' + (SELECT count(*) FROM s)'} AS notified,
  (SELECT count(*)::integer FROM pg_stat_activity WHERE application_name = '${LISTENER_NAME}' AND datname = current_database()) AS listeners`;
const DURABLE_BATCH = BATCH(true);
const LAZY_BATCH = BATCH(false);

const key = (k: string) => Buffer.from(k, 'utf8');

export class PgKv implements SortedKv {
  private pool: pg.Pool | undefined;

  constructor(private readonly options: PgKvOptions) {}

  /** Connects and brings the schema up to date (one replica at a time). */
  async open(): Promise<void> {
    if (this.pool) return;
    const pool = createPool(this.options.url, this.options.poolSize, 'metadata', this.options.log);
    try {
      const applied = await pgIo(() => migrate(pool));
      if (applied.length > 0) this.options.log?.info({ versions: applied }, 'PostgreSQL metadata schema migrated');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    this.pool = pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  async get(k: string): Promise<Buffer | undefined> {
    const { rows } = await this.query<{ value: Buffer }>(`SELECT value FROM ${KV_TABLE} WHERE key = $1`, [key(k)]);
    return rows[0]?.value;
  }

  async batch(ops: KvOp[], options: { durable?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    const last = new Map<string, KvOp>();
    for (const op of ops) {
      last.delete(op.key);
      last.set(op.key, op);
    }
    const dels: Buffer[] = [];
    const putKeys: Buffer[] = [];
    const putValues: Buffer[] = [];
    for (const op of last.values()) {
      if (op.type === 'del') dels.push(key(op.key));
      else {
        putKeys.push(key(op.key));
        putValues.push(op.value);
      }
    }
    const announcement = this.options.announce?.(ops);
    let listeners: number | undefined;
    try {
      const { rows } = await this.query<{ listeners: number }>(options.durable ?? true ? DURABLE_BATCH : LAZY_BATCH, [
        dels,
        putKeys,
        putValues,
        announcement?.messages ?? [],
      ]);
      listeners = rows[0]?.listeners ?? 0;
    } finally {
      await announcement?.settle?.(listeners).catch((err: unknown) => this.options.log?.warn({ err }, 'after-commit step failed'));
    }
  }

  async entries(range: KvRange): Promise<[string, Buffer][]> {
    const { rows } = await this.range<{ key: Buffer; value: Buffer }>('key, value', range);
    return rows.map((r) => [r.key.toString('utf8'), r.value]);
  }

  async keys(range: KvRange): Promise<string[]> {
    const { rows } = await this.range<{ key: Buffer }>('key', range);
    return rows.map((r) => r.key.toString('utf8'));
  }

  private range<R extends pg.QueryResultRow>(columns: string, range: KvRange): Promise<pg.QueryResult<R>> {
    // LIMIT NULL is no limit.
    return this.query<R>(`SELECT ${columns} FROM ${KV_TABLE} WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3`, [
      key(range.gt),
      key(range.lt),
      range.limit ?? null,
    ]);
  }

  private query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const pool = this.pool;
    if (!pool) return Promise.reject(new StorageUnavailableError('POSTGRES_NOT_OPEN'));
    return pgIo(() => pool.query<R>(text, values));
  }
}
