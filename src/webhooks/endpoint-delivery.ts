/**
 * Delivery to one endpoint. Its queue (in the metadata store) is scanned in
 * order; each event whose repository has nothing in flight gets a lane: send,
 * retry with exponential backoff and jitter, then delete it (delivered) or move
 * it to the dead-letter list (maxAttempts failures). A repository's next event
 * starts only once the one before it is settled, so each repository's events
 * arrive in queue order; other repositories' events go meanwhile, up to
 * `concurrency` lanes. Memory: one page of the queue while scanning, one event
 * per lane, and per lane the next event of its repository a scan saw: a lane
 * that settles its event goes on with that one without a new scan. Scans (one
 * at a time, each from the head of the queue) are at least SCAN_GAP_MS apart,
 * so a long queue under a stream of pushes costs a bounded share of the CPU.
 *
 * One process at a time delivers an endpoint's queue: scans and lanes run while
 * this process holds `webhooks:<endpoint id>` (Locks.tryRun; with replicas on
 * PostgreSQL an advisory lock), taken when woken and released once nothing is
 * in flight. A process that finds it held leaves the queue to its holder
 * (which is woken by the batches of every replica, through the change feed).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { InProcessLocks, type Locks } from '../registry/locks.js';
import type { MetadataStore, PendingEvent } from '../storage/types.js';
import type { WebhookEndpoint } from './events.js';
import { DeliveryFailure, send } from './sender.js';

export interface DeliverySettings {
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
  concurrency: number;
}

/** Events read per page of a scan. */
const PAGE = 256;
/** A scan looks this far into the queue for events of repositories that are free. */
export const MAX_SCAN = 4096;
/** Least time between the end of a scan and the start of the next. */
const SCAN_GAP_MS = 20;

/** The wait before attempt `attempt + 1`: doubling from backoff, capped, with jitter (half to all of it). */
export function backoffDelay(settings: DeliverySettings, attempt: number, random: () => number = Math.random): number {
  const full = Math.min(settings.maxBackoffMs, settings.backoffMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

export class EndpointDelivery {
  /** Repositories with an event in flight or waiting to be retried → that event's key. */
  private readonly busy = new Map<string, string>();
  /** Per busy repository, the event after the one in flight, as the last scan saw it. */
  private readonly next = new Map<string, PendingEvent>();
  /** Events settled since the current scan read its page (so a stale page never sends one twice). */
  private readonly settled = new Set<string>();
  private readonly lanes = new Set<Promise<void>>();
  /** The scan in progress, if any. */
  private scanning: Promise<void> | undefined;
  private again = false;
  /** The period this process holds the endpoint's queue (Locks.tryRun), if any. */
  private holding: Promise<void> | undefined;
  /** Inside the held period and not yet released. */
  private active = false;
  /** Woken while the held period was ending: take it again. */
  private rewake = false;

  constructor(
    readonly endpoint: WebhookEndpoint,
    private readonly meta: MetadataStore,
    private readonly settings: DeliverySettings,
    private readonly log: Logger,
    private readonly stop: AbortSignal,
    private readonly locks: Locks = new InProcessLocks(),
  ) {}

  /** Looks for events to send (new ones were queued, a lane became free, or a timer). */
  wake(): void {
    if (this.stop.aborted) return;
    if (this.holding === undefined) {
      this.hold();
      return;
    }
    if (!this.active) {
      this.rewake = true;
      return;
    }
    if (this.scanning) {
      this.again = true;
      return;
    }
    if (this.busy.size >= this.settings.concurrency) return; // a lane that frees up wakes again
    this.scanning = this.scan().finally(() => (this.scanning = undefined));
  }

  /** Resolves when the scan and every lane have stopped (after the stop signal), before the store closes. */
  async stopped(): Promise<void> {
    while (this.lanes.size > 0 || this.scanning || this.holding) await Promise.all([...this.lanes, this.scanning, this.holding]);
  }

  /** Takes the endpoint's queue if no other process holds it, and delivers until nothing is in flight. */
  private hold(): void {
    const name = `webhooks:${this.endpoint.id}`;
    // Set before tryRun runs anything, so the wake() inside sees the period as begun.
    let ended!: () => void;
    this.holding = new Promise<void>((ok) => (ended = ok));
    void this.locks
      .tryRun(name, async () => {
        this.active = true;
        try {
          this.wake();
          await this.drained();
        } finally {
          this.active = false;
        }
      })
      .then(
        (result) => {
          if (!result.acquired) this.log.debug({ endpoint: this.endpoint.config.url }, 'another process delivers this webhook queue');
        },
        (err: unknown) => this.log.error({ err, endpoint: this.endpoint.config.url }, 'webhook queue lock unavailable; retrying on the next wake'),
      )
      .finally(() => {
        this.holding = undefined;
        ended();
        if (this.rewake && !this.stop.aborted) {
          this.rewake = false;
          this.wake();
        }
      });
  }

  private async drained(): Promise<void> {
    while (this.lanes.size > 0 || this.scanning) await Promise.all([...this.lanes, this.scanning]);
  }

  private async scan(): Promise<void> {
    do {
      this.again = false;
      this.settled.clear();
      try {
        await this.scanOnce();
      } catch (err) {
        this.log.error({ err, endpoint: this.endpoint.config.url }, 'webhook queue could not be read; retrying');
        await this.pause(Math.min(this.settings.maxBackoffMs, 5000));
        this.again = true;
      }
      if (this.again) await this.pause(SCAN_GAP_MS);
    } while (this.again && !this.stop.aborted);
  }

  private async scanOnce(): Promise<void> {
    let last: string | undefined;
    for (let scanned = 0; scanned < MAX_SCAN && this.busy.size < this.settings.concurrency; ) {
      const page = await this.meta.listPendingEvents(this.endpoint.id, { last, limit: PAGE });
      for (const event of page) {
        if (this.settled.has(event.key)) continue;
        const current = this.busy.get(event.repo);
        if (current !== undefined) {
          if (current !== event.key && !this.next.has(event.repo)) this.next.set(event.repo, event);
        } else if (this.busy.size < this.settings.concurrency) {
          this.start(event);
        }
      }
      if (page.length < PAGE || this.busy.size >= this.settings.concurrency) return;
      scanned += page.length;
      last = page.at(-1)!.key;
    }
  }

  private start(event: PendingEvent): void {
    this.busy.set(event.repo, event.key);
    this.next.delete(event.repo);
    const lane = this.run(event).then((settled) => {
      this.lanes.delete(lane);
      this.settled.add(event.key);
      const successor = this.next.get(event.repo);
      this.busy.delete(event.repo);
      this.next.delete(event.repo);
      // Only after this event left the queue may its repository's next one go (else order would break).
      if (settled && successor !== undefined && !this.stop.aborted && this.busy.size < this.settings.concurrency) this.start(successor);
      else this.wake();
    });
    this.lanes.add(lane);
  }

  /** True when the event left the queue (delivered, or dead-lettered). Never rejects. */
  private async run(event: PendingEvent): Promise<boolean> {
    const url = this.endpoint.config.url;
    try {
      for (let attempt = 1; !this.stop.aborted; attempt++) {
        const failure = await this.attempt(event, attempt);
        if (failure === undefined) {
          await this.meta.deleteEvents([event.key]);
          return true;
        }
        if (this.stop.aborted) return false;
        if (attempt >= this.settings.maxAttempts) {
          await this.meta.deadLetterEvent(event.key, { attempts: attempt, lastError: failure });
          this.log.warn({ endpoint: url, repo: event.repo, attempts: attempt, error: failure }, 'webhook event moved to the dead-letter list');
          return true;
        }
        const delay = backoffDelay(this.settings, attempt);
        this.log.info({ endpoint: url, repo: event.repo, attempt, error: failure, retryInMs: delay }, 'webhook delivery failed; will retry');
        await this.pause(delay);
      }
    } catch (err) {
      // The store failed (the event stays queued and is sent again: at least once).
      this.log.error({ err, endpoint: url }, 'webhook queue could not be updated');
      await this.pause(Math.min(this.settings.maxBackoffMs, 5000));
    }
    return false;
  }

  /** undefined when delivered, else why not. */
  private async attempt(event: PendingEvent, attempt: number): Promise<string | undefined> {
    try {
      await send(this.endpoint, event.body, attempt, this.settings.timeoutMs, this.stop);
      return undefined;
    } catch (err) {
      if (err instanceof DeliveryFailure) return err.detail;
      throw err;
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stop }).catch(() => undefined);
  }
}
