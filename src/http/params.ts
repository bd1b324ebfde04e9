/** Reading route parameters, query strings and bodies into domain values. */
import type { Context } from 'koa';
import { parseDigest, type Digest } from '../oci/digest.js';
import { parseRepoName } from '../oci/names.js';
import { ManifestTooLargeError, PaginationInvalidError } from '../domain/errors.js';
import type { Chunk } from '../registry/uploads.js';
import type { BodyLease } from './body-budget.js';
import { parseContentRange } from './range.js';
import { ownedChunks } from '../storage/owned-chunks.js';

/** Pages are capped; a capped page carries a Link to the rest, as the spec allows. */
export const DEFAULT_PAGE = 1000;
export const MAX_PAGE = 10_000;

export function repoParam(ctx: Context): string {
  return parseRepoName(String(ctx.params.name ?? ''));
}

export function digestParam(ctx: Context, key = 'digest'): Digest {
  return parseDigest(String(ctx.params[key] ?? ''));
}

/** Every value of a repeated query parameter, in order. */
export function queryList(ctx: Context, key: string): string[] {
  const value = ctx.query[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The first value of a query parameter. */
export function queryString(ctx: Context, key: string): string | undefined {
  return queryList(ctx, key)[0];
}

export function pageParams(ctx: Context): { n: number; last?: string } {
  const raw = queryString(ctx, 'n');
  const last = queryString(ctx, 'last') || undefined;
  if (raw === undefined || raw === '') return { n: DEFAULT_PAGE, last };
  if (!/^\d+$/.test(raw)) throw new PaginationInvalidError(raw);
  return { n: Math.min(Number(raw), MAX_PAGE), last };
}

/** Whether the request carries a body (a length above zero, or chunked transfer-encoding). */
export function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  if (length !== '') return Number(length) > 0;
  return ctx.get('transfer-encoding') !== '';
}

export function contentLength(ctx: Context): number | undefined {
  const length = ctx.get('content-length');
  return length === '' ? undefined : Number(length);
}

/** The request body as an upload chunk, with its Content-Range if any. */
export function chunkOf(ctx: Context): Chunk {
  return {
    body: ownedChunks(ctx.req),
    range: parseContentRange(ctx.get('content-range') || undefined),
    length: contentLength(ctx),
  };
}

/**
 * Reads a small body (a manifest, a JSON or form body) into memory, refusing more
 * than `limit` bytes. The bytes are counted against the body budget through
 * `lease` before they are buffered: the whole Content-Length up front, or chunk by
 * chunk without one. The caller releases the lease when done with the bytes.
 */
export async function readLimited(ctx: Context, limit: number, lease: BodyLease): Promise<Buffer> {
  const declared = contentLength(ctx);
  if (declared !== undefined && declared > limit) throw new ManifestTooLargeError(limit);
  if (declared !== undefined) {
    // One buffer of the announced size, filled as bytes arrive (no second copy to join chunks).
    lease.grow(declared);
    const body = Buffer.allocUnsafe(declared);
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      // Node's parser never delivers more than Content-Length.
      size += chunk.copy(body, size);
    }
    return body.subarray(0, size);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ManifestTooLargeError(limit);
    lease.grow(chunk.length);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** `Link: <url>; rel="next"` for a paged listing. */
export function setNextLink(ctx: Context, path: string, params: Record<string, string> | [string, string][]): void {
  const query = new URLSearchParams(params).toString();
  ctx.set('Link', `<${path}?${query}>; rel="next"`);
}
