/**
 * The value of a tag key (keys.ts `t`): JSON `{"digest":…,"pushedAt":…}`.
 * Tags written before push times were recorded hold the plain digest; they
 * read as pushed at 0 (the epoch), i.e. older than any tag pushed since.
 */
import type { Digest } from '../../oci/digest.js';

export interface TagValue {
  digest: Digest;
  pushedAt: number;
  /** When a pull of the tag was last recorded (pull-through cache repositories); absent: never. */
  pulledAt?: number;
}

export function encodeTag(value: TagValue): Buffer {
  const json = value.pulledAt === undefined ? { digest: value.digest, pushedAt: value.pushedAt } : { digest: value.digest, pushedAt: value.pushedAt, pulledAt: value.pulledAt };
  return Buffer.from(JSON.stringify(json));
}

/** Throws on a value that is neither form, so a corrupt record is reported, never misread. */
export function decodeTag(value: Buffer): TagValue {
  const text = value.toString('utf8');
  if (!text.startsWith('{')) return { digest: text as Digest, pushedAt: 0 };
  const parsed = JSON.parse(text) as { digest?: unknown; pushedAt?: unknown; pulledAt?: unknown };
  if (typeof parsed.digest !== 'string' || typeof parsed.pushedAt !== 'number' || !Number.isFinite(parsed.pushedAt)) {
    throw new Error(`unreadable tag record: ${text.slice(0, 200)}`);
  }
  const decoded: TagValue = { digest: parsed.digest as Digest, pushedAt: parsed.pushedAt };
  if (typeof parsed.pulledAt === 'number' && Number.isFinite(parsed.pulledAt)) decoded.pulledAt = parsed.pulledAt;
  return decoded;
}
