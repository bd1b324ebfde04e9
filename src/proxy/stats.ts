/** The pull-through cache's tallies, plain numbers read by src/metrics/metrics.ts at scrape time. */
export class ProxyStats {
  /** Requests of proxied repositories answered from the store without asking the upstream (fresh manifest, cached blob). */
  hits = 0;
  /** Requests that fetched content from the upstream. */
  misses = 0;
  /** Blob requests served by a fetch another request started (single flight): live, or from the store once it ended. */
  joined = 0;
  /** Manifests by tag confirmed unchanged by the upstream after their TTL. */
  revalidated = 0;
  /** Cached manifests served because the upstream was unreachable or failed (stale-if-error). */
  staleServes = 0;
  /** Bytes received from upstreams (manifest and blob bodies). */
  upstreamBytes = 0;
  /** Upstream blob fetches started (single flight: one per blob however many clients wait). */
  blobFetches = 0;
  /** Upstream blob fetches that ended with the blob stored (verified, ingested, linked). */
  blobsStored = 0;
  /** Upstream blob fetches that failed (cut connection, wrong bytes, refused): nothing was stored. */
  blobFetchFailures = 0;
}
