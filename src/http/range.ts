/** Parsing the Range header of blob GETs and the Content-Range of upload chunks. */
import { BlobUploadInvalidError } from '../domain/errors.js';
import type { ByteRange } from '../storage/types.js';

/**
 * A blob GET's `Range: bytes=a-b | a- | -n`. Undefined means "serve it all":
 * RFC 9110 lets a server ignore a malformed or multi-part range.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  return { start, end: Math.min(end, size - 1) };
}

/** An upload chunk's `Content-Range: <start>-<end>` (also tolerating `bytes ` and a `/total`). */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new BlobUploadInvalidError('malformed Content-Range', { contentRange: header });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || !Number.isSafeInteger(end)) {
    throw new BlobUploadInvalidError('Content-Range ends before it starts', { contentRange: header });
  }
  return { start, end };
}
