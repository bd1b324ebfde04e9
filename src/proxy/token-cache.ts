/**
 * Bearer tokens from upstream token services, kept until shortly before they
 * expire, one per upstream and scope. Concurrent requests for one scope share
 * one token request.
 */

/** A token is dropped this long before its stated expiry, so it is never sent stale. */
const MARGIN_MS = 10_000;
/** Docker's token spec: a token without `expires_in` is valid for 60 s. */
const DEFAULT_LIFETIME_S = 60;

interface Entry {
  token: string;
  expiresAt: number;
}

export interface TokenAnswer {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
}

export class TokenCache {
  private readonly tokens = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<string>>();
  /** Token requests made (tests count them). */
  fetched = 0;

  get(key: string, now = Date.now()): string | undefined {
    const entry = this.tokens.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.token;
    this.tokens.delete(key);
    return undefined;
  }

  drop(key: string): void {
    this.tokens.delete(key);
  }

  /** The cached token, or the one `fetch` gets (once for all concurrent callers). */
  async obtain(key: string, fetch: () => Promise<TokenAnswer>): Promise<string> {
    const known = this.get(key);
    if (known !== undefined) return known;
    let job = this.pending.get(key);
    if (job === undefined) {
      job = (async () => {
        this.fetched++;
        const answer = await fetch();
        const token = typeof answer.token === 'string' && answer.token !== '' ? answer.token : answer.access_token;
        if (typeof token !== 'string' || token === '') throw new Error('the token service answered without a token');
        const lifetime = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : DEFAULT_LIFETIME_S;
        this.tokens.set(key, { token, expiresAt: Date.now() + Math.max(lifetime * 1000 - MARGIN_MS, lifetime * 500) });
        return token;
      })().finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return job;
  }
}
