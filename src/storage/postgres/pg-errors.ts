/**
 * What the PostgreSQL client reports, as storage domain errors: the one place
 * that maps them (the PostgreSQL counterpart of src/storage/io-errors.ts).
 *
 * Every failure of a metadata query is the database's or the network's, never
 * the request's (keys and values are passed as parameters, the SQL is fixed):
 * a disk-full SQLSTATE (53100) is StorageFullError (507); anything else the
 * client or the server reports (refused or lost connection, pool timeout,
 * server shutting down, too many connections, read-only standby, serialisation
 * failure, an unknown table after someone dropped it...) is
 * StorageUnavailableError (503, Retry-After) with the SQLSTATE or errno code as
 * its reason, and the original error as its cause (logged by the HTTP layer).
 * A schema newer than this build (SchemaVersionError) stops start-up as itself.
 */
import { RegistryError, StorageFullError, StorageUnavailableError } from '../../domain/errors.js';
import { SchemaVersionError } from './schema.js';

/** SQLSTATEs of a server that ran out of disk. */
const FULL = new Set(['53100']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

/** The domain error for a failure of a PostgreSQL call (any Error that is not already a domain error). */
export function pgFailure(err: unknown): StorageFullError | StorageUnavailableError | undefined {
  if (err instanceof RegistryError || err instanceof SchemaVersionError) return undefined;
  if (!(err instanceof Error)) return new StorageUnavailableError('POSTGRES_ERROR', { cause: err });
  const code = codeOf(err);
  if (code !== undefined && FULL.has(code)) return new StorageFullError(`POSTGRES_${code}`, { cause: err });
  // node-postgres reports a lost connection or a pool timeout as a plain Error without a code.
  return new StorageUnavailableError(code === undefined ? 'POSTGRES_CONNECTION' : `POSTGRES_${code}`, { cause: err });
}

/** Runs `fn`, rethrowing PostgreSQL failures as domain errors. */
export async function pgIo<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw pgFailure(err) ?? err;
  }
}
