/**
 * A raw TCP client for the slow-client tests: send a request head and part of a
 * body, then stall, and see what the server does with the connection.
 */
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with what the server sent once it closes the connection; rejects if it is still open after `withinMs`. */
  closed(withinMs: number): Promise<string>;
  /** Resolves once the server has sent something (at least `text` if given); rejects after `withinMs`. */
  answered(withinMs: number, text?: string): Promise<string>;
  end(): void;
}

export async function openRaw(base: string, localAddress?: string): Promise<RawConnection> {
  const url = new URL(base);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  await new Promise<void>((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  let data = '';
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (isClosed = true));
  const waitFor = (what: string, done: () => boolean, withinMs: number) =>
    new Promise<string>((ok, fail) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (done()) {
          clearInterval(poll);
          ok(data);
        } else if (Date.now() - started > withinMs) {
          clearInterval(poll);
          fail(new Error(`${what} within ${withinMs} ms; received so far: ${JSON.stringify(data.slice(0, 200))}`));
        }
      }, 10);
    });
  return {
    socket,
    received: () => data,
    closed: (withinMs) => waitFor('server did not close the connection', () => isClosed, withinMs),
    answered: (withinMs, text) => waitFor('server did not answer', () => (text === undefined ? data.length > 0 : data.includes(text)), withinMs),
    end: () => socket.destroy(),
  };
}

/** Writes a request head (HTTP/1.1, Host set) and optionally the first bytes of the body. */
export function sendHead(conn: RawConnection, method: string, path: string, headers: Record<string, string | number>, body?: Buffer): void {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${conn.socket.remoteAddress}:${conn.socket.remotePort}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  conn.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (body) conn.socket.write(body);
}
