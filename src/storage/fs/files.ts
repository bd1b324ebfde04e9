/**
 * The node:fs/promises calls the upload service makes on its session and temp
 * files, with the same signatures, failing with storage domain errors (a full
 * volume is StorageFullError, an I/O or resource failure StorageUnavailableError).
 * ENOENT and the like pass through unchanged for callers that expect them.
 */
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { storageIo } from '../io-errors.js';

export function open(path: string, flags: string, mode?: number): Promise<FileHandle> {
  return storageIo(() => fsp.open(path, flags, mode));
}

export function writeFile(path: string, data: string | Uint8Array): Promise<void> {
  return storageIo(() => fsp.writeFile(path, data));
}

export function rm(path: string, options: { force?: boolean; recursive?: boolean } = {}): Promise<void> {
  return storageIo(() => fsp.rm(path, options));
}

export function readdir(path: string): Promise<string[]> {
  return storageIo(() => fsp.readdir(path));
}

export function stat(path: string): Promise<Stats> {
  return storageIo(() => fsp.stat(path));
}

/** fsync of an open file (the closing fsync of an upload, where a full or failing disk may first say so). */
export function syncFile(fh: FileHandle): Promise<void> {
  return storageIo(() => fh.sync());
}

/** Cuts an open file back to `length` bytes. */
export function truncateFile(fh: FileHandle, length: number): Promise<void> {
  return storageIo(() => fh.truncate(length));
}

/** Cuts a file back to `length` bytes, by path. */
export function truncate(path: string, length: number): Promise<void> {
  return storageIo(() => fsp.truncate(path, length));
}
