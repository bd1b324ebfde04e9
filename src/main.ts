/**
 * The composition root: config → logger → stores → registry → app → listen.
 * Also owns the process-level lifecycle: the upload sweeper and graceful shutdown.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { answerClientError } from './http/client-error.js';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { setupAuth } from './auth/setup.js';
import { durationMs, isLoopback, type Config } from './config/schema.js';
import { trackConnections } from './http/connections.js';
import { serverLimits } from './http/server-limits.js';
import { scheduleGc } from './gc/schedule.js';
import { createLogger } from './log.js';
import { jobKey } from './registry/locks.js';
import { ManifestCache } from './registry/manifest-cache.js';
import { ListingPageCache } from './registry/listing-page-cache.js';
import { QuotaService } from './registry/quotas.js';
import { Registry } from './registry/registry.js';
import { UnikernelTagMerger } from './unikernel/tag-merger.js';
import { VariantIndex } from './unikernel/variant-index.js';
import { BootService } from './unikernel/boot/boot-service.js';
import { createBlobDriver } from './storage/blob-driver.js';
import { setHashThreads } from './oci/hash-thread.js';
import { Layout } from './storage/fs/layout.js';
import { loadStoredSigningKey } from './auth/stored-signing-key.js';
import { feedCacheChanges, feedChanges } from './storage/metadata/change-feed.js';
import { metadataDriver } from './storage/metadata-driver.js';
import { changesOf } from './storage/metadata/changes.js';
import { KvMetadataStore } from './storage/metadata/kv-metadata-store.js';
import { ObservedKv } from './storage/observed-kv.js';
import { dropRemovedEndpoints } from './webhooks/removed-endpoints.js';
import { setupWebhooks } from './webhooks/setup.js';
import { loadTracing } from './tracing/load.js';
import { keys } from './storage/metadata/keys.js';
import { Health } from './metrics/health.js';
import { listenMetrics, type MetricsListener } from './metrics/listener.js';
import { Metrics } from './metrics/metrics.js';
import { StoredContent } from './metrics/stored.js';
import type { Proxy } from './proxy/proxy.js';

export interface RunningServer {
  server: Server;
  registry: Registry;
  /** `http(s)://host:port` as actually bound (port 0 resolved). */
  url: string;
  /** `http://host:port` of the separate metrics listener (metrics.addr), when there is one. */
  metricsUrl?: string;
  /** The pull-through cache, when `proxy.upstreams` are configured. */
  proxy?: Proxy;
  /** Stops accepting, ends idle connections, lets in-flight requests finish (up to the grace period), closes LevelDB. */
  close(): Promise<void>;
}

function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

async function readTlsFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new StartupError(`cannot read http.tls.${what} ${path}: ${(err as Error).message}`);
  }
}

export async function startServer(config: Config, logger?: Logger): Promise<RunningServer> {
  const log = logger ?? createLogger(config.log.level);
  // Off (the default): undefined, and no OpenTelemetry SDK is loaded (src/tracing/load.ts).
  const tracing = await loadTracing(config.tracing, log);
  const layout = new Layout(resolve(config.storage.root));
  const tls = config.http.tls;
  const tlsFiles =
    tls.certificate === '' ? undefined : { cert: await readTlsFile(tls.certificate, 'certificate'), key: await readTlsFile(tls.key, 'key') };
  // storage.blobs: the content-addressed directory, or an S3 bucket (src/storage/blob-driver.ts).
  setHashThreads(config.storage.blobs.hashThreads);
  const blobDriver = await createBlobDriver(config.storage, layout);
  const blobs = blobDriver.blobs;
  await blobs.init();
  // storage.metadata.driver: LevelDB (one process) or PostgreSQL (shared by replicas, with a change feed).
  const driver = await metadataDriver(config, layout.metaDir, log);
  const { locks, changes } = driver;
  const kv = new ObservedKv(driver.kv);
  // Metrics' stored-content figures follow every committed batch from the first (src/metrics/stored.ts):
  // this process's own, or with a shared store every replica's, from the change feed.
  const stored = config.metrics.enabled ? new StoredContent(kv) : undefined;
  if (stored && changes) changes.onBatch((batch) => stored.applyFeed(batch.ops));
  else if (stored) kv.onBatch(stored.apply);
  const meta = new KvMetadataStore(kv);
  const closeStores = async () => {
    await meta.close();
    await driver.close();
  };
  // A PostgreSQL that cannot be reached or used stops start-up with its reason (the URL's password is not shown).
  const unusable = (err: unknown): unknown => {
    if (!driver.shared || !(err instanceof Error)) return err;
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    return new StartupError(`cannot use the PostgreSQL metadata store (storage.metadata.postgres.url): ${cause}`);
  };
  await meta.open().catch(async (err: unknown) => {
    await driver.close();
    throw unusable(err);
  });
  await changes?.start().catch(async (err: unknown) => {
    await closeStores();
    throw unusable(err);
  });
  // After LevelDB's lock is held: a second process on the same root stops above, before it can touch the signing key.
  // With a shared store the key lives in it (one key for every replica).
  const loadKey = driver.shared ? () => loadStoredSigningKey(kv, locks, log) : undefined;
  const auth = await setupAuth(config, layout, log, loadKey).catch(async (err: unknown) => {
    await closeStores();
    throw err;
  });
  // Store calls made while serving a request become child spans of its server span.
  const stores = tracing?.wrap({ meta, blobs }) ?? { meta, blobs };
  // With a shared store, admission syncs with the change feed under a lock every replica honours (src/registry/quotas.ts).
  const quotas = new QuotaService(stores.meta, config.quotas, changes ? { locks, sync: () => changes.sync() } : undefined);
  if (quotas.enabled && changes) changes.onBatch((batch) => quotas.apply(feedChanges(batch.ops)));
  else if (quotas.enabled) kv.onBatch((ops) => quotas.apply(changesOf(ops)));
  quotas.start();
  const webhooks = setupWebhooks(config, meta, kv, log, locks);
  await dropRemovedEndpoints(meta, webhooks.events, log.child({ component: 'webhooks' })).catch(async (err: unknown) => {
    await closeStores();
    throw err;
  });
  const cache = new ManifestCache();
  if (changes) {
    // Other replicas' writes: drop what they changed; without the feed, trust no cached entry (src/registry/manifest-cache.ts).
    changes.onBatch((batch) => {
      for (const [repo, change] of feedCacheChanges(batch.ops)) cache.invalidate(repo, change);
      if (batch.events) webhooks.delivery.wake();
    });
    changes.onLost(() => cache.suspend());
    changes.onRestored(() => {
      cache.resume();
      quotas.resync();
      stored?.rescan().catch((err: unknown) => log.error({ err }, 'stored-content metrics could not be recounted'));
    });
  }
  // tags/list and catalog pages, dropped by every committed batch that writes tags or repository records (src/registry/listing-page-cache.ts).
  // Only this process's batches reach it, so with a shared store (replicas) there is no page cache.
  const listingPages = driver.shared ? undefined : new ListingPageCache();
  if (listingPages) kv.onBatch(listingPages.apply);
  const registry = new Registry(
    {
      ...stores,
      uploadArea: blobDriver.uploadsOver(stores.blobs),
      // Replicas sharing the metadata may take any chunk of a session: the running hash is kept with it.
      uploadHashing: driver.shared ? 'persisted' : blobDriver.hashing,
      layout,
      config,
      log,
      locks,
      cache,
      quotas,
      webhooks: webhooks.events,
      ...(listingPages ? { listingPages } : {}),
    },
    (deps) => new UnikernelTagMerger(deps),
  );
  await registry.uploads.clearTmp();
  // One sweep at a time across replicas sharing the store.
  const sweepUploads = () => locks.tryRun(jobKey('upload-sweep'), () => registry.uploads.sweep());
  await sweepUploads();
  // Once per data root (and after a verify --repair of the index): the kconfig search index of what is already stored.
  const indexed = await new VariantIndex(registry.deps).backfill().catch(async (err: unknown) => {
    await closeStores();
    throw err;
  });
  if (indexed) log.info(indexed, 'built the kconfig search index');
  // Boot attestations (unikernel.bootCheck): committed variant manifests are queued; one worker boots them.
  const bootCheck = config.unikernel.bootCheck;
  const boots = BootService.wanted(bootCheck) ? new BootService(registry, bootCheck, log.child({ component: 'boot-check' })) : undefined;
  if (boots) registry.manifests.onCommitted(boots.committed);

  // The stored-content count reads every link and manifest record: it runs while the server already answers,
  // and a /metrics scrape waits for it (src/metrics/metrics.ts), so start-up does not grow with the data.
  stored?.load().catch((err: unknown) => log.error({ err }, 'counting stored content failed: the stored-content metrics are partial'));
  // The pull-through cache's modules (and undici) are loaded only when upstreams are configured.
  const proxy: Proxy | undefined = config.proxy.upstreams.length > 0 ? (await import('./proxy/proxy.js')).Proxy.create(config, registry, log) : undefined;
  const metrics = stored ? new Metrics({ stored, cache, proxy: proxy?.stats }) : undefined;
  if (metrics) {
    registry.gc.finished.on(metrics.gcFinished);
    registry.retention.finished.on(metrics.retentionFinished);
  }
  const health = new Health({ metadata: () => kv.get(keys.flushMarker()), blobsDir: layout.blobsDir, blobs: blobDriver.probe });
  const ops = { health, metrics };
  const app = createApp({ registry, config, log, auth, ops, proxy, ...(tracing ? { tracing: tracing.middleware } : {}) });
  // Timeouts and the connection cap against slow and hostile clients (src/http/server-limits.ts).
  const limits = serverLimits(config.http, log);
  const handler = limits.handler(app.callback());
  let server: Server;
  try {
    server = tlsFiles ? createTlsServer({ ...limits.options, ...tlsFiles }, handler) : createServer(limits.options, handler);
  } catch (err) {
    await closeStores();
    throw new StartupError(`cannot use http.tls certificate and key: ${(err as Error).message}`);
  }
  limits.attach(server, tlsFiles !== undefined);
  const connections = trackConnections(server, tlsFiles !== undefined);
  server.on('clientError', answerClientError);
  const { host, port } = splitAddr(config.http.addr);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const bound = server.address() as AddressInfo;
  const scheme = tls.certificate === '' ? 'http' : 'https';
  const url = `${scheme}://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  log.info({ url, root: layout.root, auth: config.auth.mode, ...blobDriver.describe, metadata: config.storage.metadata.driver }, 'unireg listening');
  if (config.auth.mode === 'none' && !isLoopback(config.http.addr)) {
    log.warn({ addr: config.http.addr }, 'serving without authentication on a non-loopback address (auth.allowInsecureOpen)');
  }

  let metricsListener: MetricsListener | undefined;
  if (config.metrics.addr !== '') {
    metricsListener = await listenMetrics(config.metrics.addr, ops, log).catch(async (err: unknown) => {
      await new Promise<void>((ok) => server.close(() => ok()));
      await closeStores();
      throw err;
    });
  }

  const sweepEvery = Math.min(durationMs(config.uploads.expiry) / 4, 10 * 60_000);
  const sweeper = setInterval(() => {
    sweepUploads().catch((err: unknown) => log.error({ err }, 'upload sweep failed'));
  }, sweepEvery);
  sweeper.unref();
  const gcSchedule = scheduleGc(registry.gc, config, log);
  webhooks.delivery.start();
  await boots?.start().catch(async (err: unknown) => {
    await webhooks.delivery.stop();
    await metricsListener?.close();
    await new Promise<void>((ok) => server.close(() => ok()));
    await closeStores();
    throw new StartupError(`cannot start boot checks: ${(err as Error).message}`);
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // First: /readyz answers 503 from now on, so a load balancer stops sending while requests drain.
      health.markShuttingDown();
      clearInterval(sweeper);
      const gcStopped = gcSchedule.stop();
      // Stop accepting; end idle connections now and the others after their last response,
      // so shutdown takes as long as the slowest request (up to the grace period), not the whole grace.
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      connections.drain();
      const grace = setTimeout(() => {
        log.warn('shutdown grace period over: cutting open connections');
        server.closeAllConnections();
      }, durationMs(config.http.shutdownGrace));
      await closed;
      clearTimeout(grace);
      await gcStopped;
      await proxy?.close();
      await webhooks.delivery.stop();
      await boots?.stop();
      await closeStores();
      await tracing?.shutdown();
      await metricsListener?.close();
      log.info('unireg stopped');
    })());

  return { server, registry, url, metricsUrl: metricsListener?.url, proxy, close };
}
