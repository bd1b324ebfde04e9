/** One delivery attempt: POST the stored body to the endpoint, within the timeout. */
import type { WebhookEndpoint } from './events.js';
import { sign, SIGNATURE_HEADER } from './signature.js';

export const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=utf-8';

/** Why an attempt failed, for the log and the dead-letter list. */
export class DeliveryFailure extends Error {
  override readonly name = 'DeliveryFailure';
  constructor(
    readonly detail: string,
    readonly status?: number,
  ) {
    super(detail);
  }
}

/** Resolves when the endpoint answered 2xx; throws DeliveryFailure otherwise (status, network error, timeout). */
export async function send(endpoint: WebhookEndpoint, body: Buffer, attempt: number, timeoutMs: number, stop: AbortSignal): Promise<void> {
  const headers: Record<string, string> = {
    ...endpoint.config.headers,
    'content-type': CLOUDEVENTS_JSON,
    'user-agent': 'unireg-webhooks',
    'x-unireg-delivery-attempt': String(attempt),
  };
  if (endpoint.config.secret !== undefined) headers[SIGNATURE_HEADER.toLowerCase()] = sign(body, endpoint.config.secret);
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(endpoint.config.url, { method: 'POST', headers, body: new Uint8Array(body), redirect: 'manual', signal: AbortSignal.any([stop, timeout]) });
    // The answer's body is not read: cancelling it frees the connection.
    await response.body?.cancel().catch(() => undefined);
  } catch (err) {
    if (timeout.aborted) throw new DeliveryFailure(`no answer within ${timeoutMs} ms`);
    if (stop.aborted) throw new DeliveryFailure('stopped');
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DeliveryFailure(`request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (response.status < 200 || response.status > 299) throw new DeliveryFailure(`answered ${response.status}`, response.status);
}
