/**
 * Who is using the UI, and the CSRF guard of its POST actions.
 *
 * The UI takes the same users and rules as the API: the browser's Basic prompt
 * (a 401 challenge on /ui) in `auth.mode: basic`; everyone in `none`. Token mode
 * has no passwords on each request, so the UI explains that and stops.
 *
 * Browsers send Basic credentials with cross-site requests too, so a POST must
 * come from this origin (Origin header, or Sec-Fetch-Site: same-origin) and
 * carry the form token: an HMAC of the user's name under a key made at start.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { AccessDeniedError } from '../auth/errors.js';
import type { Authenticator, Caller } from '../auth/authenticator.js';
import type { Need } from '../auth/scope.js';
import { identityOf } from '../http/guard.js';
import { UnsupportedError } from '../domain/errors.js';

export class UiSessions {
  private readonly key = randomBytes(32);

  constructor(private readonly auth: Authenticator) {}

  /** The caller, or the error that makes the browser ask for credentials (401 + Basic challenge). */
  async caller(ctx: Context): Promise<Caller> {
    if (this.auth.mode === 'token') {
      throw new UnsupportedError('the web UI takes Basic credentials: it works with auth.mode basic or none, not token');
    }
    const id = identityOf(ctx);
    const caller = await this.auth.authenticate(id);
    if (!this.auth.admits(caller)) throw this.auth.refusal(caller, undefined, id);
    return caller;
  }

  /** Throws the API's refusal when the caller may not do `need`. */
  require(ctx: Context, caller: Caller, need: Need): void {
    if (!caller.allows(need)) throw this.auth.refusal(caller, need, identityOf(ctx));
  }

  /** The form token of this caller. */
  token(caller: Caller): string {
    return createHmac('sha256', this.key).update(`ui-form:${caller.principal.name ?? ''}`).digest('base64url');
  }

  /** Refuses a POST from another site, or without this caller's form token. */
  checkPost(ctx: Context, caller: Caller, presented: string | undefined): void {
    const origin = ctx.get('origin');
    const site = ctx.get('sec-fetch-site');
    const sameOrigin = origin ? origin === `${ctx.protocol}://${ctx.host}` : site === 'same-origin';
    if (!sameOrigin) throw new AccessDeniedError('ui form: the request did not come from this site');
    const expected = Buffer.from(this.token(caller));
    const given = Buffer.from(presented ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AccessDeniedError('ui form: missing or stale form token (reload the page)');
    }
  }
}
