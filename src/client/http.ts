/**
 * One HTTP exchange with the registry for the client commands, over node:http
 * or node:https: an optional streaming body, the response read into memory
 * (registry answers here are small JSON), and every failure turned into a
 * one-line ClientError (`400 MANIFEST_INVALID: ...`, `cannot connect to ...`).
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Target } from './target.js';

/** A failure with a message fit for one line of stderr. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    message: string,
    /** The process exit code: 2 for usage errors, 1 otherwise. */
    readonly exitCode = 1,
  ) {
    super(oneLine(message));
  }
}

/** Collapses whitespace runs (newlines included) so a message stays on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

export interface Exchange {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request body that knows its length and streams itself (a multipart form, a small form). */
export interface RequestBody {
  contentType: string;
  length: number;
  chunks(onChunk?: (bytes: number) => void): AsyncIterable<Buffer>;
}

/** A small in-memory body, e.g. an OAuth2 form. */
export function bytesBody(contentType: string, data: string | Buffer): RequestBody {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return {
    contentType,
    length: buf.length,
    async *chunks(onChunk) {
      onChunk?.(buf.length);
      yield buf;
    },
  };
}

export interface RequestSpec {
  method: 'GET' | 'POST';
  /** Path and query, starting with `/`. */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: RequestBody;
  /** Called with the number of body bytes handed on so far. */
  onProgress?: (sent: number, total: number) => void;
}

const MAX_RESPONSE = 16 << 20;

function connectionReason(err: NodeJS.ErrnoException, target: Target): string {
  const where = `${target.scheme}://${target.host}`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${where}: connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${target.hostname}`;
    case 'ETIMEDOUT':
      return `cannot connect to ${where}: timed out`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `connection to ${where} closed unexpectedly${target.scheme === 'http' ? ' (an HTTPS registry? write https://HOST/REPO)' : ''}`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `TLS handshake with ${where} failed (a plain HTTP registry? use --plain-http)`;
    default:
      if (/certificate|self[- ]signed|SSL|TLS/i.test(err.message)) return `TLS error talking to ${where}: ${err.message}`;
      return `request to ${where} failed: ${err.message}`;
  }
}

/** `400 MANIFEST_INVALID: invalid unikernel kconfig: line 2: ...` from an OCI error body (or the status line). */
export function describeFailure(status: number, statusMessage: string | undefined, body: Buffer): string {
  const head = `${status}`;
  const text = body.toString('utf8');
  try {
    const json = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(json.errors) && json.errors.length > 0) {
      const parts = json.errors.map((e: unknown) => {
        const { code, message } = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
        const c = typeof code === 'string' ? code : 'ERROR';
        return typeof message === 'string' && message !== '' ? `${c}: ${message}` : c;
      });
      return oneLine(`${head} ${parts.join('; ')}`);
    }
  } catch {
    /* not JSON */
  }
  const snippet = oneLine(text).slice(0, 200);
  return oneLine(`${head} ${statusMessage ?? ''}${snippet ? `: ${snippet}` : ''}`);
}

async function readBody(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_RESPONSE) throw new ClientError(`response larger than ${MAX_RESPONSE} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Sends one request. Resolves with the response for any status (callers decide
 * what is a failure); rejects with a ClientError when there is no response.
 * When the server answers before the body is sent (an early error), the upload
 * stops and the answer is returned.
 */
export function exchange(target: Target, spec: RequestSpec): Promise<Exchange> {
  const headers: OutgoingHttpHeaders = { 'User-Agent': 'unireg-client', Accept: 'application/json', ...spec.headers };
  if (spec.body) {
    headers['Content-Type'] = spec.body.contentType;
    headers['Content-Length'] = String(spec.body.length);
  }
  const request = target.scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise<Exchange>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      if (err instanceof ClientError) reject(err);
      else if ((err as Error).name === 'MultipartFileError') reject(new ClientError((err as Error).message));
      else reject(new ClientError(connectionReason(err as NodeJS.ErrnoException, target)));
    };
    const req = request({
      protocol: `${target.scheme}:`,
      hostname: target.hostname,
      port: target.port,
      method: spec.method,
      path: spec.path,
      headers,
      // One connection per request, closed afterwards: nothing keeps the process alive.
      agent: false,
    });
    req.on('error', fail);
    req.on('response', (res) => {
      readBody(res).then(
        (body) => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body });
          // An early answer: stop sending the rest of the body.
          if (!req.writableFinished) req.destroy();
        },
        (err: unknown) => fail(err),
      );
    });
    if (!spec.body) {
      req.end();
      return;
    }
    const { body, onProgress } = spec;
    let sent = 0;
    const source = Readable.from(
      body.chunks((n) => {
        sent += n;
        onProgress?.(sent, body.length);
      }),
    );
    pipeline(source, req).catch((err: unknown) => {
      // A file error is the real story; a broken pipe after an early answer is not
      // (and a connection that died reports itself through req's 'error').
      if ((err as Error).name === 'MultipartFileError' || (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') fail(err);
    });
  });
}

/** Parses a JSON response body; a ClientError when it is not JSON. */
export function jsonOf(res: Exchange): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new ClientError(`${res.status}: the registry answered with something that is not JSON`);
  }
}
