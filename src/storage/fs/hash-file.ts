/**
 * Hashing a file's first `length` bytes in 1 MiB reads (rebuilding an upload's
 * hash after a restart, rehashing blobs in `unireg verify`); `onRead` hears of each read.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { storageIo } from '../io-errors.js';

export interface HashFileOptions {
  onRead?: (bytes: number) => void;
  /** A buffer to read into (reused across many files), instead of a fresh 1 MiB one. */
  buffer?: Buffer;
}

export async function hashFileInto(fh: FileHandle, length: number, hash: Hash, options: HashFileOptions = {}): Promise<void> {
  const { onRead, buffer = Buffer.allocUnsafe(1 << 20) } = options;
  let position = 0;
  while (position < length) {
    const { bytesRead } = await storageIo(() => fh.read(buffer, 0, Math.min(buffer.length, length - position), position));
    if (bytesRead === 0) throw new Error(`file ended at ${position} of ${length} bytes`);
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
    onRead?.(bytesRead);
  }
}
