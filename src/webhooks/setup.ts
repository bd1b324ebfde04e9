/** Wiring for src/main.ts: the events the registry queues and the worker that delivers them. */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Locks } from '../registry/locks.js';
import { keys } from '../storage/metadata/keys.js';
import type { ObservedKv } from '../storage/observed-kv.js';
import type { MetadataStore } from '../storage/types.js';
import { deliverySettings, WebhookDelivery } from './delivery.js';
import { WebhookEvents } from './events.js';

export interface Webhooks {
  events: WebhookEvents;
  delivery: WebhookDelivery;
}

export function setupWebhooks(config: Config, meta: MetadataStore, kv: ObservedKv, log: Logger, locks: Locks): Webhooks {
  const events = new WebhookEvents(config.webhooks, config.webhooksDelivery.source);
  const delivery = new WebhookDelivery(events, meta, deliverySettings(config), log.child({ component: 'webhooks' }), locks);
  // A committed batch that queued events (a push, a delete, a replay...) wakes the worker.
  if (delivery.enabled) kv.onBatch((ops) => ops.some((op) => op.type === 'put' && keys.isPendingEvent(op.key)) && delivery.wake());
  return { events, delivery };
}
