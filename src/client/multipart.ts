/**
 * A streaming multipart/form-data body (RFC 7578). Its exact length is known
 * before the first byte is sent (part headers and text fields are measured,
 * files are stat()ed), so the request carries a Content-Length and progress can
 * be shown as a percentage. Files stream from disk in 1 MiB reads; a kernel is
 * never held in memory. A file that changes size while it is sent fails the body.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

export interface FieldPart {
  kind: 'field';
  name: string;
  value: string;
}

export interface FilePart {
  kind: 'file';
  name: string;
  path: string;
  /** The filename sent in Content-Disposition (default: the path's basename). */
  filename?: string;
  /** Default application/octet-stream. */
  contentType?: string;
}

export type PartInput = FieldPart | FilePart;

interface SizedFile extends FilePart {
  size: number;
}

export class MultipartFileError extends Error {
  override readonly name = 'MultipartFileError';
  constructor(
    readonly part: string,
    readonly path: string,
    reason: string,
  ) {
    super(`cannot read --${part} ${path}: ${reason}`);
  }
}

/** A Content-Disposition parameter as a quoted-string (RFC 2045 quoted-pairs, as busboy reads them); CR/LF become spaces. */
export function quoteParam(value: string): string {
  return `"${value.replace(/[\r\n]/g, ' ').replace(/["\\]/g, '\\$&')}"`;
}

/** A filename safe for the header: printable ASCII, other characters become `_`. */
function safeFilename(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_') || 'file';
}

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory';
  return e.message;
}

export class MultipartBody {
  readonly contentType: string;
  /** Total bytes of the body: the Content-Length. */
  readonly length: number;
  private readonly segments: Array<Buffer | SizedFile>;

  constructor(
    readonly boundary: string,
    parts: ReadonlyArray<FieldPart | SizedFile>,
  ) {
    this.contentType = `multipart/form-data; boundary=${boundary}`;
    const segments: Array<Buffer | SizedFile> = [];
    for (const part of parts) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name=${quoteParam(part.name)}`;
      if (part.kind === 'field') {
        segments.push(Buffer.from(`${head}\r\n\r\n${part.value}\r\n`, 'utf8'));
        continue;
      }
      const filename = safeFilename(part.filename ?? basename(part.path));
      head += `; filename=${quoteParam(filename)}\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`;
      segments.push(Buffer.from(head, 'utf8'), part, Buffer.from('\r\n'));
    }
    segments.push(Buffer.from(`--${boundary}--\r\n`));
    this.segments = segments;
    this.length = segments.reduce((sum, s) => sum + (Buffer.isBuffer(s) ? s.length : s.size), 0);
  }

  /**
   * The body's bytes, in order. `onChunk` sees each chunk's length as it is handed
   * on (for progress).
   */
  async *chunks(onChunk?: (bytes: number) => void): AsyncGenerator<Buffer> {
    for (const segment of this.segments) {
      if (Buffer.isBuffer(segment)) {
        onChunk?.(segment.length);
        yield segment;
        continue;
      }
      let seen = 0;
      // Read at most size+1 bytes: enough to notice a file that grew.
      const stream = createReadStream(segment.path, { highWaterMark: 1 << 20, start: 0, end: segment.size });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > segment.size) break;
          onChunk?.(chunk.length);
          yield chunk;
        }
      } catch (err) {
        throw new MultipartFileError(segment.name, segment.path, reasonOf(err));
      } finally {
        stream.destroy();
      }
      if (seen !== segment.size) {
        throw new MultipartFileError(segment.name, segment.path, `changed size while it was sent (was ${segment.size} bytes)`);
      }
    }
  }
}

/** A boundary that appears in none of the text fields (files: 2^-192 odds). */
function pickBoundary(fields: readonly FieldPart[]): string {
  for (;;) {
    const boundary = `----unireg-${randomBytes(24).toString('hex')}`;
    if (!fields.some((f) => f.value.includes(boundary) || f.name.includes(boundary))) return boundary;
  }
}

/** Measures the files (which must be regular files) and lays out the body. */
export async function multipartBody(parts: readonly PartInput[], boundary?: string): Promise<MultipartBody> {
  const sized: Array<FieldPart | SizedFile> = [];
  for (const part of parts) {
    if (part.kind === 'field') {
      sized.push(part);
      continue;
    }
    let size: number;
    try {
      const info = await stat(part.path);
      if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: info.isDirectory() ? 'EISDIR' : 'ENOTFILE' });
      size = info.size;
    } catch (err) {
      throw new MultipartFileError(part.name, part.path, reasonOf(err));
    }
    sized.push({ ...part, size });
  }
  const fields = sized.filter((p): p is FieldPart => p.kind === 'field');
  return new MultipartBody(boundary ?? pickBoundary(fields), sized);
}
