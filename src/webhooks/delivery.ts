/**
 * The delivery worker: one EndpointDelivery per configured endpoint, woken when
 * a committed batch queued events (src/main.ts listens to the store's batches),
 * when a lane frees up, and every POLL_MS as a safety net. Started once the
 * store is open; on start it picks up whatever a previous process left queued.
 */
import type { Logger } from 'pino';
import { durationMs, type Config } from '../config/schema.js';
import type { Locks } from '../registry/locks.js';
import type { MetadataStore } from '../storage/types.js';
import { EndpointDelivery, type DeliverySettings } from './endpoint-delivery.js';
import type { WebhookEvents } from './events.js';

const POLL_MS = 30_000;

export function deliverySettings(config: Config): DeliverySettings {
  const d = config.webhooksDelivery;
  return {
    maxAttempts: d.maxAttempts,
    backoffMs: durationMs(d.backoff),
    maxBackoffMs: durationMs(d.maxBackoff),
    timeoutMs: durationMs(d.timeout),
    concurrency: d.concurrency,
  };
}

export class WebhookDelivery {
  private readonly abort = new AbortController();
  private readonly endpoints: EndpointDelivery[];
  private poll: NodeJS.Timeout | undefined;

  constructor(events: WebhookEvents, meta: MetadataStore, settings: DeliverySettings, log: Logger, locks: Locks) {
    this.endpoints = events.endpoints.map((e) => new EndpointDelivery(e, meta, settings, log, this.abort.signal, locks));
  }

  get enabled(): boolean {
    return this.endpoints.length > 0;
  }

  start(): void {
    if (!this.enabled) return;
    this.wake();
    this.poll = setInterval(() => this.wake(), POLL_MS);
    this.poll.unref();
  }

  wake(): void {
    for (const e of this.endpoints) e.wake();
  }

  /** Aborts requests in flight and retry waits (their events stay queued) and waits for the lanes to end. */
  async stop(): Promise<void> {
    clearInterval(this.poll);
    this.abort.abort();
    await Promise.all(this.endpoints.map((e) => e.stopped()));
  }
}
