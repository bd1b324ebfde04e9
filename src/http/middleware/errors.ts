/**
 * The error middleware: every error below it becomes the spec's JSON envelope
 * with the status from src/http/oci-errors.ts. Koa's own handler (text/plain)
 * is never reached.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { MethodNotAllowedError, RouteUnknownError } from '../../storage/errors.js';
import { drainBody, hasUnreadBody } from '../drain.js';
import { toOciError } from '../oci-errors.js';

/** How much of a body refused for overload is read before answering. */
const SHED_DRAIN_BYTES = 64 * 1024;
const SHED_DRAIN_MS = 1_000;

/** Headers an error response keeps from before the error. */
const KEEP = new Set(['docker-distribution-api-version', 'x-request-id']);

export function errorHandler(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const mapped = toOciError(err);
      if (mapped.internal) log.error({ err, reqId: ctx.state.requestId }, 'request failed');
      else log.debug({ err: (err as Error).message, reqId: ctx.state.requestId }, 'request refused');
      if (ctx.headerSent || !ctx.writable) return;
      // Refused before its body was read: take the rest in so the answer is not lost to a reset.
      // Not far when shedding load (503): reading every refused body in full would be the load.
      if (hasUnreadBody(ctx.req)) await (mapped.status === 503 ? drainBody(ctx.req, SHED_DRAIN_BYTES, SHED_DRAIN_MS) : drainBody(ctx.req));
      if (!ctx.writable) return;
      for (const name of ctx.res.getHeaderNames()) if (!KEEP.has(name)) ctx.res.removeHeader(name);
      ctx.set(mapped.headers);
      ctx.status = mapped.status;
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(mapped.body);
    }
  };
}

/** Placed before the router: turns "no route" and "wrong method" into OCI errors. */
export function unmatched(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 405) {
      const allowed = ctx.response.get('Allow');
      throw new MethodNotAllowedError(ctx.method, allowed ? allowed.split(/,\s*/) : []);
    }
    if (ctx.status === 404) throw new RouteUnknownError(ctx.path);
  };
}
