/** Reads a small upstream body (a manifest) into memory, refusing more than `limit` bytes. */
import { ManifestTooLargeError } from '../domain/errors.js';
import { causeOf } from './client.js';
import { UpstreamUnavailableError } from './errors.js';

export async function readBody(response: Response, limit: number, abort: (reason: Error) => void, upstream: string): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    abort(new Error('too large'));
    throw new ManifestTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > limit) {
        abort(new Error('too large'));
        throw new ManifestTooLargeError(limit);
      }
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } catch (err) {
    if (err instanceof ManifestTooLargeError) throw err;
    throw new UpstreamUnavailableError(upstream, `the manifest body broke off: ${causeOf(err)}`);
  }
  return Buffer.concat(chunks, size);
}
