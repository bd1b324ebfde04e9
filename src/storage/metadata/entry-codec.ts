/**
 * Decoding any record of the store, tolerating damage: what offline verification
 * reads. Each key (layout: ./keys.ts) becomes a typed MetadataEntry, or an
 * `unreadable` one saying why it cannot be used.
 */
import { checkUpload } from './upload-codec.js';
import { tryParseDigest, type Digest } from '../../oci/digest.js';
import type { MetadataEntry, UploadSession } from '../types.js';
import { keys } from './keys.js';
import { decodeManifest } from './manifest-codec.js';

/** The size of a link value: a decimal (or a JSON object with `size`); undefined when neither. */
export function decodeLinkSize(value: Buffer): number | undefined {
  const text = value.toString();
  let size: unknown = Number(text);
  if (text.startsWith('{')) {
    try {
      size = (JSON.parse(text) as { size?: unknown }).size;
    } catch {
      return undefined;
    }
  }
  return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 && text.trim() !== '' ? size : undefined;
}

class Unreadable extends Error {}

/**
 * The digest of a tag value: the plain digest, or JSON `{digest, pushedAt}` (the
 * form tags take once push times are kept); undefined when it is neither.
 */
function tagDigest(value: Buffer): string | undefined {
  const text = value.toString();
  if (!text.startsWith('{')) return text;
  try {
    const parsed = JSON.parse(text) as { digest?: unknown };
    return typeof parsed.digest === 'string' ? parsed.digest : undefined;
  } catch {
    return undefined;
  }
}

function digestField(value: string | undefined, what: string): Digest {
  const digest = value === undefined ? undefined : tryParseDigest(value);
  if (digest === undefined) throw new Unreadable(`${what} is not a digest: ${String(value)}`);
  return digest;
}

function jsonValue(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString()) as unknown;
  } catch {
    throw new Unreadable('value is not JSON');
  }
}

function session(value: Buffer, id: string): UploadSession {
  const checked = checkUpload(jsonValue(value), id);
  if (typeof checked === 'string') throw new Unreadable(checked);
  return checked;
}

/** `emptyLast`: the last field may be empty (a registry-wide webhook event has no repository). */
const KINDS: Record<string, { what: string; fields: number; emptyLast?: true }> = {
  r: { what: 'repository', fields: 1 },
  l: { what: 'link', fields: 2 },
  b: { what: 'reverse link', fields: 2 },
  m: { what: 'manifest', fields: 2 },
  t: { what: 'tag', fields: 2 },
  T: { what: 'reverse tag', fields: 3 },
  f: { what: 'referrer', fields: 3 },
  u: { what: 'upload session', fields: 1 },
  g: { what: 'marker', fields: 1 },
  e: { what: 'webhook event', fields: 3, emptyLast: true },
  E: { what: 'dead webhook event', fields: 3, emptyLast: true },
};

/** An entry without its key (the distributive Omit keeps the union). */
type EntryBody = MetadataEntry extends infer E ? (E extends unknown ? Omit<E, 'key'> : never) : never;

function decode(kind: string, f: string[], value: Buffer): EntryBody {
  switch (kind) {
    case 'r':
      jsonValue(value);
      return { kind: 'repository', repo: f[0]! };
    case 'l': {
      const size = decodeLinkSize(value);
      if (size === undefined) throw new Unreadable(`link size is not a number: ${value.toString().slice(0, 40)}`);
      return { kind: 'link', repo: f[0]!, digest: digestField(f[1], 'linked digest'), size };
    }
    case 'b':
      return { kind: 'reverseLink', digest: digestField(f[0], 'linked digest'), repo: f[1]! };
    case 'm': {
      const digest = digestField(f[1], 'manifest digest');
      try {
        const record = decodeManifest(digest, value);
        if (typeof record.mediaType !== 'string') throw new Error('no media type');
        return { kind: 'manifest', repo: f[0]!, record };
      } catch (err) {
        throw new Unreadable(`bad manifest header: ${(err as Error).message}`);
      }
    }
    case 't':
      return { kind: 'tag', repo: f[0]!, tag: f[1]!, digest: digestField(tagDigest(value), 'tagged digest') };
    case 'T':
      return { kind: 'reverseTag', repo: f[0]!, digest: digestField(f[1], 'tagged digest'), tag: f[2]! };
    case 'f':
      jsonValue(value);
      return { kind: 'referrer', repo: f[0]!, subject: digestField(f[1], 'subject'), digest: digestField(f[2], 'referrer digest') };
    case 'u':
      return { kind: 'upload', session: session(value, f[0]!) };
    case 'g':
      jsonValue(value);
      return { kind: 'marker', name: f[0]! };
    case 'e':
    case 'E':
      // The webhook outbox is bookkeeping of the store's own: listed, never judged by verify.
      jsonValue(value);
      return { kind: 'marker', name: kind === 'e' ? 'webhook event' : 'dead webhook event' };
    default:
      throw new Unreadable(`unknown kind ${kind}`);
  }
}

/** One stored record, decoded or marked unreadable. */
export function decodeEntry(key: string, value: Buffer): MetadataEntry {
  const { kind, fields } = keys.parse(key);
  const shape = KINDS[kind];
  const record = keys.printable(key);
  if (shape === undefined) return { key, kind: 'unreadable', what: 'unknown record', reason: 'unknown key', record };
  const empty = (field: string, i: number) => field === '' && !(shape.emptyLast === true && i === shape.fields - 1);
  if (fields.length !== shape.fields || fields.some(empty)) {
    return { key, kind: 'unreadable', what: shape.what, reason: 'malformed key', record };
  }
  try {
    return { key, ...decode(kind, fields, value) } as MetadataEntry;
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    return { key, kind: 'unreadable', what: shape.what, reason: err.message, record };
  }
}
