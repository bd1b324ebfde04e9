/**
 * The separate metrics listener (`metrics.addr`): plain HTTP, no
 * authentication, GET/HEAD of /metrics, /livez and /readyz only. Meant for a
 * loopback address or a private network (the config refuses a non-loopback
 * address unless metrics.allowNonLoopback is set).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Observability } from './routes.js';

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function handle(ops: Observability, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'application/json', '{"status":"method not allowed"}');
    return;
  }
  if (path === '/livez' || path === '/readyz') {
    const { status, body } = path === '/livez' ? ops.health.live() : await ops.health.ready();
    send(res, status, 'application/json', JSON.stringify(body));
  } else if (path === '/metrics' && ops.metrics) {
    const { contentType, body } = await ops.metrics.render();
    send(res, 200, contentType, body);
  } else {
    send(res, 404, 'application/json', '{"status":"not found"}');
  }
}

export interface MetricsListener {
  /** `http://host:port` as bound. */
  url: string;
  close(): Promise<void>;
}

export async function listenMetrics(addr: string, ops: Observability, log: Logger): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    handle(ops, req, res).catch((err: unknown) => {
      log.error({ err }, 'metrics listener failed to answer');
      if (!res.headersSent) send(res, 500, 'application/json', '{"status":"internal error"}');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(Number(addr.slice(i + 1)), host, () => ok());
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  log.info({ url }, 'metrics listener up');
  return {
    url,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
      }),
  };
}
