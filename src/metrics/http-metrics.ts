/**
 * The middleware that counts every request: placed right inside the request
 * log, outside the error handler, so it sees the status that was sent.
 *
 * route: the @koa/router template that matched (`/v2/:name+/manifests/:reference`),
 *        never the raw URL, so repository names and digests cannot blow up the
 *        label set; `(unmatched)` when no route matched.
 * bytes: what the connection read and wrote since the previous request on it
 *        ended, HTTP heads included (HTTP/1.1 handles one request at a time per
 *        connection; TLS counts the decrypted stream).
 */
import type { Socket } from 'node:net';
import type { Context, Middleware } from 'koa';
import type { Metrics } from './metrics.js';

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);
const REFUSALS = new Set([401, 403, 429]);
export const UNMATCHED = '(unmatched)';

/** The route template of a request the router matched. */
export function routeOf(ctx: Context): string {
  const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return typeof route === 'string' ? route : UNMATCHED;
}

interface Seen {
  read: number;
  written: number;
}

export function httpMetrics(metrics: Metrics): Middleware {
  /** Per connection: its byte counts when its previous request ended. */
  const seen = new WeakMap<Socket, Seen>();
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const http = metrics.http;
    // Taken now: once the response is done, Node may already have detached the socket (req.socket is null).
    const socket = ctx.req.socket as Socket | null;
    http.inFlight++;
    // A listener on 'close' that threw would be an uncaught exception: counting must never stop the server.
    ctx.res.once('close', () => {
      try {
        http.inFlight--;
        const method = METHODS.has(ctx.method) ? ctx.method : 'OTHER';
        const route = routeOf(ctx);
        const status = ctx.res.headersSent ? String(ctx.res.statusCode) : 'none';
        let received = 0;
        let sent = 0;
        if (socket) {
          const before = seen.get(socket) ?? { read: 0, written: 0 };
          const now = { read: socket.bytesRead, written: socket.bytesWritten };
          seen.set(socket, now);
          received = Math.max(0, now.read - before.read);
          sent = Math.max(0, now.written - before.written);
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        http.record(method, route, status, seconds, received, sent);
        if (REFUSALS.has(ctx.res.statusCode) && ctx.res.headersSent) {
          const code = typeof ctx.state.errorCode === 'string' ? ctx.state.errorCode : 'UNKNOWN';
          metrics.refusals.inc({ status: String(ctx.res.statusCode), code });
        }
      } catch {
        // A figure lost, nothing else.
      }
    });
    await next();
  };
}
