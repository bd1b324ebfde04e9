/**
 * A loopback TCP relay that carries bytes at a fixed rate in each direction: a stand-in for
 * the network link between a registry and its upstream (bench/proxy.ts). Each chunk is let
 * through when the link would have finished sending the ones before it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Transform, pipeline } from 'node:stream';

export interface Link {
  /** `http://127.0.0.1:PORT`: the target, reached through the link. */
  base: string;
  close(): Promise<void>;
}

function paced(bitsPerMs: number): Transform {
  let free = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const now = performance.now();
      free = Math.max(free, now) + (chunk.length * 8) / bitsPerMs;
      const wait = free - now;
      if (wait >= 1) setTimeout(() => done(null, chunk), wait);
      else done(null, chunk);
    },
  });
}

/** A relay to `target` (`host:port`) at `mbit` megabits per second each way. */
export async function startLink(target: string, mbit: number): Promise<Link> {
  const [host, port] = target.split(':') as [string, string];
  const bitsPerMs = mbit * 1000;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    pipeline(client, paced(bitsPerMs), upstream, end);
    pipeline(upstream, paced(bitsPerMs), client, end);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('link: no TCP address');
  return {
    base: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
