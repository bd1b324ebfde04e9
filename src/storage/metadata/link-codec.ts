/**
 * The value of a link key: JSON `{ size, linkedAt, touchedAt }` (ms since the
 * epoch). Links written before GC existed hold the size in decimal: they read
 * as linked and touched at time 0, i.e. old enough for any grace period.
 */
import type { Digest } from '../../oci/digest.js';
import type { BlobLink } from '../types.js';

interface LinkValue {
  size: number;
  linkedAt: number;
  touchedAt: number;
}

export function encodeLink(link: Omit<BlobLink, 'digest'>): Buffer {
  const value: LinkValue = { size: link.size, linkedAt: link.linkedAt, touchedAt: link.touchedAt };
  return Buffer.from(JSON.stringify(value));
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function decodeLink(digest: Digest, value: Buffer): BlobLink {
  const text = value.toString();
  if (!text.startsWith('{')) return { digest, size: Number(text), linkedAt: 0, touchedAt: 0 };
  const parsed = JSON.parse(text) as Partial<LinkValue>;
  return { digest, size: num(parsed.size), linkedAt: num(parsed.linkedAt), touchedAt: num(parsed.touchedAt) };
}
