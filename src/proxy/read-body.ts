/** Reads a small upstream body (a manifest) into memory, refusing more than `limit` bytes. */
import { ManifestTooLargeError } from '../domain/errors.js';
import { causeOf, type UpstreamResponse } from './client.js';
import { UpstreamUnavailableError } from './errors.js';

export async function readBody(response: UpstreamResponse, limit: number, upstream: string): Promise<Buffer> {
  const declared = Number(response.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    response.abort(new Error('too large'));
    throw new ManifestTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        response.abort(new Error('too large'));
        throw new ManifestTooLargeError(limit);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ManifestTooLargeError) throw err;
    throw new UpstreamUnavailableError(upstream, `the manifest body broke off: ${causeOf(err)}`);
  }
  return Buffer.concat(chunks, size);
}
