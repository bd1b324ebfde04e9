/**
 * A counting HTTP proxy for proxy tests: forwards every request to `target`
 * (127.0.0.1) unchanged and counts them by method and path, so a test can
 * prove how often an upstream was asked for something.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  url: string;
  /** `METHOD path` (query dropped) → requests seen. */
  counts: Map<string, number>;
  /** Bytes of response bodies passed back. */
  bytes: number;
  count(method: string, path: string): number;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const counts = new Map<string, number>();
  const state = { bytes: 0 };
  const server: Server = createServer((req, res) => {
    const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const out = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on('data', (c: Buffer) => (state.bytes += c.length));
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    counts,
    get bytes() {
      return state.bytes;
    },
    count: (method, path) => counts.get(`${method} ${path}`) ?? 0,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
