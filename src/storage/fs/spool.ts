/**
 * Spooling a request body to a file while hashing it. Incoming chunks (~64 KiB)
 * are gathered into 1 MiB buffers, hashed (on the hashing thread, when the
 * sink is a ThreadHash) and written with positional writes while the socket
 * keeps filling the next buffer. A spool holds 2 to 8 buffers (see `budget`),
 * whatever the body's size; the buffers are reused from one pool. With a
 * direct handle (./direct-io.ts) whole block-aligned buffers are written past
 * the page cache, the rest through the ordinary handle. A failed write is a
 * storage domain error (a full volume: StorageFullError); errors of the source
 * (a client going away) pass through as they are.
 */
import type { FileHandle } from 'node:fs/promises';
import { asStorageError } from '../io-errors.js';
import type { HashSink } from '../types.js';
import { AlignedBuffers, DIRECT_ALIGN, refusedDirect } from './direct-io.js';
import { chunksOwned, releaseChunk } from '../owned-chunks.js';
import { SpoolBudget, type BufferHolder } from './spool-budget.js';

const BUFFER_SIZE = 1 << 20;
const buffers = new AlignedBuffers(BUFFER_SIZE);

async function writeAll(fh: FileHandle, data: Buffer, position: number, done = 0): Promise<void> {
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes through the direct handle; what it refuses or leaves unwritten goes through the ordinary one. */
async function writeDirect(direct: FileHandle, fh: FileHandle, data: Buffer, position: number): Promise<boolean> {
  let bytesWritten: number;
  try {
    ({ bytesWritten } = await direct.write(data, 0, data.length, position));
  } catch (err) {
    if (!refusedDirect(err)) throw err;
    await writeAll(fh, data, position);
    return false;
  }
  await writeAll(fh, data, position, bytesWritten);
  return true;
}

export interface SpoolStats {
  directBytes: number;
  releasedBytes: number;
  /** The most buffers this spool held (set once it takes a second one). */
  maxBuffers?: number;
}

export interface SpoolOptions {
  /** Fail once more than this many bytes arrive. */
  maxBytes?: number;
  onTooLarge?: () => Error;
  /**
   * Start a background fdatasync every this many bytes, so dirty pages are
   * written while data still arrives and the closing fsync has little left.
   */
  syncEvery?: number;
  /** The same file opened with openDirect(): whole aligned buffers are written through it. */
  direct?: FileHandle;
  /** Filled in with the bytes that went through `direct`, and the bytes of request chunks freed once copied. */
  stats?: SpoolStats;
}

/** The default for syncEvery: large enough to cost nothing, small enough to keep writeback flowing. */
export const SYNC_EVERY = 64 << 20;

/**
 * Buffers per spool (./spool-budget.ts): 2 each, and up to 8 while all spools
 * together hold fewer than 8. More writes in flight: a lone 1 GiB push measured
 * 524 MB/s with 2 buffers, 652 with 8 and 672 with 16 (medians, curl -T, docs/benchmarks.md
 * "More writes in flight"). 8 is what 4 parallel pushes held with 2 each: 4 or
 * more pushes at once hold what they always did, fewer never more than 8 together.
 */
const budget = new SpoolBudget(buffers, 2, 8, 8);

/** The spools' shared buffers: how many are in use now, and the most ever at once. */
export function spoolBuffers(): { inUse: number; peakInUse: number } {
  return { inUse: buffers.inUse, peakInUse: buffers.peakInUse };
}

/** Writes `source` at `position`, feeding `hash`; returns the bytes written. */
export async function spool(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  fh: FileHandle,
  position: number,
  hash: HashSink,
  options: SpoolOptions = {},
): Promise<number> {
  const free: Buffer[] = [];
  const taken: Buffer[] = [];
  /** Gives `buffer` (one of `taken`, not being filled or written) back to the budget. */
  const shed = (buffer: Buffer): void => {
    taken.splice(taken.indexOf(buffer), 1);
    budget.release(buffer);
  };
  const holder: BufferHolder = {
    get held() {
      return taken.length;
    },
    shedIdle() {
      while (taken.length > budget.min && free.length > 0) shed(free.pop()!);
    },
  };
  let current: Buffer = await budget.need(holder);
  taken.push(current);
  let direct = options.direct;
  // A start off the block grid fills the first buffer only up to it: every later buffer is aligned.
  let capacity = direct === undefined ? BUFFER_SIZE : BUFFER_SIZE - (position % DIRECT_ALIGN);
  let fill = 0;
  let total = 0;
  let flushed = 0;
  let failure: unknown;
  const inflight = new Set<Promise<void>>();
  let syncing: Promise<void> | undefined;
  let nextSync = options.syncEvery ?? Infinity;
  const maxBytes = options.maxBytes ?? Infinity;

  const settle = async (): Promise<void> => {
    await Promise.all(inflight);
    if (syncing) await syncing;
  };

  /** Hashes the filled buffer, starts its write, and makes a free buffer current. */
  const flush = async (): Promise<void> => {
    const buffer = current;
    const data = buffer.subarray(0, fill);
    // A hash on another thread reads the buffer until this settles (src/oci/hash-thread.ts).
    const hashed = hash.update(data);
    const at = position + flushed;
    const viaDirect = direct !== undefined && at % DIRECT_ALIGN === 0 && fill % DIRECT_ALIGN === 0 && buffers.aligned(buffer);
    const written = viaDirect
      ? writeDirect(direct!, fh, data, at).then((ok) => {
          if (!ok) direct = undefined;
          else if (options.stats) options.stats.directBytes += data.length;
        })
      : writeAll(fh, data, at);
    const write: Promise<void> = Promise.all([written, hashed])
      .then(
        () => void (budget.shouldShed(holder) ? shed(buffer) : free.push(buffer)),
        (err: unknown) => void (failure ??= asStorageError(err)),
      )
      .finally(() => inflight.delete(write));
    inflight.add(write);
    flushed += fill;
    fill = 0;
    capacity = BUFFER_SIZE;
    if (flushed >= nextSync && syncing === undefined) {
      nextSync = flushed + (options.syncEvery ?? Infinity);
      syncing = Promise.all(inflight)
        .then(() => fh.datasync())
        .catch((err: unknown) => void (failure ??= asStorageError(err)))
        .finally(() => (syncing = undefined));
    }
    if (free.length === 0) {
      const more = taken.length < budget.min ? await budget.need(holder) : budget.extra(holder);
      if (more !== undefined) {
        taken.push(more);
        free.push(more);
        if (options.stats) options.stats.maxBuffers = Math.max(options.stats.maxBuffers ?? 0, taken.length);
      }
    }
    while (free.length === 0 && failure === undefined) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    current = free.pop()!;
  };

  // Chunks of a request body are freed as soon as they are copied (src/storage/owned-chunks.ts).
  const release = chunksOwned(source);
  try {
    for await (const chunk of source) {
      total += chunk.length;
      if (total > maxBytes) throw options.onTooLarge?.() ?? new Error('body too large');
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, capacity - fill);
        chunk.copy(current, fill, offset, offset + n);
        fill += n;
        offset += n;
        if (fill === capacity) await flush();
      }
      // After this the chunk is empty (detached): count its length first.
      const length = chunk.length;
      if (release && releaseChunk(chunk) && options.stats) options.stats.releasedBytes += length;
    }
    if (fill > 0) await flush();
  } finally {
    await settle().catch(() => undefined);
    // Every write has settled: no buffer is still being read by one.
    while (taken.length > 0) shed(taken.at(-1)!);
    budget.done(holder);
  }
  if (failure !== undefined) throw failure;
  return total;
}
