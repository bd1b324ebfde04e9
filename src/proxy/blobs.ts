/**
 * Blobs of proxied repositories: a linked blob is served by the ordinary blob
 * route; a missing one is fetched once (BlobFlight) however many clients ask
 * for it meanwhile.
 */
import type { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { BlobUnknownError } from '../domain/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Registry } from '../registry/registry.js';
import { BlobFlight, type FlightStart } from './blob-flight.js';
import type { UpstreamClient } from './client.js';
import { UpstreamFailedError } from './errors.js';
import type { ProxyStats } from './stats.js';
import type { UpstreamMatch } from './upstreams.js';

export type BlobAnswer =
  /** Stream the blob live from the flight. */
  | { kind: 'live'; stream: PassThrough; start: FlightStart }
  /** The blob is in the store now: serve it as any other. */
  | { kind: 'stored' };

export class ProxyBlobs {
  private readonly flights = new Map<string, BlobFlight>();

  constructor(
    private readonly registry: Registry,
    private readonly clientOf: (match: UpstreamMatch) => UpstreamClient,
    private readonly stats: ProxyStats,
    private readonly log: Logger,
  ) {}

  /** Whether the repository links the blob already (a cache hit). */
  async cached(repo: string, digest: Digest): Promise<boolean> {
    try {
      await this.registry.blobs.stat(repo, digest);
      return true;
    } catch (err) {
      if (err instanceof BlobUnknownError) return false;
      throw err;
    }
  }

  /** Fetches the blob (or joins the fetch under way); `live: false` asks to wait for the store (range requests). */
  async fetch(match: UpstreamMatch, repo: string, digest: Digest, live: boolean): Promise<BlobAnswer> {
    const key = `${repo}@${digest}`;
    let flight = this.flights.get(key);
    if (flight !== undefined) this.stats.joined++;
    if (flight === undefined) {
      const started = new BlobFlight(this.registry, this.clientOf(match), match.remote, repo, digest, this.stats, this.log);
      flight = started;
      this.flights.set(key, started);
      // A failed flight is forgotten at once: the next request tries the upstream again.
      started.done.finally(() => this.flights.delete(key)).catch(() => undefined);
    }
    const stream = live ? flight.join() : undefined;
    if (stream !== undefined) {
      try {
        return { kind: 'live', stream, start: await flight.ready };
      } catch (err) {
        stream.destroy();
        throw err;
      }
    }
    await flight.done;
    return { kind: 'stored' };
  }

  /** Waits for every fetch under way to end (stored or failed): at shutdown, before the stores close. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.flights.values()].map((f) => f.done));
  }

  /** HEAD of a blob not cached: asked of the upstream, nothing fetched. */
  async size(match: UpstreamMatch, digest: Digest): Promise<number | undefined> {
    const response = await this.clientOf(match).request('HEAD', match.remote, `blobs/${digest}`);
    await response.discard();
    if (response.status === 404) throw new BlobUnknownError(digest);
    if (response.status !== 200) throw new UpstreamFailedError(match.upstream.url, `HEAD of the blob answered ${response.status}`, { status: response.status });
    const header = response.header('content-length');
    return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
  }
}
