/**
 * The body idle timeout: a request whose body stops arriving is cut off.
 *
 * A client that sends a PATCH's or a manifest PUT's headers and then nothing
 * would otherwise hold its connection, a file handle and (for uploads) the
 * session's write lock for ever. The timeout is on idleness, not on the total:
 * a slow push over a bad link lives as long as bytes keep coming.
 *
 * Idle means: the socket read nothing for `idleMs` while the server was waiting
 * for data (nothing unread in the request's buffer). When the server is the slow
 * one (a disk write, a password check before the body is read), the unread
 * bytes show in the buffer and the clock does not run against the client.
 *
 * A stalled request is destroyed with a BodyTimeoutError, which closes its
 * connection; whoever was reading the body sees that error, and the upload code
 * truncates the partial chunk and frees the session as for any cut-off chunk.
 */
import type { IncomingMessage } from 'node:http';
import { BodyTimeoutError } from '../domain/errors.js';

interface Seen {
  bytes: number;
  since: number;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export class BodyWatch {
  private readonly watched = new Map<IncomingMessage, Seen>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(
    private readonly idleMs: number,
    private readonly onStall: (req: IncomingMessage) => void = () => {},
  ) {
    this.tickMs = Math.max(20, Math.min(1_000, Math.floor(idleMs / 4)));
  }

  /** Watches `req` until its body is complete or it closes. Requests without a body are not watched. */
  watch(req: IncomingMessage): void {
    if (req.complete || !hasBody(req)) return;
    this.watched.set(req, { bytes: req.socket.bytesRead, since: Date.now() });
    const forget = () => this.watched.delete(req);
    req.once('end', forget);
    req.once('close', forget);
    this.timer ??= setInterval(() => this.check(), this.tickMs).unref();
  }

  /** How many request bodies are being watched (for tests and metrics). */
  get size(): number {
    return this.watched.size;
  }

  private check(): void {
    const now = Date.now();
    for (const [req, seen] of this.watched) {
      if (req.complete || req.destroyed) {
        this.watched.delete(req);
        continue;
      }
      const bytes = req.socket?.bytesRead ?? seen.bytes;
      if (bytes !== seen.bytes || req.readableLength > 0) {
        seen.bytes = bytes;
        seen.since = now;
      } else if (now - seen.since >= this.idleMs) {
        this.watched.delete(req);
        this.onStall(req);
        req.destroy(new BodyTimeoutError(this.idleMs));
      }
    }
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
