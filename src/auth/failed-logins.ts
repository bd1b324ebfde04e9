/**
 * FailedLogins: wrong credentials counted per client address. Once a client has
 * sent `limit` wrong ones within `window`, every further attempt from it is
 * refused with 429 (before any password is checked, so guessing stops too) until
 * the window that began with its first failure has passed.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TooManyAttemptsError } from './errors.js';

export class FailedLogins {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly limit: number, windowMs: number) {
    this.limiter = new RateLimiterMemory({ points: limit, duration: Math.max(1, Math.ceil(windowMs / 1000)) });
  }

  /** Throws TooManyAttemptsError while `client` is held back. */
  async check(client: string): Promise<void> {
    const state = await this.limiter.get(client);
    if (state && state.consumedPoints >= this.limit) {
      throw new TooManyAttemptsError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
    }
  }

  async failed(client: string): Promise<void> {
    // Rejects once the points are used up: that is the state check() looks at.
    await this.limiter.consume(client).catch(() => undefined);
  }
}
