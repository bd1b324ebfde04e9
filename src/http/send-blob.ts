/**
 * Serving blob bytes: positional reads into a few reused buffers, each handed
 * to the socket and taken back once written. A read stream would allocate a
 * fresh buffer per chunk; at 1 GiB that is a thousand 1 MiB allocations, their
 * page faults and GC, and it ran pulls at half the speed (docs/benchmarks.md).
 * Memory per download stays at BUFFERS × BUFFER_SIZE whatever the blob's size.
 */
import type { Context } from 'koa';
import type { BlobFile } from '../storage/types.js';

const BUFFER_SIZE = 1 << 20;
const BUFFERS = 4;

/** Writes `length` bytes from `start` as the response body, bypassing Koa's body handling. */
export async function sendBlob(ctx: Context, file: BlobFile, start: number, length: number): Promise<void> {
  const res = ctx.res;
  ctx.respond = false;
  res.writeHead(ctx.status, ctx.response.headers as Record<string, string>);
  const size = Math.min(BUFFER_SIZE, Math.max(length, 1));
  const free: Buffer[] = [];
  let allocated = 0;
  let waiting: ((b: Buffer | undefined) => void) | undefined;
  let closed = false;
  const onClose = () => {
    closed = true;
    waiting?.(undefined);
  };
  res.once('close', onClose);
  const take = (): Promise<Buffer | undefined> => {
    if (closed) return Promise.resolve(undefined);
    const b = free.pop();
    if (b) return Promise.resolve(b);
    if (allocated < BUFFERS) {
      allocated++;
      return Promise.resolve(Buffer.allocUnsafe(size));
    }
    return new Promise((resolve) => (waiting = resolve));
  };
  const give = (b: Buffer) => {
    const w = waiting;
    waiting = undefined;
    if (w) w(b);
    else free.push(b);
  };
  try {
    let sent = 0;
    while (sent < length) {
      const buffer = await take();
      if (buffer === undefined) return;
      const n = await file.read(buffer, Math.min(buffer.length, length - sent), start + sent);
      if (n === 0) throw new Error('blob file ended early');
      sent += n;
      if (!res.write(buffer.subarray(0, n), () => give(buffer))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.once('drain', done);
          res.once('close', done);
        });
      }
    }
    res.end();
  } catch (err) {
    ctx.app.emit('error', err, ctx);
    res.destroy(err as Error);
  } finally {
    res.off('close', onClose);
    await file.close();
  }
}
