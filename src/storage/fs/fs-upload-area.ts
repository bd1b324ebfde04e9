/**
 * The upload area on the file system: a session's bytes are the file uploads/<id>
 * (paths from ./layout.ts), single-request bodies are spooled to tmp/<random>.
 *
 * A chunk is written at the session's offset and only counts once the caller stores
 * the new offset; a failed or cut-off chunk is truncated away, and before each chunk
 * and before the commit the file is brought to exactly the session's offset, so a
 * tail a failed truncate left can never become part of a blob. Chunks are not fsynced
 * one by one (a background fdatasync every SYNC_EVERY bytes keeps writeback flowing);
 * the commit fsyncs, then renames into the blob directory.
 *
 * Several processes may share the root (fs blobs with shared metadata): any of them may
 * append to a session (the caller's `upload:<id>` lock keeps one writer), and init()
 * removes only temp files old enough that no live request can own them.
 */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobUploadUnknownError, UploadDataError } from '../../domain/errors.js';
import type { Digest } from '../../oci/digest.js';
import { storageIo } from '../io-errors.js';
import type { AppendResult, BlobStore, ByteCheck, HashSink, StagedBlob, StageHints, UploadArea, UploadSession } from '../types.js';
import { open, readdir, rm, stat, syncFile, truncate, writeFile } from './files.js';
import { syncPath } from './fsync.js';
import type { Layout } from './layout.js';
import { prepareScratch } from './scratch.js';
import { openDirect } from './direct-io.js';
import { spool, SYNC_EVERY, type SpoolOptions, type SpoolStats } from './spool.js';

const READ_BUFFER = 1 << 20;

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FsUploadArea implements UploadArea {
  readonly readable = true;
  /** Background fdatasyncs of session files, at most one per session. */
  private readonly syncing = new Map<string, Promise<void>>();

  constructor(
    private readonly layout: Layout,
    private readonly blobs: BlobStore,
    private readonly options: { directWrites: boolean } = { directWrites: true },
  ) {}

  /** Spools `body` into the open file `fh` (at `path`) at `position`, directly where allowed (./direct-io.ts). */
  private async spoolTo(
    path: string,
    fh: FileHandle,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    position: number,
    hash: HashSink,
    allowDirect = true,
  ): Promise<number> {
    const direct = this.options.directWrites && allowDirect ? await openDirect(path) : undefined;
    const options: SpoolOptions = { syncEvery: SYNC_EVERY, stats: this.spoolStats };
    if (direct !== undefined) options.direct = direct;
    try {
      return await spool(body, fh, position, hash, options);
    } finally {
      await direct?.close().catch(() => undefined);
    }
  }

  /** Bytes of upload data written past the page cache, and of request chunks freed once copied, since start (tests read them). */
  readonly spoolStats: SpoolStats = { directBytes: 0, releasedBytes: 0 };

  /**
   * Creates the directories and removes temp files no live request can own: older than
   * STALE_TMP_MS, so another process serving from the same root keeps its own.
   */
  async init(now = Date.now()): Promise<void> {
    await this.blobs.init();
    await prepareScratch(this.layout.tmpDir, now);
  }

  async create(id: string): Promise<undefined> {
    await writeFile(this.layout.uploadPath(id), '');
    return undefined;
  }

  async append(
    session: UploadSession,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    hash: HashSink,
    check?: ByteCheck,
  ): Promise<AppendResult> {
    // A chunk never lands on a file longer than the offset (an earlier cut-off chunk's tail).
    await this.matchOffset(session);
    const path = this.layout.uploadPath(session.id);
    const fh = await open(path, 'r+');
    let written: number;
    try {
      written = await this.spoolTo(path, fh, body, session.offset, hash);
      await check?.(written);
    } catch (err) {
      // If this fails too, the next chunk or the commit cuts the tail (matchOffset) or fails clearly.
      await fh.truncate(session.offset).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
    }
    const end = session.offset + written;
    // Chunks smaller than SYNC_EVERY never start a sync inside spool(): start one when they cross a boundary.
    if (written < SYNC_EVERY && Math.floor(end / SYNC_EVERY) > Math.floor(session.offset / SYNC_EVERY)) {
      this.syncBehind(session.id);
    }
    return { written };
  }

  async *read(session: UploadSession): AsyncIterable<Buffer> {
    await this.matchOffset(session);
    const fh = await open(this.layout.uploadPath(session.id), 'r');
    try {
      const buffer = Buffer.allocUnsafe(READ_BUFFER);
      let position = 0;
      while (position < session.offset) {
        const { bytesRead } = await storageIo(() => fh.read(buffer, 0, Math.min(buffer.length, session.offset - position), position));
        if (bytesRead === 0) throw new UploadDataError(session.id, 'the upload file ended early');
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }

  async commit(session: UploadSession, digest: Digest): Promise<void> {
    // Only the session's bytes may become the blob: a longer file is cut back first, a shorter one has lost data.
    await this.matchOffset(session);
    const path = this.layout.uploadPath(session.id);
    await this.syncing.get(session.id);
    // fsync the finished upload before it is renamed into the blob directory.
    await syncPath(path);
    await this.blobs.ingest(path, digest);
  }

  async abort(id: string): Promise<void> {
    await rm(this.layout.uploadPath(id), { force: true });
  }

  /** Session files no session owns (a session being created writes its file just before its record), and stale temp files. */
  async sweep(live: (id: string) => boolean, now: number, minAgeMs: number): Promise<void> {
    for (const name of await readdir(this.layout.uploadsDir)) {
      if (live(name)) continue;
      const path = join(this.layout.uploadsDir, name);
      const age = now - (await stat(path).catch(() => ({ mtimeMs: now }))).mtimeMs;
      if (age > minAgeMs) await rm(path, { force: true });
    }
    await prepareScratch(this.layout.tmpDir, now);
  }

  async stage(body: AsyncIterable<Buffer> | Iterable<Buffer>, hash: HashSink, check?: ByteCheck, hints: StageHints = {}): Promise<StagedBlob> {
    const path = this.layout.tmpPath();
    let done = false;
    const discard = async () => {
      done = true;
      await rm(path, { force: true }).catch(() => undefined);
    };
    try {
      const fh = await open(path, 'wx');
      let size: number;
      try {
        // Content read right away (a pull-through fetch) is kept in the page cache: written the ordinary way.
        size = await this.spoolTo(path, fh, body, 0, hash, hints.readSoon !== true);
        await check?.(size);
        await syncFile(fh);
      } finally {
        await fh.close();
      }
      return {
        size,
        commit: async (digest) => {
          if (done) throw new Error('staged blob already committed or discarded');
          await this.blobs.ingest(path, digest);
          done = true;
        },
        discard,
      };
    } catch (err) {
      await discard();
      throw err;
    }
  }

  /**
   * Starts an fdatasync of the session's file without waiting for it, so the
   * disk writes back while the next chunks arrive and the commit's fsync (which
   * is what makes the blob durable) has little left. Failures only lose that.
   */
  private syncBehind(id: string): void {
    if (this.syncing.has(id)) return;
    const job = syncPath(this.layout.uploadPath(id), true)
      .catch(() => undefined)
      .finally(() => this.syncing.delete(id));
    this.syncing.set(id, job);
  }

  /**
   * Makes the session file exactly `session.offset` bytes long: a longer file is
   * truncated (UploadDataError if that fails), a shorter one has lost bytes the
   * session counted (BlobUploadUnknownError; the caller ends the session).
   */
  private async matchOffset(session: UploadSession): Promise<void> {
    const path = this.layout.uploadPath(session.id);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (!isNotFound(err)) throw new UploadDataError(session.id, 'cannot read the upload file', err);
      throw new BlobUploadUnknownError(session.id);
    }
    if (size < session.offset) throw new BlobUploadUnknownError(session.id);
    if (size === session.offset) return;
    try {
      await truncate(path, session.offset);
      size = (await stat(path)).size;
    } catch (err) {
      throw new UploadDataError(session.id, 'cannot cut the upload file back to its offset', err);
    }
    if (size !== session.offset) throw new UploadDataError(session.id, 'the upload file is longer than its offset');
  }
}
