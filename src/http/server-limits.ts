/**
 * What the HTTP server itself does about slow and hostile clients, before Koa:
 *
 *   - a request head must arrive within `http.headersTimeout` (Node answers 408 and closes);
 *   - a request body must not go idle for `http.bodyIdleTimeout` (./body-watch.ts);
 *   - at most `http.maxConnections` connections are served: a connection accepted
 *     beyond that gets 503 TOOMANYREQUESTS with Retry-After for its first request
 *     and is closed; beyond twice that, connections are closed at once.
 *
 * There is no limit on a request's total time: a large push over a slow link is fine
 * as long as it keeps moving.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { durationMs, type Config } from '../config/schema.js';
import { OverloadedError } from '../domain/errors.js';
import { BodyWatch } from './body-watch.js';
import { toOciError } from './oci-errors.js';

const WARN_EVERY_MS = 10_000;

export interface ServerLimits {
  /** Options for http(s).createServer. */
  options: { keepAliveTimeout: number; requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
  /** Wraps the application's request listener. */
  handler(next: RequestListener): RequestListener;
  /** Starts counting the server's connections. */
  attach(server: Server, tls: boolean): void;
  /** Connections open now. */
  readonly connections: number;
}

function refuse(res: ServerResponse, max: number): void {
  const mapped = toOciError(new OverloadedError('too many open connections', 1, { maxConnections: max }));
  res.shouldKeepAlive = false;
  res.writeHead(mapped.status, {
    ...mapped.headers,
    'Content-Type': 'application/json',
    'Docker-Distribution-API-Version': 'registry/2.0',
    Connection: 'close',
  });
  res.end(JSON.stringify(mapped.body));
}

export function serverLimits(http: Config['http'], log: Logger): ServerLimits {
  const headersTimeout = durationMs(http.headersTimeout);
  const max = http.maxConnections;
  const over = new WeakSet<Socket>();
  let open = 0;
  let lastWarn = 0;
  const warn = (msg: string) => {
    const now = Date.now();
    if (now - lastWarn < WARN_EVERY_MS) return;
    lastWarn = now;
    log.warn({ open, maxConnections: max }, msg);
  };
  const bodies = new BodyWatch(durationMs(http.bodyIdleTimeout), (req: IncomingMessage) =>
    log.info({ method: req.method, url: req.url, idle: http.bodyIdleTimeout }, 'request body stalled: connection closed'),
  );

  return {
    options: {
      keepAliveTimeout: 65_000,
      requestTimeout: 0,
      headersTimeout,
      // Node checks the head timeout on this period (its default, 30 s, would stretch a short timeout).
      connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(headersTimeout / 4))),
    },
    handler(next) {
      return (req, res) => {
        if (over.has(req.socket)) return refuse(res, max);
        bodies.watch(req);
        next(req, res);
      };
    },
    attach(server, tls) {
      server.on('connection', (socket: Socket) => {
        open++;
        socket.once('close', () => open--);
        if (open > 2 * max) {
          warn('connection limit passed twice over: closing new connections at once');
          socket.destroy();
        } else if (open > max && !tls) {
          warn('connection limit reached: refusing requests on new connections');
          over.add(socket);
        }
      });
      // Under TLS requests arrive on the TLS socket, known once its handshake is done.
      if (tls) {
        server.on('secureConnection', (socket: Socket) => {
          if (open > max) {
            warn('connection limit reached: refusing requests on new connections');
            over.add(socket);
          }
        });
      }
    },
    get connections() {
      return open;
    },
  };
}
