/**
 * One upstream fetch of one blob, shared by every client that asks for it
 * while it runs (single flight).
 *
 * The upstream body goes into the store through UploadService.monolithic (the
 * ordinary single-request upload path: spooled to a temporary file, hashed,
 * checked against the digest, then ingested and linked under the blob's lock
 * and the quota check), and at the same time to every client that joined
 * before the first byte was passed on. Each chunk is passed on only when the
 * next one has arrived, and the last one only once the store, which hashes the
 * body as it writes it, has found that it matches the digest (before it makes
 * the blob durable: clients do not wait for its fsync): a lying or broken
 * upstream (wrong bytes, a cut body) leaves nothing stored and ends every
 * client's response early, so no client ever receives a complete wrong blob.
 * Clients that ask later
 * wait for the flight and are then served from the store.
 *
 * Memory stays flat: the upstream is read only as fast as the slowest client
 * takes the bytes (each has a 1 MiB buffer); a client that takes nothing for
 * LAGGARD_MS is cut off so it cannot stall the others.
 */
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { BlobUnknownError } from '../domain/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Registry } from '../registry/registry.js';
import { causeOf, type UpstreamClient } from './client.js';
import { UpstreamFailedError, UpstreamUnavailableError } from './errors.js';
import type { ProxyStats } from './stats.js';

/** A client whose buffer stays full this long is cut off (it would hold every other client back). */
export const LAGGARD_MS = 30_000;
const CLIENT_BUFFER = 1024 * 1024;

export interface FlightStart {
  /** The blob's size when the upstream sent Content-Length. */
  size?: number;
}

export class BlobFlight {
  private readonly subscribers = new Set<PassThrough>();
  /** Set once the first chunk went to the clients: later clients wait for the store. */
  private passing = false;
  private resolveReady!: (start: FlightStart) => void;
  /** Settles when the upstream answered with the blob (its size known), or failed before. */
  readonly ready: Promise<FlightStart>;
  /** Settles when the blob is stored (or the fetch failed: nothing was stored). */
  readonly done: Promise<void>;

  constructor(
    private readonly registry: Registry,
    private readonly client: UpstreamClient,
    private readonly remote: string,
    private readonly repo: string,
    private readonly digest: Digest,
    private readonly stats: ProxyStats,
    private readonly log: Logger,
  ) {
    let rejectReady!: (err: unknown) => void;
    this.ready = new Promise<FlightStart>((ok, fail) => {
      this.resolveReady = ok;
      rejectReady = fail;
    });
    this.done = this.run().then(
      () => undefined,
      (err: unknown) => {
        rejectReady(err);
        for (const s of this.subscribers) s.destroy(err instanceof Error ? err : new Error(String(err)));
        this.subscribers.clear();
        throw err;
      },
    );
    // Callers that never look at one of them must not produce unhandled rejections.
    this.ready.catch(() => undefined);
    this.done.catch(() => undefined);
  }

  /** A stream of the whole blob, if this client is early enough to get it live; undefined: wait for `done`. */
  join(): PassThrough | undefined {
    if (this.passing) return undefined;
    const stream = new PassThrough({ highWaterMark: CLIENT_BUFFER });
    this.subscribers.add(stream);
    stream.once('close', () => this.subscribers.delete(stream));
    // The failure reaches the client as a cut response (the route destroys its connection); not an uncaught error.
    stream.on('error', () => undefined);
    return stream;
  }

  private async run(): Promise<void> {
    this.stats.blobFetches++;
    const { url } = this.client.upstream;
    const response = await this.client.request('GET', this.remote, `blobs/${this.digest}`);
    if (response.status === 404) {
      await response.discard();
      throw new BlobUnknownError(this.digest);
    }
    if (response.status !== 200) {
      await response.discard();
      throw new UpstreamFailedError(url, `GET of the blob answered ${response.status}`, { status: response.status });
    }
    const header = response.header('content-length');
    const size = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    this.resolveReady(size === undefined ? {} : { size });
    this.stats.misses++;
    const body = this.pump(response.body as AsyncIterable<Buffer>);
    let released: Promise<void> | undefined;
    const onVerified = () => void (released = this.release());
    try {
      await this.registry.uploads.monolithic(this.repo, this.digest, { body, onVerified, readSoon: true, ...(size === undefined ? {} : { length: size }) });
    } catch (err) {
      this.stats.blobFetchFailures++;
      response.abort(new Error('the blob could not be stored'));
      this.log.warn({ repo: this.repo, digest: this.digest, upstream: url, err: (err as Error).message }, 'upstream blob fetch failed: nothing stored');
      if (err instanceof Error && (err.name === 'DigestMismatchError' || err.name === 'SizeInvalidError')) {
        throw new UpstreamFailedError(url, `the blob's bytes are not what was asked for: ${err.message}`, { digest: this.digest });
      }
      throw err;
    } finally {
      await released;
    }
    this.stats.blobsStored++;
    this.log.info({ repo: this.repo, digest: this.digest, upstream: url }, 'cached a blob from the upstream');
  }

  /** The chunk passed on last, once the store has verified the whole body (release). */
  private held: Buffer | undefined;

  /**
   * The upstream body as the store reads it; each chunk goes to the clients once the next has
   * arrived. The last one (and the end) waits for release(): the store hashes the body once and
   * calls it when the digest matches, before it makes the blob durable.
   */
  private async *pump(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const { url } = this.client.upstream;
    try {
      // An upstream that sends nothing for BODY_IDLE_MS errors the body (client.ts).
      for await (const buffer of source) {
        this.stats.upstreamBytes += buffer.length;
        if (this.held !== undefined) await this.forward(this.held);
        this.held = buffer;
        yield buffer;
      }
    } catch (err) {
      throw new UpstreamUnavailableError(url, `the blob body broke off: ${causeOf(err)}`);
    }
  }

  /** The body matched its digest: the last chunk and the end go to the clients. */
  private async release(): Promise<void> {
    if (this.held !== undefined) await this.forward(this.held);
    this.held = undefined;
    // An empty blob passed nothing on: from now on clients wait for the store all the same.
    this.passing = true;
    for (const s of this.subscribers) s.end();
  }

  /** Writes a chunk to every client and waits until each has room again (or is gone, or cut off as a laggard). */
  private async forward(chunk: Buffer): Promise<void> {
    this.passing = true;
    const waits: Promise<void>[] = [];
    for (const s of this.subscribers) {
      if (s.destroyed) continue;
      if (!s.write(chunk)) waits.push(roomIn(s));
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((ok) => (timer = setTimeout(ok, LAGGARD_MS)));
    await Promise.race([Promise.all(waits), late]);
    clearTimeout(timer);
    for (const s of this.subscribers) {
      if (s.writableNeedDrain) s.destroy(new Error('client too slow: cut off so that it does not hold the others back'));
    }
  }
}

function roomIn(stream: PassThrough): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      ok();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
