/**
 * The one table from domain errors to OCI error codes and HTTP statuses, and
 * the rendering of the spec's JSON envelope.
 */
import type { WithHeaders } from '../auth/errors.js';
import type { RegistryError } from '../domain/errors.js';
import { UploadRangeError, RangeNotSatisfiableError, MethodNotAllowedError } from '../domain/errors.js';
import { uploadLocation, uploadRange } from './locations.js';

interface Mapping {
  code: string;
  status: number;
}

const TABLE: Record<string, Mapping> = {
  DigestInvalidError: { code: 'DIGEST_INVALID', status: 400 },
  DigestMismatchError: { code: 'DIGEST_INVALID', status: 400 },
  NameInvalidError: { code: 'NAME_INVALID', status: 400 },
  NameUnknownError: { code: 'NAME_UNKNOWN', status: 404 },
  TagInvalidError: { code: 'TAG_INVALID', status: 400 },
  BlobUnknownError: { code: 'BLOB_UNKNOWN', status: 404 },
  BlobUploadUnknownError: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404 },
  BlobUploadInvalidError: { code: 'BLOB_UPLOAD_INVALID', status: 400 },
  UploadRangeError: { code: 'BLOB_UPLOAD_INVALID', status: 416 },
  UploadBusyError: { code: 'BLOB_UPLOAD_INVALID', status: 409 },
  SizeInvalidError: { code: 'SIZE_INVALID', status: 400 },
  RangeNotSatisfiableError: { code: 'RANGE_INVALID', status: 416 },
  ManifestUnknownError: { code: 'MANIFEST_UNKNOWN', status: 404 },
  ManifestInvalidError: { code: 'MANIFEST_INVALID', status: 400 },
  ManifestTooLargeError: { code: 'MANIFEST_INVALID', status: 413 },
  ManifestBlobUnknownError: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400 },
  UnsupportedError: { code: 'UNSUPPORTED', status: 405 },
  MethodNotAllowedError: { code: 'UNSUPPORTED', status: 405 },
  RouteUnknownError: { code: 'NOT_FOUND', status: 404 },
  PaginationInvalidError: { code: 'PAGINATION_NUMBER_INVALID', status: 400 },
  RequestInvalidError: { code: 'BAD_REQUEST', status: 400 },
  UnikernelInputError: { code: 'MANIFEST_INVALID', status: 400 },
  TagExistsError: { code: 'TAG_EXISTS', status: 409 },
  AuthenticationRequiredError: { code: 'UNAUTHORIZED', status: 401 },
  AccessDeniedError: { code: 'DENIED', status: 403 },
  TooManyAttemptsError: { code: 'TOOMANYREQUESTS', status: 429 },
  TokenRequestError: { code: 'BAD_REQUEST', status: 400 },
  TagImmutableError: { code: 'DENIED', status: 409 },
  // No OCI code fits a storage failure; UNAVAILABLE is Distribution's registered code for 503
  // ("service unavailable"), which docker and containerd print as "unavailable: <message>".
  StorageFullError: { code: 'UNAVAILABLE', status: 507 },
  StorageUnavailableError: { code: 'UNAVAILABLE', status: 503 },
  UploadDataError: { code: 'BLOB_UPLOAD_INVALID', status: 500 },
  QuotaExceededError: { code: 'DENIED', status: 403 },
  BudgetExceededError: { code: 'DENIED', status: 403 },
  OverloadedError: { code: 'TOOMANYREQUESTS', status: 503 },
  // The connection is closed with the request: this status is only what the log shows.
  BodyTimeoutError: { code: 'BAD_REQUEST', status: 408 },
  GcRunningError: { code: 'GC_IN_PROGRESS', status: 409 },
  GcStoppedError: { code: 'UNAVAILABLE', status: 503 },
  // The pull-through cache (src/proxy/errors.ts): upstream down with nothing cached, upstream wrong, push refused.
  UpstreamUnavailableError: { code: 'UNAVAILABLE', status: 503 },
  UpstreamFailedError: { code: 'UNAVAILABLE', status: 502 },
  ProxyPushRefusedError: { code: 'DENIED', status: 403 },
};

/** Mapped errors an operator must hear about: logged as errors (with their cause), not as refusals. */
const SERVER_FAULTS = new Set(['StorageFullError', 'StorageUnavailableError', 'UploadDataError']);

/** Codes for errors raised by Koa itself (http-errors), by status. */
const BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'UNSUPPORTED',
  413: 'SIZE_INVALID',
  415: 'UNSUPPORTED',
};

export interface OciErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { errors: { code: string; message: string; detail?: unknown }[] };
  /** Whether this is the server's fault (logged as an error): a bug, or a storage failure. */
  internal: boolean;
}

function headersFor(err: Error): Record<string, string> {
  const own = (err as Partial<WithHeaders>).responseHeaders;
  if (own) return { ...own };
  if (err instanceof UploadRangeError) {
    return {
      Location: uploadLocation(err.repo, err.id),
      Range: uploadRange(err.offset),
      'Docker-Upload-UUID': err.id,
    };
  }
  if (err instanceof RangeNotSatisfiableError) return { 'Content-Range': `bytes */${err.size}` };
  if (err instanceof MethodNotAllowedError) return { Allow: err.allowed.join(', ') };
  return {};
}

/** A request body that ended early: the client went away mid-upload. */
export function isClientAbort(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted';
}

function envelope(code: string, message: string, detail?: unknown): OciErrorResponse['body'] {
  return { errors: [detail === undefined ? { code, message } : { code, message, detail }] };
}

export function toOciError(err: unknown): OciErrorResponse {
  const e = err as Error & { status?: number; expose?: boolean; headers?: Record<string, string> };
  const mapped = e && typeof e.name === 'string' ? TABLE[e.name] : undefined;
  if (mapped) {
    const detail = (e as RegistryError).detail;
    return {
      status: mapped.status,
      headers: headersFor(e),
      body: envelope(mapped.code, e.message, detail && Object.keys(detail).length > 0 ? detail : undefined),
      internal: SERVER_FAULTS.has(e.name),
    };
  }
  if (isClientAbort(err)) {
    return { status: 400, headers: {}, body: envelope('BLOB_UPLOAD_INVALID', 'request body ended early'), internal: false };
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    const code = BY_STATUS[e.status] ?? 'BAD_REQUEST';
    return { status: e.status, headers: e.headers ?? {}, body: envelope(code, e.expose ? e.message : code), internal: false };
  }
  return { status: 500, headers: {}, body: envelope('UNKNOWN', 'internal server error'), internal: true };
}
