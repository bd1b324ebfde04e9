/**
 * The server's open connections, for a graceful shutdown that ends as soon as
 * the last request does.
 *
 * `server.close()` stops accepting and Node closes the keep-alive connections
 * that are idle at that moment, but not a connection that has not sent its
 * first request yet, nor one whose request was in flight and that goes idle
 * afterwards: those would hold the shutdown for the whole grace period. So:
 * on `drain()` every connection with no request in flight is ended at once,
 * responses still in flight (and any request that still arrives on an open
 * connection) go out with `Connection: close`, and a connection is ended as
 * soon as its last response is done.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionTracker {
  /** Ends idle connections now and every other one after its last response. */
  drain(): void;
}

/**
 * Tracks the connections of `server`. `secure`: an HTTPS server, whose
 * requests arrive on the TLS socket of 'secureConnection' (a connection still
 * in its TLS handshake is not tracked and is left to the grace period).
 */
export function trackConnections(server: Server, secure: boolean): ConnectionTracker {
  /** Open connections → their responses in flight. */
  const open = new Map<Socket, Set<ServerResponse>>();
  let draining = false;

  const endIfIdle = (socket: Socket) => {
    if (draining && (open.get(socket)?.size ?? 0) === 0 && !socket.destroyed) socket.end();
  };

  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    open.set(socket, new Set());
    socket.once('close', () => open.delete(socket));
    endIfIdle(socket);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const responses = open.get(socket);
    if (!responses) return;
    responses.add(res);
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      responses.delete(res);
      endIfIdle(socket);
    });
  });

  return {
    drain() {
      draining = true;
      for (const [socket, responses] of open) {
        for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
        endIfIdle(socket);
      }
    },
  };
}
