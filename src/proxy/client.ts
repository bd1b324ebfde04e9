/**
 * HTTP client of one upstream registry, on undici's `request()` (Node.js
 * streams, no WHATWG stream copies: see the README's dependency table).
 * Authentication follows the upstream's challenge: anonymous until a 401,
 * then Basic with the configured credentials, or Docker's token flow (realm,
 * service and scope from the challenge; the token request carries the
 * credentials as Basic when there are any), with tokens cached per scope
 * until shortly before they expire. Redirects (blob downloads from object
 * stores) are followed; undici drops Authorization when one leaves the origin.
 */
import type { Readable } from 'node:stream';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import type { Upstream } from './upstreams.js';
import { parseChallenge, type Challenge } from './challenge.js';
import { TokenCache, type TokenAnswer } from './token-cache.js';
import { UpstreamFailedError, UpstreamUnavailableError } from './errors.js';

/** An upstream that has not sent response headers this long after the request is unavailable. */
export const HEADERS_TIMEOUT_MS = 30_000;
/** An upstream body that delivers nothing this long is abandoned. */
export const BODY_IDLE_MS = 60_000;
const MAX_REDIRECTS = 5;

export interface UpstreamResponse {
  status: number;
  header(name: string): string | undefined;
  body: Readable;
  /** Ends the response early (its body errors with `reason`). */
  abort(reason: Error): void;
  /** Reads and drops the body (so the connection can be reused). */
  discard(): Promise<void>;
}

/** One connection pool for every upstream, following redirects. */
const dispatcher: Dispatcher = new Agent({ headersTimeout: HEADERS_TIMEOUT_MS, bodyTimeout: BODY_IDLE_MS }).compose(
  interceptors.redirect({ maxRedirections: MAX_REDIRECTS }),
);

function wrap(answer: Dispatcher.ResponseData): UpstreamResponse {
  const { statusCode, headers, body } = answer;
  return {
    status: statusCode,
    header: (name) => {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    },
    body,
    abort: (reason) => body.destroy(reason),
    discard: () => body.dump().catch(() => undefined),
  };
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
    if (answer.status !== 401) return answer;
    const challenge = parseChallenge(answer.header('www-authenticate'));
    await answer.discard();
    if (challenge === undefined) throw new UpstreamFailedError(this.upstream.url, 'answered 401 without a usable Basic or Bearer challenge');
    this.challenge = challenge;
    this.tokens.drop(this.tokenKey(scope));
    answer = await this.send(method, remote, path, accept, await this.authorization(scope));
    if (answer.status === 401) {
      await answer.discard();
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
    const headers: Record<string, string> = { 'user-agent': 'unireg-proxy' };
    const basic = this.basic;
    if (basic !== undefined) headers.authorization = basic;
    let answer: UpstreamResponse;
    try {
      answer = wrap(await request(url, { headers, dispatcher }));
    } catch (err) {
      throw new UpstreamUnavailableError(this.upstream.url, `token service ${url.origin}: ${causeOf(err)}`);
    }
    if (answer.status !== 200) {
      await answer.discard();
      throw new UpstreamFailedError(this.upstream.url, `token service answered ${answer.status}`);
    }
    try {
      return (await (answer.body as Readable & { json(): Promise<unknown> }).json()) as TokenAnswer;
    } catch {
      throw new UpstreamFailedError(this.upstream.url, 'token service answered something other than JSON');
    }
  }

  private async send(method: 'GET' | 'HEAD', remote: string, path: string, accept: string | undefined, authorization: string | undefined): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'user-agent': 'unireg-proxy' };
    if (accept !== undefined) headers.accept = accept;
    if (authorization !== undefined) headers.authorization = authorization;
    try {
      return wrap(await request(`${this.upstream.url}/v2/${remote}/${path}`, { method, headers, dispatcher }));
    } catch (err) {
      throw new UpstreamUnavailableError(this.upstream.url, causeOf(err));
    }
  }
}

/** The most telling message of a request failure (socket errors may come wrapped as `cause`). */
export function causeOf(err: unknown): string {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  if (e?.cause?.code) return `${e.cause.code}${e.cause.message ? `: ${e.cause.message}` : ''}`;
  if (e?.code) return `${e.code}${e.message ? `: ${e.message}` : ''}`;
  return e?.message ?? String(err);
}
