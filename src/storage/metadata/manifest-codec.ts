/**
 * The value of a manifest key: a 4-byte big-endian header length, a small JSON
 * header, then the exact manifest bytes (never re-serialised).
 */
import type { Digest } from '../../oci/digest.js';
import type { ManifestRecord } from '../types.js';

interface Header {
  mediaType: string;
  subject?: string;
  /** ms since the epoch; absent in records written before GC existed (read as 0). */
  pushedAt?: number;
}

export function encodeManifest(record: ManifestRecord): Buffer {
  const header: Header = { mediaType: record.mediaType };
  if (record.subject !== undefined) header.subject = record.subject;
  if (record.pushedAt !== undefined) header.pushedAt = record.pushedAt;
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, record.bytes]);
}

/** The manifest's byte length in a record, without decoding its header (undefined: not a record). */
export function manifestLength(value: Buffer): number | undefined {
  if (value.length < 4) return undefined;
  const length = value.length - 4 - value.readUInt32BE(0);
  return length >= 0 ? length : undefined;
}

export function decodeManifest(digest: Digest, value: Buffer): ManifestRecord {
  const len = value.readUInt32BE(0);
  const header = JSON.parse(value.subarray(4, 4 + len).toString()) as Header;
  const record: ManifestRecord = {
    digest,
    mediaType: header.mediaType,
    bytes: value.subarray(4 + len),
    pushedAt: typeof header.pushedAt === 'number' ? header.pushedAt : 0,
  };
  if (header.subject !== undefined) record.subject = header.subject as Digest;
  return record;
}
