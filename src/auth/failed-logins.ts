/**
 * FailedLogins: wrong credentials counted per client address, two ways:
 *
 *   - per address and user name: after `limit` wrong passwords for one name
 *     within `window`, that address is held back for that name (guessing one
 *     user's password stops; colleagues behind the same NAT are unaffected);
 *   - per address: after `limit × SPRAY_FACTOR` failures for any names, the
 *     address is held back altogether (guessing across many names stops too).
 *
 * A held-back request gets 429 before any password is checked, until the window
 * that began with the first counted failure has passed.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TooManyAttemptsError } from './errors.js';

export const SPRAY_FACTOR = 10;

export class FailedLogins {
  private readonly perUser: RateLimiterMemory;
  private readonly perClient: RateLimiterMemory;

  constructor(private readonly limit: number, windowMs: number) {
    const duration = Math.max(1, Math.ceil(windowMs / 1000));
    this.perUser = new RateLimiterMemory({ points: limit, duration, keyPrefix: 'user' });
    this.perClient = new RateLimiterMemory({ points: limit * SPRAY_FACTOR, duration, keyPrefix: 'client' });
  }

  private static userKey(client: string, user: string): string {
    return `${client}\0${user}`;
  }

  private static async held(limiter: RateLimiterMemory, key: string, limit: number): Promise<void> {
    const state = await limiter.get(key);
    if (state && state.consumedPoints >= limit) throw new TooManyAttemptsError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
  }

  /** Throws TooManyAttemptsError while `client` (or `client` for `user`) is held back. */
  async check(client: string, user?: string): Promise<void> {
    await FailedLogins.held(this.perClient, client, this.limit * SPRAY_FACTOR);
    if (user !== undefined) await FailedLogins.held(this.perUser, FailedLogins.userKey(client, user), this.limit);
  }

  async failed(client: string, user?: string): Promise<void> {
    // consume() rejects once the points are used up: that is the state check() looks at.
    await this.perClient.consume(client).catch(() => undefined);
    if (user !== undefined) await this.perUser.consume(FailedLogins.userKey(client, user)).catch(() => undefined);
  }
}
