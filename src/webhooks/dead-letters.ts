/**
 * The dead-letter list: events that failed `webhooksDelivery.maxAttempts`
 * times, kept in the metadata store until an admin replays them
 * (`GET /_unireg/webhooks/dead`, `POST /_unireg/webhooks/dead/replay`).
 * A replayed event goes to the end of its endpoint's queue with its body
 * (and CloudEvents `id`) unchanged, and gets a fresh set of attempts.
 */
import { keys } from '../storage/metadata/keys.js';
import type { DeadEvent, MetadataStore } from '../storage/types.js';
import type { CloudEvent, WebhookEvents } from './events.js';

const REPLAY_PAGE = 500;

export interface DeadEventView {
  /** The endpoint's URL (its queue id when the endpoint is no longer configured). */
  endpoint: string;
  id: string;
  type: string;
  subject?: string;
  time: string;
  attempts: number;
  lastError: string;
  deadAt: string;
}

export interface DeadPage {
  events: DeadEventView[];
  /** Pass as `last` for the next page; absent on the last page. */
  next?: string;
}

/** Opaque cursors: the store key, base64url (keys hold NUL bytes). */
const cursorOf = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
const keyOf = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

function parsed(event: DeadEvent): Partial<CloudEvent> {
  try {
    return JSON.parse(event.body.toString('utf8')) as Partial<CloudEvent>;
  } catch {
    return {};
  }
}

export class DeadLetters {
  constructor(
    private readonly meta: MetadataStore,
    private readonly webhooks: WebhookEvents | undefined,
  ) {}

  /** Whether `last` is a cursor this list gave out. */
  static validCursor(cursor: string): boolean {
    const key = keyOf(cursor);
    return keys.eventOf(key).dead && cursorOf(key) === cursor;
  }

  async list(limit: number, last?: string): Promise<DeadPage> {
    const page = await this.meta.listDeadEvents({ limit: limit + 1, last: last === undefined ? undefined : keyOf(last) });
    const shown = page.slice(0, limit);
    const urls = new Map(this.webhooks?.endpoints.map((e) => [e.id, e.config.url]));
    const events = shown.map((event): DeadEventView => {
      const ce = parsed(event);
      return {
        endpoint: urls.get(event.endpoint) ?? event.endpoint,
        id: String(ce.id ?? ''),
        type: String(ce.type ?? ''),
        ...(ce.subject === undefined ? {} : { subject: ce.subject }),
        time: String(ce.time ?? ''),
        attempts: event.attempts,
        lastError: event.lastError,
        deadAt: new Date(event.deadAt).toISOString(),
      };
    });
    return page.length > limit && shown.length > 0 ? { events, next: cursorOf(shown.at(-1)!.key) } : { events };
  }

  /** Queues dead events again: all of them, or those with CloudEvents id `id`. How many. */
  async replay(id?: string): Promise<number> {
    let replayed = 0;
    let last: string | undefined;
    for (;;) {
      const page = await this.meta.listDeadEvents({ limit: REPLAY_PAGE, last });
      if (page.length === 0) return replayed;
      const chosen = id === undefined ? page : page.filter((e) => parsed(e).id === id);
      const moved = chosen.length === 0 ? 0 : await this.meta.replayDeadEvents(chosen.map((e) => e.key));
      replayed += moved;
      // Replayed records are gone: the rest of the list starts after the last one kept.
      const kept = page.filter((e) => !chosen.includes(e));
      if (page.length < REPLAY_PAGE) return replayed;
      if (moved === 0 && kept.length === 0) return replayed;
      last = kept.at(-1)?.key ?? last;
    }
  }
}
