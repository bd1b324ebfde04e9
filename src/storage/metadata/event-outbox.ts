/**
 * The webhook outbox's records over a SortedKv: events are queued per endpoint
 * under a sequence number that only grows, so a prefix scan lists an endpoint's
 * queue in the order the events were committed. The first queueing after open
 * restarts the sequence above every event stored (pending or dead) and above
 * the clock (µs since the epoch), so no key is ever reused.
 */
import type { KvOp, SortedKv } from '../kv.js';
import type { DeadEvent, PageRequest, PendingEvent, QueuedEvent } from '../types.js';
import { keys, type KeyRange } from './keys.js';

const SCAN = 10_000;

interface DeadRecord {
  attempts: number;
  lastError: string;
  deadAt: number;
  body: string;
}

export class EventOutbox {
  private seq: Promise<{ next: number }> | undefined;

  constructor(private readonly kv: SortedKv) {}

  /** Forgets the sequence (the store was reopened: start again above what is stored). */
  reset(): void {
    this.seq = undefined;
  }

  private async highest(range: (last?: string) => KeyRange): Promise<number> {
    let max = 0;
    let last: string | undefined;
    for (;;) {
      const page = await this.kv.keys({ ...range(last), limit: SCAN });
      for (const key of page) max = Math.max(max, keys.eventOf(key).seq || 0);
      if (page.length < SCAN) return max;
      last = page.at(-1);
    }
  }

  private async nextSeqs(n: number): Promise<number> {
    this.seq ??= (async () => {
      const stored = Math.max(await this.highest(keys.allPendingEvents), await this.highest(keys.deadEvents));
      return { next: Math.max(stored + 1, Date.now() * 1000) };
    })();
    const counter = await this.seq;
    const first = counter.next;
    counter.next += n;
    return first;
  }

  /** The puts that queue `events`, in their order. */
  async ops(events: readonly QueuedEvent[] | undefined): Promise<KvOp[]> {
    if (events === undefined || events.length === 0) return [];
    const first = await this.nextSeqs(events.length);
    return events.map((e, i) => ({ type: 'put', key: keys.event(e.endpoint, first + i, e.repo), value: e.body }));
  }

  async listPending(endpoint: string, page: PageRequest): Promise<PendingEvent[]> {
    if (page.limit <= 0) return [];
    const entries = await this.kv.entries({ ...keys.events(endpoint, page.last), limit: page.limit });
    return entries.map(([key, body]) => {
      const { repo } = keys.eventOf(key);
      return { key, endpoint, repo, body };
    });
  }

  async deadLetterOps(key: string, failure: { attempts: number; lastError: string }): Promise<KvOp[] | undefined> {
    if (!keys.isPendingEvent(key)) return undefined;
    const body = await this.kv.get(key);
    if (body === undefined) return undefined;
    const { endpoint, seq, repo } = keys.eventOf(key);
    const record: DeadRecord = { ...failure, deadAt: Date.now(), body: body.toString('utf8') };
    return [
      { type: 'del', key },
      { type: 'put', key: keys.deadEvent(endpoint, seq, repo), value: Buffer.from(JSON.stringify(record)) },
    ];
  }

  async listDead(page: PageRequest): Promise<DeadEvent[]> {
    if (page.limit <= 0) return [];
    const entries = await this.kv.entries({ ...keys.deadEvents(page.last), limit: page.limit });
    return entries.map(([key, value]) => {
      const { endpoint, repo } = keys.eventOf(key);
      const record = JSON.parse(value.toString('utf8')) as DeadRecord;
      return { key, endpoint, repo, body: Buffer.from(record.body, 'utf8'), attempts: record.attempts, lastError: record.lastError, deadAt: record.deadAt };
    });
  }

  /** The endpoint ids that have pending or dead events: one single-key read per queue, not per event. */
  async queues(): Promise<string[]> {
    const found = new Set<string>();
    for (const dead of [false, true]) {
      let range = keys.eventQueues(dead);
      for (;;) {
        const [key] = await this.kv.keys({ ...range, limit: 1 });
        if (key === undefined) break;
        const { endpoint } = keys.eventOf(key);
        found.add(endpoint);
        range = keys.eventQueues(dead, endpoint);
      }
    }
    return [...found].sort();
  }

  /** The keys of up to `limit` events of one endpoint, pending first, then dead. */
  async queueKeys(endpoint: string, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const pending = await this.kv.keys({ ...keys.events(endpoint), limit });
    if (pending.length >= limit) return pending;
    return [...pending, ...(await this.kv.keys({ ...keys.deadEventsOf(endpoint), limit: limit - pending.length }))];
  }

  /** Deletes the dead records and queues their events again, with new sequence numbers. */
  async replayOps(deadKeys: readonly string[]): Promise<KvOp[]> {
    const ops: KvOp[] = [];
    const events: QueuedEvent[] = [];
    for (const key of deadKeys) {
      const { dead, endpoint, repo } = keys.eventOf(key);
      const value = dead ? await this.kv.get(key) : undefined;
      if (value === undefined) continue;
      const record = JSON.parse(value.toString('utf8')) as DeadRecord;
      ops.push({ type: 'del', key });
      events.push({ endpoint, repo, body: Buffer.from(record.body, 'utf8') });
    }
    return [...ops, ...(await this.ops(events))];
  }
}
