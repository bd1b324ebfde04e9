/**
 * The change feed: what other processes sharing the metadata store committed.
 * With a shared store (PostgreSQL) every batch announces itself (PgKv sends the
 * messages built here with NOTIFY in the batch's transaction) and every replica
 * listens (src/storage/postgres/change-listener.ts), so each one can invalidate
 * its manifest cache, keep quota usage and the stored-content metrics current,
 * and wake its webhook delivery. With LevelDB (one process) there is no feed.
 *
 * A message is JSON, shorter than PostgreSQL's 8000-byte payload limit (a large
 * batch is announced in several messages, delivered together on commit):
 *   { "o": origin, "p": [["p", key, size?] | ["d", key], ...], "e"?: 1 }
 * with the keys of the kinds the consumers need (repositories, links and
 * manifests with their sizes, tags, upload sessions) and "e" when the batch
 * queued webhook events, and "f": n (a fence) when it changed tags or
 * manifests: each other replica, once it has dropped those from its manifest
 * cache, answers { "o": itself, "a": origin, "n": n }, and the writer waits for
 * these acknowledgements before it answers its client (bounded by a timeout).
 * A barrier message { "o": origin, "b": n } is what ChangeFeed.sync() waits for.
 */
import type { Digest } from '../../oci/digest.js';
import type { KvOp } from '../kv.js';
import type { StoreChange } from './changes.js';
import { decodeLinkSize } from './entry-codec.js';
import { keys } from './keys.js';
import { decodeManifest } from './manifest-codec.js';

/** One key a batch put or deleted, with the size of a link or manifest put. */
export interface FeedOp {
  type: 'put' | 'del';
  key: string;
  size?: number;
}

/** A committed batch (or part of one), as another process announced it. */
export interface FeedBatch {
  origin: string;
  ops: FeedOp[];
  /** The batch queued webhook events. */
  events: boolean;
  /** Set when the writer waits for the other replicas to acknowledge this batch (it changed tags or manifests). */
  fence?: number;
}

export interface ChangeFeed {
  /** Every announced batch, this process's own included, in commit order. */
  onBatch(listener: (batch: FeedBatch) => void): void;
  /** The feed stopped (listener connection lost): announcements may be missed until `onRestored`. */
  onLost(listener: () => void): void;
  /** The feed is back; what was missed meanwhile must be read from the store again. */
  onRestored(listener: () => void): void;
  /** Resolves once every batch committed before the call has been delivered to onBatch listeners. */
  sync(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Bytes of one message at most (PostgreSQL's limit is 8000). */
const MAX_MESSAGE = 7500;
/** Kinds announced: repository records, links, manifests, tags, upload sessions. */
const ANNOUNCED = new Set(['r', 'l', 'm', 't', 'u']);

type WireOp = ['p', string, number] | ['p', string] | ['d', string];

function sizeOf(op: KvOp & { type: 'put' }, kind: string, fields: string[]): number | undefined {
  if (kind === 'l') return decodeLinkSize(op.value) ?? 0;
  if (kind !== 'm') return undefined;
  try {
    return decodeManifest(fields[1] as Digest, op.value).bytes.length;
  } catch {
    return 0;
  }
}

/** The messages announcing `ops` (none when nothing in them concerns a consumer). */
export function feedMessages(origin: string, ops: readonly KvOp[], fence?: number): string[] {
  const wire: WireOp[] = [];
  let events = false;
  for (const op of ops) {
    if (op.type === 'put' && keys.isPendingEvent(op.key)) events = true;
    const { kind, fields } = keys.parse(op.key);
    if (!ANNOUNCED.has(kind)) continue;
    if (op.type === 'del') wire.push(['d', op.key]);
    else {
      const size = sizeOf(op, kind, fields);
      wire.push(size === undefined ? ['p', op.key] : ['p', op.key, size]);
    }
  }
  if (wire.length === 0 && !events) return [];
  const head = JSON.stringify(origin);
  const messages: string[] = [];
  let part: string[] = [];
  let bytes = 0;
  const flush = (last: boolean) => {
    const tail = last ? `${events ? ',"e":1' : ''}${fence !== undefined ? `,"f":${fence}` : ''}` : '';
    messages.push(`{"o":${head},"p":[${part.join(',')}]${tail}}`);
    part = [];
    bytes = 0;
  };
  for (const op of wire) {
    const text = JSON.stringify(op);
    const size = Buffer.byteLength(text);
    if (part.length > 0 && bytes + size + head.length + 32 > MAX_MESSAGE) flush(false);
    part.push(text);
    bytes += size + 1;
  }
  flush(true);
  return messages;
}

/** Whether a batch changes what a manifest cache may hold (tags, manifests). */
export function touchesManifestCache(ops: readonly KvOp[]): boolean {
  return ops.some((op) => {
    const kind = keys.parse(op.key).kind;
    return kind === 't' || kind === 'm';
  });
}

export function barrierMessage(origin: string, n: number): string {
  return JSON.stringify({ o: origin, b: n });
}

/** `origin` has dropped what the fenced batch `n` of `to` changed. */
export function ackMessage(origin: string, to: string, n: number): string {
  return JSON.stringify({ o: origin, a: to, n });
}

export type FeedMessage =
  | { kind: 'batch'; batch: FeedBatch }
  | { kind: 'barrier'; origin: string; n: number }
  | { kind: 'ack'; origin: string; to: string; n: number };

/** A message as sent by feedMessages or barrierMessage; undefined for anything else. */
export function parseFeedMessage(text: string): FeedMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { o, p, b, e, f, a, n } = value as { o?: unknown; p?: unknown; b?: unknown; e?: unknown; f?: unknown; a?: unknown; n?: unknown };
  if (typeof o !== 'string') return undefined;
  if (typeof b === 'number') return { kind: 'barrier', origin: o, n: b };
  if (typeof a === 'string' && typeof n === 'number') return { kind: 'ack', origin: o, to: a, n };
  if (!Array.isArray(p)) return undefined;
  const ops: FeedOp[] = [];
  for (const w of p as unknown[]) {
    if (!Array.isArray(w) || typeof w[1] !== 'string') continue;
    if (w[0] === 'd') ops.push({ type: 'del', key: w[1] });
    else if (w[0] === 'p') ops.push(typeof w[2] === 'number' ? { type: 'put', key: w[1], size: w[2] } : { type: 'put', key: w[1] });
  }
  const batch: FeedBatch = { origin: o, ops, events: e === 1 };
  if (typeof f === 'number') batch.fence = f;
  return { kind: 'batch', batch };
}

/** The link and manifest changes of an announced batch (what quota accounting follows). */
export function feedChanges(ops: readonly FeedOp[]): StoreChange[] {
  const out: StoreChange[] = [];
  for (const op of ops) {
    const { kind, fields } = keys.parse(op.key);
    if ((kind !== 'l' && kind !== 'm') || fields.length !== 2) continue;
    const [repo, digest] = fields as [string, Digest];
    out.push({ what: kind === 'l' ? 'link' : 'manifest', op: op.type, repo, digest, size: op.type === 'put' ? (op.size ?? 0) : 0 });
  }
  return out;
}

/** The tags and manifests of each repository an announced batch changed (what a manifest cache drops). */
export function feedCacheChanges(ops: readonly FeedOp[]): Map<string, { tags: string[]; digests: Digest[] }> {
  const out = new Map<string, { tags: string[]; digests: Digest[] }>();
  for (const op of ops) {
    const { kind, fields } = keys.parse(op.key);
    if ((kind !== 't' && kind !== 'm') || fields.length !== 2) continue;
    const [repo, last] = fields as [string, string];
    let entry = out.get(repo);
    if (!entry) out.set(repo, (entry = { tags: [], digests: [] }));
    if (kind === 't') entry.tags.push(last);
    else entry.digests.push(last as Digest);
  }
  return out;
}
