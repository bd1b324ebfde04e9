/** A free TCP port on 127.0.0.1 for a server a test starts (it binds 0, reads the port, closes). */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
    s.once('error', fail);
  });
}
