/**
 * Every Prometheus metric unireg exposes, in one place (docs/operations.md
 * lists them with their meanings). Each server has its own prom-client
 * registry, so two servers in one process (tests) never share figures.
 * Nothing outside src/metrics/ imports prom-client: the registry, GC and
 * retention report through plain counters and events that this module reads.
 */
import { Counter, Gauge, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { GcReport } from '../gc/report.js';
import type { ManifestCache } from '../registry/manifest-cache.js';
import type { RunOutcome } from '../registry/run-events.js';
import type { RetentionReport } from '../retention/service.js';
import { HttpStats } from './http-stats.js';
import type { StoredContent } from './stored.js';
import type { ProxyStats } from '../proxy/stats.js';


export interface MetricsSources {
  stored: StoredContent;
  cache: ManifestCache;
  /** The pull-through cache's tallies, when proxy upstreams are configured. */
  proxy?: ProxyStats;
}

export class Metrics {
  readonly registry = new PromRegistry();
  /** Requests, latency, bytes, in flight: plain numbers, written out at scrape time (src/metrics/http-stats.ts). */
  readonly http = new HttpStats();
  readonly refusals: Counter<'status' | 'code'>;
  private readonly gcRuns: Counter<'outcome' | 'dry_run'>;
  private readonly gcDeleted: Counter<'what'>;
  private readonly gcFreed: Counter;
  private readonly gcLast: Gauge<'what'>;
  private readonly retentionRuns: Counter<'outcome' | 'dry_run'>;
  private readonly retentionDeleted: Counter;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.refusals = new Counter({
      name: 'unireg_http_refusals_total',
      help: 'Requests refused for authentication (401), authorisation (403) or rate limits (429), by status and OCI error code',
      labelNames: ['status', 'code'],
      registers,
    });
    this.stored(sources.stored, registers);
    this.cache(sources.cache, registers);
    if (sources.proxy) this.proxy(sources.proxy, registers);
    this.gcRuns = new Counter({ name: 'unireg_gc_runs_total', help: 'Garbage collection runs that ended, by outcome (ok, failed) and dry_run', labelNames: ['outcome', 'dry_run'], registers });
    this.gcDeleted = new Counter({ name: 'unireg_gc_deleted_total', help: 'What garbage collection deleted (not dry runs): manifests, links, blobs', labelNames: ['what'], registers });
    this.gcFreed = new Counter({ name: 'unireg_gc_freed_bytes_total', help: 'Bytes of blob files garbage collection deleted (not dry runs)', registers });
    this.gcLast = new Gauge({
      name: 'unireg_gc_last_run',
      help: 'The last finished GC run that was not a dry run: end time (what="timestamp_seconds") and duration (what="duration_seconds")',
      labelNames: ['what'],
      registers,
    });
    this.retentionRuns = new Counter({ name: 'unireg_retention_runs_total', help: 'Retention runs that ended, by outcome (ok, failed) and dry_run', labelNames: ['outcome', 'dry_run'], registers });
    this.retentionDeleted = new Counter({ name: 'unireg_retention_deleted_tags_total', help: 'Tags retention deleted (not dry runs)', registers });
  }

  private stored(stored: StoredContent, registers: PromRegistry[]): void {
    const gauge = (name: string, help: string, read: (f: ReturnType<StoredContent['figures']>) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          await stored.load().catch(() => undefined);
          this.set(read(stored.figures()));
        },
      });
    gauge('unireg_repositories', 'Repositories', (f) => f.repositories);
    gauge('unireg_blobs', 'Distinct blobs linked to at least one repository', (f) => f.blobs);
    gauge('unireg_manifests', 'Manifest records, one per repository and digest', (f) => f.manifests);
    gauge('unireg_uploads_in_progress', 'Upload sessions open (started, neither finished nor expired)', (f) => f.uploads);
    new Gauge({
      name: 'unireg_stored_bytes',
      help: 'Bytes stored: kind="blobs" each distinct linked blob once, kind="manifests" each manifest record',
      labelNames: ['kind'],
      registers,
      async collect() {
        // The start-up count runs in the background (src/main.ts): a scrape waits for it (on failure: partial figures, logged once).
        await stored.load().catch(() => undefined);
        const f = stored.figures();
        this.set({ kind: 'blobs' }, f.blobBytes);
        this.set({ kind: 'manifests' }, f.manifestBytes);
      },
    });
  }

  private cache(cache: ManifestCache, registers: PromRegistry[]): void {
    // Counters read from the cache's own tallies at scrape time: the cache never calls into prom-client.
    const counter = (name: string, help: string, hits: () => number, misses: () => number) => {
      const seen = { hit: 0, miss: 0 };
      new Counter({
        name,
        help,
        labelNames: ['result'],
        registers,
        collect() {
          const now = { hit: hits(), miss: misses() };
          for (const result of ['hit', 'miss'] as const) {
            this.inc({ result }, now[result] - seen[result]);
            seen[result] = now[result];
          }
        },
      });
    };
    counter('unireg_manifest_cache_tag_lookups_total', 'Tag lookups by the manifest cache, by result (hit, miss)', () => cache.stats.tagHits, () => cache.stats.tagMisses);
    counter(
      'unireg_manifest_cache_manifest_lookups_total',
      'Manifest lookups by the manifest cache, by result (hit, miss)',
      () => cache.stats.manifestHits,
      () => cache.stats.manifestMisses,
    );
  }

  private proxy(stats: ProxyStats, registers: PromRegistry[]): void {
    // Read from the proxy's plain tallies at scrape time, like the cache's.
    const counter = (name: string, help: string, labelName: string, read: Record<string, () => number>) => {
      const seen = new Map<string, number>();
      new Counter({
        name,
        help,
        labelNames: labelName === '' ? [] : [labelName],
        registers,
        collect() {
          for (const [label, get] of Object.entries(read)) {
            const now = get();
            const delta = now - (seen.get(label) ?? 0);
            seen.set(label, now);
            if (labelName === '') this.inc(delta);
            else this.inc({ [labelName]: label }, delta);
          }
        },
      });
    };
    counter('unireg_proxy_requests_total', 'Pull-through cache requests by result: hit (served from the store), miss (fetched from the upstream), joined (a blob another request is fetching, single flight), stale (cached manifest served while the upstream failed)', 'result', {
      hit: () => stats.hits,
      miss: () => stats.misses,
      joined: () => stats.joined,
      stale: () => stats.staleServes,
    });
    counter('unireg_proxy_upstream_bytes_total', 'Bytes received from proxy upstreams (manifest and blob bodies)', '', { all: () => stats.upstreamBytes });
    counter('unireg_proxy_blob_fetches_total', 'Upstream blob fetches by outcome; each serves every client that asked meanwhile (single flight)', 'outcome', {
      started: () => stats.blobFetches,
      stored: () => stats.blobsStored,
      failed: () => stats.blobFetchFailures,
    });
    counter('unireg_proxy_revalidations_total', 'Manifests by tag the upstream confirmed unchanged after their TTL', '', { all: () => stats.revalidated });
  }

  readonly gcFinished = (outcome: RunOutcome<GcReport>): void => {
    if (!outcome.ok) {
      this.gcRuns.inc({ outcome: 'failed', dry_run: 'unknown' });
      return;
    }
    const r = outcome.report;
    this.gcRuns.inc({ outcome: 'ok', dry_run: String(r.dryRun) });
    if (r.dryRun) return;
    this.gcDeleted.inc({ what: 'manifests' }, r.manifestsDeleted);
    this.gcDeleted.inc({ what: 'links' }, r.linksDeleted);
    this.gcDeleted.inc({ what: 'blobs' }, r.blobsDeleted);
    this.gcFreed.inc(r.bytesFreed);
    this.gcLast.set({ what: 'timestamp_seconds' }, Date.now() / 1000);
    this.gcLast.set({ what: 'duration_seconds' }, r.durationMs / 1000);
  };

  readonly retentionFinished = (outcome: RunOutcome<RetentionReport>): void => {
    if (!outcome.ok) {
      this.retentionRuns.inc({ outcome: 'failed', dry_run: 'unknown' });
      return;
    }
    this.retentionRuns.inc({ outcome: 'ok', dry_run: String(outcome.report.dryRun) });
    if (!outcome.report.dryRun) this.retentionDeleted.inc(outcome.report.counts.deleted);
  };

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    const body = await this.registry.metrics();
    return { contentType: this.registry.contentType, body: `${this.http.exposition()}${body}` };
  }
}
