/**
 * Authentication and authorisation failures. A 401 carries its challenge (the
 * WWW-Authenticate header the client needs to try again), as Distribution's
 * auth.Challenge does; src/http/oci-errors.ts maps these to statuses.
 */
import { RegistryError } from '../domain/errors.js';

/** Errors that bring their own response headers. */
export interface WithHeaders {
  readonly responseHeaders: Record<string, string>;
}

export class AuthenticationRequiredError extends RegistryError implements WithHeaders {
  override readonly name = 'AuthenticationRequiredError';
  readonly responseHeaders: Record<string, string>;
  constructor(message: string, challenge: string, detail: Record<string, unknown> = {}) {
    super(message, detail);
    this.responseHeaders = { 'WWW-Authenticate': challenge };
  }
}

export class AccessDeniedError extends RegistryError {
  override readonly name = 'AccessDeniedError';
  constructor(readonly what: string) {
    super(`requested access to the resource is denied`, { access: what });
  }
}

export class TooManyAttemptsError extends RegistryError implements WithHeaders {
  override readonly name = 'TooManyAttemptsError';
  readonly responseHeaders: Record<string, string>;
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed login attempts; retry after ${retryAfterSeconds} s`);
    this.responseHeaders = { 'Retry-After': String(retryAfterSeconds) };
  }
}

/** A token request the token service cannot answer (unknown service, bad grant, ...). */
export class TokenRequestError extends RegistryError {
  override readonly name = 'TokenRequestError';
}
