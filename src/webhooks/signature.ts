/**
 * The signature of a delivery: HMAC-SHA256 of the exact body bytes with the
 * endpoint's secret, hex, sent as `X-Unireg-Signature: sha256=<hex>`.
 * docs/webhooks.md shows how a receiver checks it.
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Unireg-Signature';

export function sign(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
