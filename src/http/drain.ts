/**
 * Draining a request body nobody will read. When unireg refuses a request before
 * reading its body (401/403 from the guard, a too-large manifest), the client is
 * often still sending; if the server then closes the connection with unread data
 * in its receive buffer, the kernel answers with a reset and the client may lose
 * the error response. Reading (and dropping) the rest first, within bounds, lets
 * the answer arrive; beyond the bounds the connection is closed as before.
 */
import type { IncomingMessage } from 'node:http';

const DRAIN_MAX_BYTES = 16 * 1024 * 1024;
const DRAIN_MAX_MS = 5_000;

/** Whether the request still has body bytes that no one has started to read. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete || req.readableEnded || req.destroyed) return false;
  if (req.readableFlowing === true || req.readableDidRead) return false;
  const length = req.headers['content-length'];
  return (length !== undefined && Number(length) > 0) || req.headers['transfer-encoding'] !== undefined;
}

/** Reads and discards the body until it ends, `maxBytes` passed or `maxMs` elapsed. Never rejects. */
export function drainBody(req: IncomingMessage, maxBytes = DRAIN_MAX_BYTES, maxMs = DRAIN_MAX_MS): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      if (!req.complete) req.pause();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
  });
}
