/**
 * Start-up clean-up of the webhook outbox: an endpoint removed from the configuration (or whose URL
 * changed) means "stop delivering there", so the pending and dead events of every queue that no configured
 * endpoint owns are deleted, in batches, before the server takes requests. The store keeps only the queue id
 * (src/webhooks/events.ts `endpointId`: the first 16 hex digits of the URL's SHA-256), not the URL, so the
 * log names the queue by its id.
 */
import type { Logger } from 'pino';
import type { MetadataStore } from '../storage/types.js';
import type { WebhookEvents } from './events.js';

/** Events deleted per batch: bounded memory and batch size however long a queue grew. */
export const DROP_BATCH = 1000;

export interface DroppedQueue {
  endpoint: string;
  pending: number;
  dead: number;
}

export async function dropRemovedEndpoints(meta: MetadataStore, events: WebhookEvents, log: Logger, batch = DROP_BATCH): Promise<DroppedQueue[]> {
  const configured = new Set(events.endpoints.map((e) => e.id));
  const dropped: DroppedQueue[] = [];
  for (const endpoint of await meta.listEventQueues()) {
    if (configured.has(endpoint)) continue;
    const queue = { endpoint, pending: 0, dead: 0 };
    for (;;) {
      const step = await meta.dropEventQueue(endpoint, batch);
      queue.pending += step.pending;
      queue.dead += step.dead;
      if (step.pending + step.dead < batch) break;
    }
    log.warn(queue, 'webhook queue of an endpoint no longer configured: its pending and dead events dropped');
    dropped.push(queue);
  }
  return dropped;
}
