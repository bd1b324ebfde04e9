/**
 * The `webhooks` endpoints (file only) and `webhooksDelivery` settings (docs/webhooks.md).
 *
 *   webhooks:          - { url, events?, repository?, headers?, secret? }
 *   webhooksDelivery:  { maxAttempts, backoff, maxBackoff, timeout, concurrency, source }
 */
import { z } from 'zod';
import { REPO_GLOB } from './auth-schema.js';
import { duration } from './duration.js';

/** The event names an endpoint can subscribe to; the CloudEvents `type` is `io.unireg.<name>`. */
export const WEBHOOK_EVENTS = [
  'manifest.pushed',
  'manifest.deleted',
  'tag.deleted',
  'blob.mounted',
  'unikernel.packed',
  'unikernel.merged',
  'gc.completed',
  'retention.completed',
] as const;

export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers unireg sets itself: an endpoint may not replace them. */
const RESERVED = new Set(['content-type', 'content-length', 'x-unireg-signature', 'host', 'transfer-encoding', 'connection']);

const endpoint = z
  .object({
    /** Where events are POSTed (http or https). */
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    /** The events sent there; default: every event. */
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
    /** Only events of repositories matching this glob (then registry-wide events, GC and retention, are not sent). */
    repository: z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards').optional(),
    /** Extra request headers (e.g. Authorization). */
    headers: z
      .record(z.string().regex(HEADER_NAME, 'expected an HTTP header name'), z.string().regex(/^[^\r\n]*$/, 'a header value cannot hold a line break'))
      .default({})
      .refine((h) => Object.keys(h).every((k) => !RESERVED.has(k.toLowerCase())), 'Content-Type, Content-Length and X-Unireg-Signature are set by unireg'),
    /** Key of the HMAC-SHA256 signature of each body, sent as `X-Unireg-Signature: sha256=<hex>`. */
    secret: z.string().min(1).optional(),
  })
  .strict();

export type WebhookEndpointConfig = z.infer<typeof endpoint>;

export const webhooksSchema = z
  .array(endpoint)
  .default([])
  .refine((list) => new Set(list.map((e) => e.url)).size === list.length, 'a webhook url appears twice');

export const webhooksDeliverySchema = z
  .object({
    /** Attempts per event and endpoint before it goes to the dead-letter list. */
    maxAttempts: z.number().int().positive().default(10),
    /** Wait before the second attempt; doubled for each further one (with jitter), up to maxBackoff. */
    backoff: duration.default('1s'),
    maxBackoff: duration.default('5m'),
    /** One delivery (connect, send, answer) that takes longer fails. */
    timeout: duration.default('10s'),
    /** Deliveries in flight per endpoint at once (each to a different repository). */
    concurrency: z.number().int().positive().max(256).default(8),
    /** The CloudEvents `source` of every event. */
    source: z.string().min(1).default('/unireg'),
  })
  .strict()
  .prefault({});
