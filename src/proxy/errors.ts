/**
 * Domain errors of the pull-through cache. HTTP-free like src/domain/errors.ts:
 * src/http/oci-errors.ts maps each to its OCI code and status.
 */
import { RegistryError } from '../domain/errors.js';

/** The upstream could not be reached or did not answer in time, and nothing is cached to serve instead (503). */
export class UpstreamUnavailableError extends RegistryError {
  override readonly name = 'UpstreamUnavailableError';
  constructor(readonly upstream: string, readonly reason: string) {
    super(`upstream ${upstream} is unavailable and nothing is cached for this request: ${reason}`, { upstream, reason });
  }
}

/** The upstream answered with an error or with content that fails verification (502). */
export class UpstreamFailedError extends RegistryError {
  override readonly name = 'UpstreamFailedError';
  constructor(readonly upstream: string, readonly reason: string, detail: Record<string, unknown> = {}) {
    super(`upstream ${upstream} failed: ${reason}`, { upstream, reason, ...detail });
  }
}

/** A push into a repository under a proxied prefix, while `proxy.allowPush` is off (403 DENIED). */
export class ProxyPushRefusedError extends RegistryError {
  override readonly name = 'ProxyPushRefusedError';
  constructor(readonly repo: string, readonly prefix: string) {
    super(`repository ${repo} is a pull-through cache (proxy prefix ${prefix}): pushes are refused unless proxy.allowPush is set`, {
      name: repo,
      prefix,
    });
  }
}
