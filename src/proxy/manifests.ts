/**
 * Manifests of proxied repositories. By digest they are immutable: fetched
 * once, then served from the store for ever. By tag they are served from the
 * store while younger than the upstream's `manifestTTL`, then revalidated
 * (HEAD, digest compare; a changed tag is fetched again). When the upstream is
 * unreachable or fails, the cached copy is served and marked stale
 * (stale-if-error); with nothing cached, the client gets 503/502.
 *
 * Fetched manifests are stored through ManifestService.put (same locks, quotas,
 * events and listings as a push), flagged as cached content: their blobs are
 * fetched when clients ask for them.
 */
import type { Logger } from 'pino';
import { ManifestInvalidError, ManifestTooLargeError, ManifestUnknownError, RegistryError } from '../domain/errors.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import { parseReference } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import type { ManifestRecord } from '../storage/types.js';
import type { UpstreamClient } from './client.js';
import { UpstreamFailedError, UpstreamUnavailableError } from './errors.js';
import { readBody } from './read-body.js';
import type { ProxyStats } from './stats.js';
import type { UpstreamMatch } from './upstreams.js';

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');
/** A pull of a tag is recorded at most this often (retention's deleteNotPulledFor counts in days). */
const PULL_RECORD_EVERY_MS = 60_000;
/** Bound on the in-memory bookkeeping maps; past it they start over (costing one revalidation each). */
const MAX_TRACKED = 100_000;

export interface ProxiedManifest {
  record: ManifestRecord;
  /** Served from the cache because the upstream could not be asked (stale-if-error). */
  stale: boolean;
}

export class ProxyManifests {
  /** When each `repo:tag` was last fetched or confirmed by its upstream (in memory: after a restart, tags revalidate once). */
  private readonly validated = new Map<string, number>();
  private readonly pullRecorded = new Map<string, number>();
  private readonly flights = new Map<string, Promise<ProxiedManifest>>();

  constructor(
    private readonly registry: Registry,
    private readonly clientOf: (match: UpstreamMatch) => UpstreamClient,
    private readonly stats: ProxyStats,
    private readonly log: Logger,
  ) {}

  async get(match: UpstreamMatch, repo: string, reference: string): Promise<ProxiedManifest> {
    const ref = parseReference(reference);
    const local = await this.local(repo, reference);
    if (ref.kind === 'digest') {
      if (local !== undefined) {
        this.stats.hits++;
        return { record: local, stale: false };
      }
      return this.single(`${repo}@${reference}`, () => this.fetch(match, repo, reference));
    }
    const key = `${repo}:${ref.tag}`;
    let answer: ProxiedManifest;
    if (local !== undefined && Date.now() - (this.validated.get(key) ?? 0) < match.upstream.manifestTtlMs) {
      this.stats.hits++;
      answer = { record: local, stale: false };
    } else {
      answer = await this.single(key, () => (local === undefined ? this.fetch(match, repo, reference) : this.revalidate(match, repo, reference, local)));
    }
    this.recordPull(repo, ref.tag, answer.record.digest);
    return answer;
  }

  private async local(repo: string, reference: string): Promise<ManifestRecord | undefined> {
    try {
      return await this.registry.manifests.get(repo, reference);
    } catch (err) {
      if (err instanceof ManifestUnknownError) return undefined;
      throw err;
    }
  }

  private single(key: string, job: () => Promise<ProxiedManifest>): Promise<ProxiedManifest> {
    let flight = this.flights.get(key);
    if (flight === undefined) {
      flight = job().finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    return flight;
  }

  /** A cached tag past its TTL: unchanged upstream → fresh again; changed → fetched; upstream down or failing → stale. */
  private async revalidate(match: UpstreamMatch, repo: string, tag: string, local: ManifestRecord): Promise<ProxiedManifest> {
    try {
      const response = await this.clientOf(match).request('HEAD', match.remote, `manifests/${tag}`, ACCEPT);
      await response.discard();
      if (response.status === 404) throw new ManifestUnknownError(tag);
      if (response.status !== 200) throw new UpstreamFailedError(match.upstream.url, `HEAD of the manifest answered ${response.status}`);
      if (response.header('docker-content-digest') === local.digest) {
        this.stats.revalidated++;
        this.stats.hits++;
        this.markValidated(`${repo}:${tag}`);
        return { record: local, stale: false };
      }
      return await this.fetch(match, repo, tag);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailableError || err instanceof UpstreamFailedError)) throw err;
      this.stats.staleServes++;
      this.log.warn({ repo, tag, upstream: match.upstream.url, err: err.message }, 'upstream unavailable: serving the cached manifest (stale)');
      return { record: local, stale: true };
    }
  }

  private async fetch(match: UpstreamMatch, repo: string, reference: string): Promise<ProxiedManifest> {
    const { url } = match.upstream;
    const response = await this.clientOf(match).request('GET', match.remote, `manifests/${reference}`, ACCEPT);
    if (response.status === 404) {
      await response.discard();
      throw new ManifestUnknownError(reference);
    }
    if (response.status !== 200) {
      await response.discard();
      throw new UpstreamFailedError(url, `GET of the manifest answered ${response.status}`, { status: response.status });
    }
    const limit = this.registry.deps.config.manifests.maxSize;
    const bytes = await readBody(response, limit, url).catch((err: unknown) => {
      throw err instanceof ManifestTooLargeError ? new UpstreamFailedError(url, `the manifest is larger than manifests.maxSize (${limit})`) : err;
    });
    this.stats.upstreamBytes += bytes.length;
    this.stats.misses++;
    const said = response.header('docker-content-digest');
    if (said !== undefined && !said.startsWith('sha512:') && said !== digestOf(bytes)) {
      throw new UpstreamFailedError(url, 'the manifest does not match the digest the upstream gave', { expected: said, actual: digestOf(bytes) });
    }
    const contentType = response.header('content-type');
    let digest: Digest;
    try {
      ({ digest } = await this.registry.manifests.put(repo, reference, bytes, contentType, { cached: true }));
    } catch (err) {
      // Bytes that are not the digest asked for, or not a manifest: the upstream's fault, not the client's.
      if (err instanceof RegistryError && (err.name === 'DigestMismatchError' || err instanceof ManifestInvalidError)) {
        throw new UpstreamFailedError(url, err.message, err.detail);
      }
      throw err;
    }
    this.markValidated(`${repo}:${reference}`);
    this.log.info({ repo, reference, digest, upstream: url }, 'cached a manifest from the upstream');
    return { record: await this.registry.manifests.get(repo, digest), stale: false };
  }

  private markValidated(key: string): void {
    if (this.validated.size >= MAX_TRACKED) this.validated.clear();
    this.validated.set(key, Date.now());
  }

  /** Records the pull in the tag's record (retention's deleteNotPulledFor), at most once a minute, off the response path. */
  private recordPull(repo: string, tag: string, digest: Digest): void {
    const key = `${repo}:${tag}`;
    const now = Date.now();
    if (now - (this.pullRecorded.get(key) ?? 0) < PULL_RECORD_EVERY_MS) return;
    if (this.pullRecorded.size >= MAX_TRACKED) this.pullRecorded.clear();
    this.pullRecorded.set(key, now);
    this.registry.manifests.markPulled(repo, tag, digest, now).catch((err: unknown) => this.log.warn({ err, repo, tag }, 'could not record a pull'));
  }
}
