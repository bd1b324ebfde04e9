/**
 * What the file system and LevelDB report, as storage domain errors. The storage
 * layer (fs store, upload files, spool, LevelDB) passes every failure through
 * asStorageError(), so a full disk is StorageFullError (507) and an I/O or
 * resource failure StorageUnavailableError (503), never an anonymous 500.
 *
 * Errors that point at a bug rather than at the storage (ENOENT where a file
 * must exist, EINVAL, a bad LevelDB key, TypeErrors) pass through unchanged and
 * stay 500s, logged with their stack.
 */
import { RegistryError, StorageFullError, StorageUnavailableError } from '../domain/errors.js';

/** errno codes of a volume that has no room left. */
const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** errno codes of a storage that failed or ran out of a resource; retrying later may work. */
const UNAVAILABLE = new Set(['EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'ENOMEM', 'EBUSY', 'ESTALE', 'ENODEV', 'ENXIO', 'ETIMEDOUT']);

/** Error codes of classic-level / abstract-level that mean the database, not the caller, failed. */
const LEVEL_UNAVAILABLE = new Set(['LEVEL_IO_ERROR', 'LEVEL_CORRUPTION', 'LEVEL_DATABASE_NOT_OPEN', 'LEVEL_DATABASE_NOT_CLOSED', 'LEVEL_LOCKED']);

/** LevelDB reports errno only as text (`IO error: <file>: No space left on device`). */
const FULL_TEXT: [RegExp, string][] = [
  [/no space left on device/i, 'ENOSPC'],
  [/disk quota exceeded/i, 'EDQUOT'],
];

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The errno-like reason a full volume is reported with, searching the error and its causes. */
function fullReason(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = codeOf(e);
    if (code !== undefined && FULL.has(code)) return code;
    for (const [pattern, reason] of FULL_TEXT) if (pattern.test(e.message)) return reason;
  }
  return undefined;
}

/**
 * The domain error for a storage failure, or undefined when `err` is not one
 * (a bug, a client going away, an error that is already a domain error).
 */
export function storageFailure(err: unknown): StorageFullError | StorageUnavailableError | undefined {
  if (err instanceof RegistryError || !(err instanceof Error)) return undefined;
  const code = codeOf(err);
  if (code === undefined) return undefined;
  if (!FULL.has(code) && !UNAVAILABLE.has(code) && !LEVEL_UNAVAILABLE.has(code)) return undefined;
  const full = fullReason(err);
  if (full !== undefined) return new StorageFullError(full, { cause: err });
  return new StorageUnavailableError(code, { cause: err });
}

/** `err` as a storage domain error when it is a storage failure, else unchanged. */
export function asStorageError(err: unknown): unknown {
  return storageFailure(err) ?? err;
}

/** Runs `fn`, rethrowing storage failures as domain errors. */
export async function storageIo<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asStorageError(err);
  }
}
