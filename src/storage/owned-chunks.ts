/**
 * Request bodies whose chunks a consumer may hand back to the allocator as soon
 * as it has copied them.
 *
 * Node's HTTP parser gives each body read to JavaScript as a new Buffer over an
 * ArrayBuffer of its own (up to 64 KiB, `Buffer::Copy` in node_http_parser.cc).
 * Once the upload spool has copied a chunk into its aligned buffers the chunk is
 * garbage, but its memory goes back only when V8 next collects it: at ~500 MB/s
 * of pushes that is tens of MiB of dead buffers between collections (peak RSS
 * under 4 pushes, docs/benchmarks.md "Memory at scale"). Detaching the
 * ArrayBuffer frees its memory at once.
 *
 * Two parties must agree, so the contract is explicit: the producer marks a body
 * with `ownedChunks` (only where nobody else can hold its chunks: the request
 * stream read by one consumer), and a consumer that copies each chunk and keeps
 * no reference calls `releaseChunk` after the copy. A chunk that does not own its
 * whole ArrayBuffer (a slice of a pool or of a larger read) is never touched.
 */

import { MessageChannel, type MessagePort } from 'node:worker_threads';

const owned = new WeakSet<object>();

/** Marks `body` as a stream whose chunks nobody but its one consumer holds. */
export function ownedChunks<T extends object>(body: T): T {
  owned.add(body);
  return body;
}

/** Whether `body` was marked by `ownedChunks`. */
export function chunksOwned(body: object): boolean {
  return owned.has(body);
}

type Transferable = ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };

/**
 * A port whose peer is closed: posting to it still detaches the transfer list
 * (Node serialises the message before finding nobody to deliver it to) and drops
 * the message, so the backing store is freed right away. Node 20's V8 has no
 * `ArrayBuffer.prototype.transfer`; where it exists, it is used instead.
 */
let sink: MessagePort | undefined;

function detach(buffer: ArrayBuffer): void {
  const ab = buffer as Transferable;
  if (typeof ab.transfer === 'function') {
    ab.transfer(0);
    return;
  }
  if (sink === undefined) {
    const channel = new MessageChannel();
    channel.port2.close();
    sink = channel.port1;
  }
  sink.postMessage(null, [buffer]);
}

/**
 * Frees `chunk`'s memory now, if it is a whole ArrayBuffer of its own; the caller
 * must hold no other reference to it. Anything else is left for the collector.
 * Whether it was freed.
 */
export function releaseChunk(chunk: Buffer): boolean {
  const buffer = chunk.buffer;
  if (!(buffer instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || chunk.byteLength === 0) return false;
  try {
    detach(buffer);
    return true;
  } catch {
    // Buffers Node marks untransferable (its allocation pool) stay as they are.
    return false;
  }
}
