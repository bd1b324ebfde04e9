/**
 * Requests Node's HTTP parser refuses before the app sees them (a request line
 * and headers over the size limit, a malformed request) are answered like every
 * other error: the OCI JSON envelope with the API version header, then the
 * connection closes, as Node's own handler would close it.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Whether the refused request may take a body in its answer: not when it is (or
 * may be) a HEAD. The parser hands over the bytes it was reading; when they do not
 * start with a request line the method is unknown, and the answer has no body.
 */
function bodyAllowed(rawPacket: Buffer | undefined): boolean {
  const start = rawPacket?.subarray(0, 8).toString('latin1') ?? '';
  return /^[A-Z]+ /.test(start) && !start.startsWith('HEAD ');
}

export function answerClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
  const started = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431 ? 'request line and headers are too large' : status === 408 ? 'request timed out' : 'malformed HTTP request';
  const body = bodyAllowed(err.rawPacket) ? JSON.stringify({ errors: [{ code: 'BAD_REQUEST', message }] }) : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      (body ? 'Content-Type: application/json\r\n' : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Docker-Distribution-Api-Version: registry/2.0\r\n' +
      'Connection: close\r\n\r\n' +
      body,
  );
}
