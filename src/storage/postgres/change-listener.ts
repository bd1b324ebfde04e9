/**
 * The change feed on PostgreSQL (src/storage/metadata/change-feed.ts): one
 * connection per replica LISTENs on the channel PgKv notifies in each batch's
 * transaction. PostgreSQL delivers a notification only once its transaction
 * has committed, and a listener receives them in commit order.
 *
 * sync() sends a barrier notification from the listening connection itself and
 * resolves when it comes back: every transaction committed before it was sent
 * has been delivered by then (quota admission uses this, under its lock).
 *
 * Fences (tag and manifest changes, src/storage/metadata/change-feed.ts): this
 * process acknowledges other replicas' fenced batches once its listeners have
 * run (its manifest cache has dropped the entries), and `expectAcks` lets the
 * writer wait for every other listening replica's acknowledgement (at most
 * ACK_TIMEOUT_MS: a replica that hangs delays writers that long, no more).
 *
 * A lost connection is reported (onLost: consumers stop trusting what they
 * derived from the feed) and re-established with a growing delay (onRestored:
 * consumers read again from the store what they may have missed).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { StorageUnavailableError } from '../../domain/errors.js';
import { ackMessage, barrierMessage, parseFeedMessage, type ChangeFeed, type FeedBatch } from '../metadata/change-feed.js';
import { CHANGES_CHANNEL, LISTENER_NAME } from './pg-kv.js';
import { pgIo } from './pg-errors.js';
import { clientConfig } from './pool.js';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
/** Longest a writer waits for the other replicas to acknowledge a fenced batch. */
export const ACK_TIMEOUT_MS = 2000;

interface Fence {
  acks: number;
  needed?: number;
  done?: () => void;
}

export class PgChangeListener implements ChangeFeed {
  private readonly fences = new Map<number, Fence>();
  private readonly batchListeners: ((batch: FeedBatch) => void)[] = [];
  private readonly lostListeners: (() => void)[] = [];
  private readonly restoredListeners: (() => void)[] = [];
  private client: pg.Client | undefined;
  private barriers = 0;
  private readonly waiting = new Map<number, { ok: () => void; fail: (err: unknown) => void }>();
  private retryMs = RETRY_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  /** `id`: unique per process (the origin of its batches), tells its barriers, fences and acknowledgements from others'. */
  constructor(
    private readonly url: string,
    private readonly log?: Logger,
    private readonly id: string = randomUUID(),
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  onBatch(listener: (batch: FeedBatch) => void): void {
    this.batchListeners.push(listener);
  }

  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  onRestored(listener: () => void): void {
    this.restoredListeners.push(listener);
  }

  /** Connects and listens; fails (503) when the database cannot be reached. */
  async start(): Promise<void> {
    await this.connect();
  }

  async sync(): Promise<void> {
    const client = this.client;
    if (!client) throw new StorageUnavailableError('POSTGRES_CHANGE_FEED_DOWN');
    const n = ++this.barriers;
    const arrived = new Promise<void>((ok, fail) => this.waiting.set(n, { ok, fail }));
    try {
      await pgIo(() => client.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, barrierMessage(this.id, n)]));
    } catch (err) {
      this.waiting.delete(n);
      throw err;
    }
    return arrived;
  }

  /**
   * Registers fence `n` before its batch is sent (an acknowledgement may come back
   * fast); the returned settle step waits until every other listener connected at
   * commit (`listeners`, this one included) has acknowledged it, or ACK_TIMEOUT_MS.
   */
  expectAcks(n: number): (listeners: number | undefined) => Promise<void> {
    const fence: Fence = { acks: 0 };
    this.fences.set(n, fence);
    return async (listeners) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const needed = listeners === undefined ? 0 : listeners - (this.client ? 1 : 0);
        if (fence.acks >= needed) return;
        await new Promise<void>((ok) => {
          fence.needed = needed;
          fence.done = ok;
          timer = setTimeout(() => {
            this.log?.warn({ fence: n, needed, acks: fence.acks }, 'not every replica acknowledged a tag/manifest change in time');
            ok();
          }, ACK_TIMEOUT_MS);
        });
      } finally {
        clearTimeout(timer);
        this.fences.delete(n);
      }
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.failBarriers();
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...clientConfig(this.url, 'changes'), application_name: LISTENER_NAME });
    client.on('notification', (msg) => {
      if (msg.channel === CHANGES_CHANNEL && msg.payload !== undefined) this.deliver(msg.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, undefined));
    await pgIo(async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
    });
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
  }

  private deliver(payload: string): void {
    const message = parseFeedMessage(payload);
    if (message === undefined) return;
    if (message.kind === 'ack') {
      if (message.to !== this.id) return;
      const fence = this.fences.get(message.n);
      if (!fence) return;
      fence.acks++;
      if (fence.needed !== undefined && fence.acks >= fence.needed) fence.done?.();
      return;
    }
    if (message.kind === 'barrier') {
      if (message.origin !== this.id) return;
      const waiter = this.waiting.get(message.n);
      this.waiting.delete(message.n);
      waiter?.ok();
      return;
    }
    for (const listener of this.batchListeners) {
      try {
        listener(message.batch);
      } catch (err) {
        this.log?.error({ err }, 'change feed listener failed');
      }
    }
    const { fence, origin } = message.batch;
    if (fence !== undefined && origin !== this.id) {
      this.client
        ?.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, ackMessage(this.id, origin, fence)])
        .catch((err: unknown) => this.log?.debug({ err }, 'acknowledgement not sent'));
    }
  }

  private failBarriers(): void {
    for (const { fail } of this.waiting.values()) fail(new StorageUnavailableError('POSTGRES_CHANGE_FEED_DOWN'));
    this.waiting.clear();
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.failBarriers();
    if (this.closed) return;
    this.log?.warn({ err }, 'PostgreSQL change feed lost: manifest cache bypassed until it is back');
    for (const listener of this.lostListeners) listener();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.retry = setTimeout(() => {
      this.connect().then(
        () => {
          if (this.closed || !this.client) return;
          this.log?.info('PostgreSQL change feed back');
          for (const listener of this.restoredListeners) listener();
        },
        (err: unknown) => {
          this.log?.debug({ err }, 'change feed reconnect failed');
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
          this.scheduleReconnect();
        },
      );
    }, this.retryMs);
    this.retry.unref();
  }
}
