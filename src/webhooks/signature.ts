/**
 * The signature of a delivery: HMAC-SHA256 of the exact body bytes with the
 * endpoint's secret, hex, sent as `X-Unireg-Signature: sha256=<hex>`.
 * docs/webhooks.md shows how a receiver checks it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Unireg-Signature';

export function sign(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a receiver does: recompute over the raw body and compare in constant time. */
export function verify(body: Buffer, secret: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(sign(body, secret));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
