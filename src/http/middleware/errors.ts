/**
 * The error middleware: every error below it becomes the spec's JSON envelope
 * with the status from src/http/oci-errors.ts. Koa's own handler (text/plain)
 * is never reached.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { MethodNotAllowedError, RouteUnknownError } from '../../domain/errors.js';
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
      // For the refusal counters (src/metrics/http-metrics.ts).
      ctx.state.errorCode = mapped.body.errors[0]?.code;
      if (mapped.internal) log.error({ err, reqId: ctx.state.requestId }, 'request failed');
      else log.debug({ err: (err as Error).message, reqId: ctx.state.requestId }, 'request refused');
      if (ctx.headerSent || !ctx.writable) return;
      // Refused before its body was read, or failed half-way through it (a full disk): take the
      // rest in so the answer is not lost to a reset. Not far when shedding load (503): reading
      // every refused body in full would be the load.
      if (hasUnreadBody(ctx.req) || (!ctx.req.complete && !ctx.req.destroyed)) {
        await (mapped.status === 503 ? drainBody(ctx.req, SHED_DRAIN_BYTES, SHED_DRAIN_MS) : drainBody(ctx.req));
      }
      if (!ctx.writable) return;
      for (const name of ctx.res.getHeaderNames()) if (!KEEP.has(name)) ctx.res.removeHeader(name);
      ctx.set(mapped.headers);
      // Body bytes still on their way would be read as the next request: this connection ends here.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
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
    // 501: a method the router knows nowhere (TRACE, PROPFIND): on a route, as a wrong method; else no route.
    if (ctx.status === 405 || ctx.status === 501) {
      const allowed = ctx.response.get('Allow');
      if (allowed) throw new MethodNotAllowedError(ctx.method, allowed.split(/,\s*/));
      if (ctx.status === 405) throw new MethodNotAllowedError(ctx.method, []);
      throw new RouteUnknownError(ctx.path);
    }
    if (ctx.status === 404) throw new RouteUnknownError(ctx.path);
  };
}
