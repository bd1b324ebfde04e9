/**
 * Spooling a request body to a file while hashing it. Incoming chunks (~64 KiB)
 * are gathered into 1 MiB buffers, hashed, and written with positional writes
 * while the socket keeps filling the next buffer; memory stays at 2 MiB
 * whatever the body's size. A failed write is a storage domain error (a full
 * volume: StorageFullError); errors of the source (a client going away) pass
 * through as they are.
 */
import type { FileHandle } from 'node:fs/promises';
import { asStorageError } from '../io-errors.js';
import type { HashSink } from '../types.js';

const BUFFER_SIZE = 1 << 20;

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
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
}

/** The default for syncEvery: large enough to cost nothing, small enough to keep writeback flowing. */
export const SYNC_EVERY = 64 << 20;

/**
 * Buffers per spool: one fills from the socket while the other is written. More
 * writes in flight measured no faster (ext4 serialises writes to one file).
 */
const POOL = 2;

/** Writes `source` at `position`, feeding `hash`; returns the bytes written. */
export async function spool(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  fh: FileHandle,
  position: number,
  hash: HashSink,
  options: SpoolOptions = {},
): Promise<number> {
  const free: Buffer[] = [];
  let allocated = 1;
  let current: Buffer = Buffer.allocUnsafe(BUFFER_SIZE);
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
    hash.update(data);
    const write: Promise<void> = writeAll(fh, data, position + flushed)
      .then(
        () => void free.push(buffer),
        (err: unknown) => void (failure ??= asStorageError(err)),
      )
      .finally(() => inflight.delete(write));
    inflight.add(write);
    flushed += fill;
    fill = 0;
    if (flushed >= nextSync && syncing === undefined) {
      nextSync = flushed + (options.syncEvery ?? Infinity);
      syncing = Promise.all(inflight)
        .then(() => fh.datasync())
        .catch((err: unknown) => void (failure ??= asStorageError(err)))
        .finally(() => (syncing = undefined));
    }
    if (free.length === 0 && allocated < POOL) {
      allocated++;
      free.push(Buffer.allocUnsafe(BUFFER_SIZE));
    }
    while (free.length === 0 && failure === undefined) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    current = free.pop()!;
  };

  try {
    for await (const chunk of source) {
      total += chunk.length;
      if (total > maxBytes) throw options.onTooLarge?.() ?? new Error('body too large');
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, BUFFER_SIZE - fill);
        chunk.copy(current, fill, offset, offset + n);
        fill += n;
        offset += n;
        if (fill === BUFFER_SIZE) await flush();
      }
    }
    if (fill > 0) await flush();
  } finally {
    await settle().catch(() => undefined);
  }
  if (failure !== undefined) throw failure;
  return total;
}
