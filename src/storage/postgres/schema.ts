/**
 * The PostgreSQL schema of the metadata, versioned in its own table and
 * migrated by unireg at start-up (PgKv.open), under an advisory lock so that
 * replicas starting at once migrate one after the other: the first applies
 * what is missing, the others find it applied. Each migration runs in one
 * transaction with the insert of its version row.
 *
 *   unireg_schema  version integer PRIMARY KEY, applied_at   one row per migration applied
 *   unireg_kv      key bytea PRIMARY KEY, value bytea       the SortedKv (src/storage/metadata/keys.ts owns the keys)
 *
 * bytea compares byte-wise (memcmp, shorter prefix first): the UTF-8 order of
 * the keys, which is LevelDB's, whatever the database's collation.
 */
import type pg from 'pg';
import { advisoryKey } from './advisory-key.js';

export const KV_TABLE = 'unireg_kv';
export const SCHEMA_TABLE = 'unireg_schema';

interface Migration {
  version: number;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [{ version: 1, sql: `CREATE TABLE ${KV_TABLE} (key bytea PRIMARY KEY, value bytea NOT NULL)` }];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

const MIGRATION_LOCK = advisoryKey('unireg:schema-migration');

/** The database holds a schema newer than this build knows (a newer unireg migrated it). */
export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
}

/** Applies the missing migrations; returns the versions it applied (none when another replica was first). */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::integer AS v FROM ${SCHEMA_TABLE}`);
      const current = rows[0]!.v;
      if (current > SCHEMA_VERSION) {
        throw new SchemaVersionError(`the metadata schema is at version ${current}; this unireg knows up to ${SCHEMA_VERSION}: upgrade unireg`);
      }
      const applied: number[] = [];
      for (const m of MIGRATIONS.filter((m) => m.version > current)) {
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(`INSERT INTO ${SCHEMA_TABLE} (version) VALUES ($1)`, [m.version]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch((err: Error) => (broken = err));
    }
  } finally {
    // A connection whose unlock failed is dropped, not reused (it may still hold the lock).
    client.release(broken);
  }
}
