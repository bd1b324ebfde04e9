/**
 * Domain errors thrown by the oci/, storage/ and registry/ layers. They know
 * nothing of HTTP: src/http/oci-errors.ts maps each one to its OCI code and
 * status. Messages are built from typed fields so logs stay structured.
 */
export abstract class RegistryError extends Error {
  /** Extra machine-readable context, rendered as the OCI error's `detail`. */
  readonly detail: Record<string, unknown>;
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super(message);
    this.detail = detail;
  }
}

export class DigestInvalidError extends RegistryError {
  override readonly name = 'DigestInvalidError';
  constructor(readonly value: string, readonly reason: string) {
    super(`invalid digest: ${reason}`, { digest: value });
  }
}

export class DigestMismatchError extends RegistryError {
  override readonly name = 'DigestMismatchError';
  constructor(readonly expected: string, readonly actual: string) {
    super('provided digest did not match uploaded content', { expected, actual });
  }
}

export class NameInvalidError extends RegistryError {
  override readonly name = 'NameInvalidError';
  constructor(readonly value: string) {
    super('invalid repository name', { name: value });
  }
}

export class NameUnknownError extends RegistryError {
  override readonly name = 'NameUnknownError';
  constructor(readonly repo: string) {
    super('repository name not known to registry', { name: repo });
  }
}

export class TagInvalidError extends RegistryError {
  override readonly name = 'TagInvalidError';
  constructor(readonly value: string) {
    super('invalid tag', { tag: value });
  }
}

export class BlobUnknownError extends RegistryError {
  override readonly name = 'BlobUnknownError';
  constructor(readonly digest: string) {
    super('blob unknown to registry', { digest });
  }
}

export class BlobUploadUnknownError extends RegistryError {
  override readonly name = 'BlobUploadUnknownError';
  constructor(readonly id: string) {
    super('blob upload unknown to registry', { uuid: id });
  }
}

export class BlobUploadInvalidError extends RegistryError {
  override readonly name = 'BlobUploadInvalidError';
  constructor(readonly reason: string, detail: Record<string, unknown> = {}) {
    super(`blob upload invalid: ${reason}`, detail);
  }
}

/** A chunk that does not start where the session stands; the session stays usable. */
export class UploadRangeError extends RegistryError {
  override readonly name = 'UploadRangeError';
  constructor(readonly repo: string, readonly id: string, readonly offset: number, readonly requestedStart: number) {
    super('chunk does not start at the current upload offset', { offset, start: requestedStart });
  }
}

export class UploadBusyError extends RegistryError {
  override readonly name = 'UploadBusyError';
  constructor(readonly id: string) {
    super('another request is writing to this upload session', { uuid: id });
  }
}

export class SizeInvalidError extends RegistryError {
  override readonly name = 'SizeInvalidError';
  constructor(reason: string, detail: Record<string, unknown> = {}) {
    super(`content length does not match: ${reason}`, detail);
  }
}

export class RangeNotSatisfiableError extends RegistryError {
  override readonly name = 'RangeNotSatisfiableError';
  constructor(readonly size: number) {
    super('requested range not satisfiable', { size });
  }
}

export class ManifestUnknownError extends RegistryError {
  override readonly name = 'ManifestUnknownError';
  constructor(readonly reference: string, detail: Record<string, unknown> = {}) {
    super('manifest unknown to registry', { reference, ...detail });
  }
}

export class ManifestInvalidError extends RegistryError {
  override readonly name = 'ManifestInvalidError';
  constructor(readonly reason: string) {
    super(`manifest invalid: ${reason}`, { reason });
  }
}

export class ManifestTooLargeError extends RegistryError {
  override readonly name = 'ManifestTooLargeError';
  constructor(readonly limit: number) {
    super(`manifest exceeds the ${limit} byte limit`, { limit });
  }
}

export class ManifestBlobUnknownError extends RegistryError {
  override readonly name = 'ManifestBlobUnknownError';
  constructor(readonly digest: string) {
    super('manifest references a manifest or blob unknown to the repository', { digest });
  }
}

export class UnsupportedError extends RegistryError {
  override readonly name = 'UnsupportedError';
  constructor(reason: string) {
    super(`the operation is unsupported: ${reason}`);
  }
}

export class MethodNotAllowedError extends RegistryError {
  override readonly name = 'MethodNotAllowedError';
  constructor(readonly method: string, readonly allowed: readonly string[]) {
    super(`method ${method} is not allowed here`, { allowed });
  }
}

export class RouteUnknownError extends RegistryError {
  override readonly name = 'RouteUnknownError';
  constructor(readonly path: string) {
    super('no such endpoint', { path });
  }
}

export class PaginationInvalidError extends RegistryError {
  override readonly name = 'PaginationInvalidError';
  constructor(readonly value: string) {
    super('invalid number of results requested', { n: value });
  }
}

/** A request whose shape is wrong (malformed multipart or JSON body, missing part). */
export class RequestInvalidError extends RegistryError {
  override readonly name = 'RequestInvalidError';
}

/** The immutableTags rule that protects a tag, as the error detail shows it. */
export interface ImmutableRuleRef {
  repository: string;
  tags: readonly string[];
}

/**
 * A push, pack, merge or delete that would move or remove an immutable tag
 * (config `immutableTags`). `action` says what was refused: moving the tag,
 * deleting it, or deleting by digest the manifest it points at.
 */
export class TagImmutableError extends RegistryError {
  override readonly name = 'TagImmutableError';
  constructor(
    readonly repo: string,
    readonly tag: string,
    readonly digest: string,
    readonly action: 'overwrite' | 'delete' | 'delete-manifest',
    readonly rule: ImmutableRuleRef,
  ) {
    const why = `immutableTags rule for ${JSON.stringify(rule.repository)}`;
    const message =
      action === 'overwrite'
        ? `tag ${tag} of ${repo} is immutable (${why}): it points at ${digest} and cannot be moved to another manifest`
        : action === 'delete'
          ? `tag ${tag} of ${repo} is immutable (${why}): it cannot be deleted`
          : `manifest ${digest} of ${repo} is the target of immutable tag ${tag} (${why}): it cannot be deleted`;
    super(message, { repository: repo, tag, digest, action, rule: { repository: rule.repository, tags: [...rule.tags] } });
  }
}

/**
 * The storage volume is full (ENOSPC) or the quota is used up (EDQUOT): nothing
 * was stored, writes fail until space is freed, reads keep working. Raised by
 * the storage layer only (src/storage/io-errors.ts); answered 507.
 */
export class StorageFullError extends RegistryError {
  override readonly name = 'StorageFullError';
  /** Seconds a client should wait: freeing space is an operator's job, not a moment's. */
  static readonly RETRY_AFTER_S = 60;
  readonly responseHeaders: Record<string, string> = { 'Retry-After': String(StorageFullError.RETRY_AFTER_S) };
  constructor(readonly reason: string, options: { cause?: unknown } = {}) {
    super('no space left on the storage volume', { reason });
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * The storage could not do its job for a reason that is not the request's
 * fault and may pass (I/O error, read-only or unreadable volume, out of file
 * descriptors, a LevelDB that failed or is closed). Answered 503.
 */
export class StorageUnavailableError extends RegistryError {
  override readonly name = 'StorageUnavailableError';
  static readonly RETRY_AFTER_S = 10;
  readonly responseHeaders: Record<string, string> = { 'Retry-After': String(StorageUnavailableError.RETRY_AFTER_S) };
  constructor(readonly reason: string, options: { cause?: unknown } = {}) {
    super('storage temporarily unavailable', { reason });
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** The data file of an upload session cannot be brought to the session's offset (a storage failure). */
export class UploadDataError extends RegistryError {
  override readonly name = 'UploadDataError';
  constructor(readonly id: string, readonly reason: string, readonly failure?: unknown) {
    super(`upload data unusable: ${reason}`, { uuid: id });
  }
}

/** Storing this content would take a quota namespace over its limit. */
export class QuotaExceededError extends RegistryError {
  override readonly name = 'QuotaExceededError';
  constructor(readonly namespace: string, readonly used: number, readonly limit: number, readonly requested: number) {
    super(`quota exceeded: repositories ${namespace} use ${used} of ${limit} bytes; this needs ${requested} more`, {
      namespace,
      used,
      limit,
      requested,
    });
  }
}

/**
 * The server is at a limit it keeps to stay responsive (request bodies in memory,
 * password checks waiting, open connections): the client should retry shortly.
 */
export class OverloadedError extends RegistryError {
  override readonly name = 'OverloadedError';
  readonly responseHeaders: Record<string, string>;
  constructor(readonly what: string, readonly retryAfterSeconds = 1, detail: Record<string, unknown> = {}) {
    super(`server busy: ${what}; retry after ${retryAfterSeconds} s`, detail);
    this.responseHeaders = { 'Retry-After': String(retryAfterSeconds) };
  }
}

/** A request body that received nothing for the idle timeout: the request is cut off (never answered). */
export class BodyTimeoutError extends RegistryError {
  override readonly name = 'BodyTimeoutError';
  constructor(readonly idleMs: number) {
    super(`request body idle for ${idleMs} ms`, { idleMs });
  }
}

/** A garbage collection was asked for while one is running (one GC at a time). */
export class GcRunningError extends RegistryError {
  override readonly name = 'GcRunningError';
  constructor() {
    super('a garbage collection is already running: try again when it has finished');
  }
}

/** A garbage collection stopped before it finished because the server is shutting down. */
export class GcStoppedError extends RegistryError {
  override readonly name = 'GcStoppedError';
  constructor() {
    super('the garbage collection stopped early: the server is shutting down');
  }
}
