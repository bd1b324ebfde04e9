/**
 * What the S3 client reports, as storage domain errors: the one place S3 failures are
 * mapped (like ../io-errors.ts for the file system). An unreachable endpoint, a 5xx, a
 * refused signature or credentials, a missing bucket: StorageUnavailableError (503
 * UNAVAILABLE with Retry-After), never a 500. A missing key (404 NoSuchKey/NotFound)
 * passes through for the caller to decide (BlobUnknownError, "absent").
 */
import { RegistryError, StorageUnavailableError } from '../../domain/errors.js';

/** Network failures of the HTTP connection to the endpoint. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);
/** Client-side failures of the SDK that mean "cannot talk to the store". */
const SDK_FAILURES = new Set(['TimeoutError', 'CredentialsProviderError', 'RequestTimeout', 'AbortError']);

interface S3ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function shape(err: unknown): S3ErrorShape {
  return typeof err === 'object' && err !== null ? (err as S3ErrorShape) : {};
}

/** The key (or upload) is not there: the caller decides what that means. */
export function isS3NotFound(err: unknown): boolean {
  const e = shape(err);
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket' && e.name !== 'NoSuchUpload');
}

export function isNoSuchUpload(err: unknown): boolean {
  return shape(err).name === 'NoSuchUpload';
}

/** The domain error for an S3 failure, or undefined when `err` is not one (not found, a bug, a client going away). */
export function s3Failure(err: unknown): StorageUnavailableError | undefined {
  if (err instanceof RegistryError || !(err instanceof Error) || isS3NotFound(err) || isNoSuchUpload(err)) return undefined;
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  if (e.$fault !== undefined || status !== undefined) {
    return new StorageUnavailableError(`s3: ${String(e.name ?? 'error')}${status !== undefined ? ` (HTTP ${status})` : ''}`, { cause: err });
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  if ((code !== undefined && NETWORK.has(code)) || SDK_FAILURES.has(err.name)) {
    return new StorageUnavailableError(`s3: ${code ?? err.name}`, { cause: err });
  }
  for (let c = err.cause, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++) {
    const cc = shape(c).code;
    if (typeof cc === 'string' && NETWORK.has(cc)) return new StorageUnavailableError(`s3: ${cc}`, { cause: err });
  }
  return undefined;
}

/** Runs an S3 call, rethrowing S3 failures as domain errors. */
export async function s3Io<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw s3Failure(err) ?? err;
  }
}

/** Runs an S3 call; undefined when the key is not there. */
export async function s3IfFound<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await s3Io(fn);
  } catch (err) {
    if (isS3NotFound(err)) return undefined;
    throw err;
  }
}
