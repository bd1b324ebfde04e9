/**
 * The events unireg sends, as CloudEvents 1.0 in structured mode (the body is
 * the whole event). Each change is turned into one body per endpoint that
 * wants it (its `events` list and `repository` glob), and those bodies are
 * what the metadata store queues in the same batch as the change: the exact
 * bytes later POSTed, every attempt, with the same `id`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { WebhookEndpointConfig, WebhookEventName } from '../config/webhooks-schema.js';
import { globToRegExp } from '../policy/globs.js';
import type { QueuedEvent } from '../storage/types.js';

export const EVENT_TYPE_PREFIX = 'io.unireg.';

/** A configured endpoint with its id: the key of its queue in the metadata store. */
export interface WebhookEndpoint {
  id: string;
  config: WebhookEndpointConfig;
  /** Whether it wants events of this name about this repository ('' for registry-wide ones). */
  wants(name: WebhookEventName, repo: string): boolean;
}

/** The id of an endpoint's queue: from its URL, so that reordering the config keeps every queue. */
export function endpointId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

export function compileEndpoint(config: WebhookEndpointConfig): WebhookEndpoint {
  const names = config.events === undefined ? undefined : new Set<string>(config.events);
  const pattern = config.repository === undefined ? undefined : globToRegExp(config.repository);
  return {
    id: endpointId(config.url),
    config,
    wants: (name, repo) => (names === undefined || names.has(name)) && (pattern === undefined || (repo !== '' && pattern.test(repo))),
  };
}

/** The structured-mode CloudEvent; `subject` is the repository. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  data: unknown;
}

export class WebhookEvents {
  readonly endpoints: readonly WebhookEndpoint[];

  constructor(
    configs: readonly WebhookEndpointConfig[],
    private readonly source: string,
  ) {
    this.endpoints = configs.map(compileEndpoint);
  }

  /** Whether any endpoint wants the event (callers skip building data nobody gets). */
  wanted(name: WebhookEventName, repo: string | undefined): boolean {
    return this.endpoints.some((e) => e.wants(name, repo ?? ''));
  }

  /** The queued copies of one event, one per endpoint that wants it (none: []). `repo` undefined: registry-wide. */
  queue(name: WebhookEventName, repo: string | undefined, data: unknown): QueuedEvent[] {
    const targets = this.endpoints.filter((e) => e.wants(name, repo ?? ''));
    if (targets.length === 0) return [];
    const event: CloudEvent = {
      specversion: '1.0',
      id: randomUUID(),
      source: this.source,
      type: EVENT_TYPE_PREFIX + name,
      time: new Date().toISOString(),
      ...(repo === undefined ? {} : { subject: repo }),
      datacontenttype: 'application/json',
      data,
    };
    const body = Buffer.from(JSON.stringify(event));
    return targets.map((e) => ({ endpoint: e.id, repo: repo ?? '', body }));
  }
}

/** The events of a registry without webhooks: nothing is ever queued. */
export const NO_WEBHOOKS = new WebhookEvents([], '/unireg');
