/**
 * HTTP client of one upstream registry, on Node's built-in fetch (undici
 * inside Node; no extra dependency). Authentication follows the upstream's
 * challenge: anonymous until a 401, then Basic with the configured
 * credentials, or Docker's token flow (realm, service and scope from the
 * challenge; the token request carries the credentials as Basic when there are
 * any), with tokens cached per scope until shortly before they expire.
 */
import type { Upstream } from './upstreams.js';
import { parseChallenge, type Challenge } from './challenge.js';
import { TokenCache, type TokenAnswer } from './token-cache.js';
import { UpstreamFailedError, UpstreamUnavailableError } from './errors.js';

/** An upstream that has not sent response headers this long after the request is unavailable. */
export const HEADERS_TIMEOUT_MS = 30_000;
/** A token service request that takes longer fails. */
const TOKEN_TIMEOUT_MS = 30_000;

export interface UpstreamResponse {
  response: Response;
  /** Aborts the request (and its body). */
  abort(reason: Error): void;
}

export class UpstreamClient {
  /** The last challenge the upstream sent; undefined until the first 401 (requests go anonymous). */
  private challenge: Challenge | undefined;
  readonly tokens = new TokenCache();

  constructor(readonly upstream: Upstream) {}

  private get basic(): string | undefined {
    const { username, password } = this.upstream.config;
    return username === '' ? undefined : `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /** `GET|HEAD /v2/<remote>/<path>`, authenticated as the upstream asks; network failures throw UpstreamUnavailableError. */
  async request(method: 'GET' | 'HEAD', remote: string, path: string, accept?: string): Promise<UpstreamResponse> {
    const scope = `repository:${remote}:pull`;
    let answer = await this.send(method, remote, path, accept, await this.authorization(scope));
    if (answer.response.status !== 401) return answer;
    const challenge = parseChallenge(answer.response.headers.get('www-authenticate'));
    await answer.response.body?.cancel().catch(() => undefined);
    if (challenge === undefined) throw new UpstreamFailedError(this.upstream.url, 'answered 401 without a usable Basic or Bearer challenge');
    this.challenge = challenge;
    this.tokens.drop(this.tokenKey(scope));
    answer = await this.send(method, remote, path, accept, await this.authorization(scope));
    if (answer.response.status === 401) {
      await answer.response.body?.cancel().catch(() => undefined);
      throw new UpstreamFailedError(this.upstream.url, 'refused the configured credentials (401)');
    }
    return answer;
  }

  private tokenKey(scope: string): string {
    return this.challenge?.scheme === 'bearer' ? `${this.challenge.realm} ${this.challenge.service ?? ''} ${scope}` : scope;
  }

  private async authorization(scope: string): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') return this.basic;
    const token = await this.tokens.obtain(this.tokenKey(scope), () => this.fetchToken(challenge, scope));
    return `Bearer ${token}`;
  }

  private async fetchToken(challenge: Challenge & { scheme: 'bearer' }, scope: string): Promise<TokenAnswer> {
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basic;
    if (basic !== undefined) headers.authorization = basic;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) });
    } catch (err) {
      throw new UpstreamUnavailableError(this.upstream.url, `token service ${url.origin}: ${causeOf(err)}`);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new UpstreamFailedError(this.upstream.url, `token service answered ${response.status}`);
    }
    try {
      return (await response.json()) as TokenAnswer;
    } catch {
      throw new UpstreamFailedError(this.upstream.url, 'token service answered something other than JSON');
    }
  }

  private async send(method: 'GET' | 'HEAD', remote: string, path: string, accept: string | undefined, authorization: string | undefined): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'user-agent': 'unireg-proxy' };
    if (accept !== undefined) headers.accept = accept;
    if (authorization !== undefined) headers.authorization = authorization;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${HEADERS_TIMEOUT_MS / 1000} s`)), HEADERS_TIMEOUT_MS);
    try {
      const response = await fetch(`${this.upstream.url}/v2/${remote}/${path}`, { method, headers, signal: controller.signal, redirect: 'follow' });
      return { response, abort: (reason) => controller.abort(reason) };
    } catch (err) {
      throw new UpstreamUnavailableError(this.upstream.url, causeOf(err));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The most telling message of a fetch failure (undici wraps the socket error as `cause`). */
export function causeOf(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e?.cause?.code) return `${e.cause.code}${e.cause.message ? `: ${e.cause.message}` : ''}`;
  return e?.cause?.message ?? e?.message ?? String(err);
}
