/**
 * The guard: route middleware that checks, before the handler runs, that the
 * caller may do what the route does. Every route declares its need here, in
 * its registration line, so the table of who-needs-what is the route table.
 *
 *   hello          GET /v2/: any caller the mode admits
 *   catalog        GET /v2/_catalog (the listing is then cut to what the caller may pull)
 *   admin          the maintenance endpoints under /_unireg/ (GC, retention, usage, webhook dead letters)
 *   metrics        GET /metrics on the main listener
 *   repo(actions)  actions on the repository named in the path
 */
import type { Context, Middleware } from 'koa';
import type { Authenticator, Caller, RequestIdentity } from '../auth/authenticator.js';
import type { Need } from '../auth/scope.js';
import type { Action } from '../config/auth-schema.js';
import { repoParam } from './params.js';

export interface Guard {
  hello: Middleware;
  catalog: Middleware;
  admin: Middleware;
  metrics: Middleware;
  repo(...actions: Action[]): Middleware;
  /** The caller of a request that passed a guard. */
  callerOf(ctx: Context): Caller;
}

export function identityOf(ctx: Context): RequestIdentity {
  return {
    authorization: ctx.get('authorization') || undefined,
    client: ctx.ip || 'unknown',
    origin: `${ctx.protocol}://${ctx.host}`,
  };
}

const CALLER = 'unireg.caller';

export function createGuard(auth: Authenticator): Guard {
  const authenticate = async (ctx: Context, need?: Need): Promise<{ caller: Caller; id: RequestIdentity }> => {
    const id = identityOf(ctx);
    const caller = await auth.authenticate(id, need);
    ctx.state[CALLER] = caller;
    return { caller, id };
  };
  const check = (needOf: (ctx: Context) => Need): Middleware => {
    return async (ctx, next) => {
      // The repository name is checked first: a malformed name is a 400 whoever asks.
      const need = needOf(ctx);
      const { caller, id } = await authenticate(ctx, need);
      if (!caller.allows(need)) throw auth.refusal(caller, need, id);
      await next();
    };
  };
  return {
    hello: async (ctx, next) => {
      const { caller, id } = await authenticate(ctx);
      if (!auth.admits(caller)) throw auth.refusal(caller, undefined, id);
      await next();
    },
    catalog: check(() => ({ type: 'registry', name: 'catalog', actions: ['*'] })),
    admin: check(() => ({ type: 'registry', name: 'admin', actions: ['*'] })),
    metrics: check(() => ({ type: 'registry', name: 'metrics', actions: ['*'] })),
    repo: (...actions) => check((ctx) => ({ type: 'repository', name: repoParam(ctx), actions })),
    callerOf(ctx) {
      const caller = ctx.state[CALLER] as Caller | undefined;
      if (!caller) throw new Error('route has no guard');
      return caller;
    },
  };
}
