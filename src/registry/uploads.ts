/**
 * Upload sessions: chunked, streamed and single-request blob uploads.
 *
 * A session is a LevelDB record (the offset) plus a data file under uploads/.
 * A chunk is written, and only then is the offset advanced; a failed or cut-off
 * chunk is truncated away, so the session stays usable at its original
 * Location. Chunks are not fsynced one by one: the file is fsynced once before
 * the commit, and the digest check at commit catches anything a power cut
 * left half-written (the client then uploads again). The running hash lives in memory; after a restart it
 * is rebuilt from the file. Commit = verify digest → move into the blob
 * directory → link and end the session in one batch.
 */
import type { Hash } from 'node:crypto';
import { durationMs } from '../config/schema.js';
import { digestAlgorithm, finishDigest, newHash, type Digest } from '../oci/digest.js';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  DigestMismatchError,
  SizeInvalidError,
  UploadBusyError,
  UploadDataError,
  UploadRangeError,
} from '../domain/errors.js';
import { open, readdir, rm, stat, syncFile, truncate, truncateFile, writeFile } from '../storage/fs/files.js';
import { syncPath } from '../storage/fs/fsync.js';
import { hashFileInto } from '../storage/fs/hash-file.js';
import { isUploadId, newUploadId } from '../storage/fs/layout.js';
import { spool, SYNC_EVERY } from '../storage/fs/spool.js';
import type { ByteRange, UploadSession } from '../storage/types.js';
import type { RegistryDeps } from './deps.js';
import { blobKey } from './locks.js';

export interface Chunk {
  body: AsyncIterable<Buffer> | Iterable<Buffer>;
  /** From Content-Range: the chunk must start at the session's offset. */
  range?: ByteRange;
  /** From Content-Length, when the client sent one. */
  length?: number;
}

interface HashState {
  offset: number;
  hash: Hash;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class UploadService {
  private readonly states = new Map<string, HashState>();
  private readonly busy = new Set<string>();
  /** Background fdatasyncs of session files, at most one per session. */
  private readonly syncing = new Map<string, Promise<void>>();

  constructor(private readonly deps: RegistryDeps) {}

  private get expiryMs(): number {
    return durationMs(this.deps.config.uploads.expiry);
  }

  async start(repo: string): Promise<UploadSession> {
    const id = newUploadId();
    const now = Date.now();
    await writeFile(this.deps.layout.uploadPath(id), '');
    const session: UploadSession = { id, repo, offset: 0, startedAt: now, updatedAt: now };
    await this.deps.meta.putUpload(session);
    this.states.set(id, { offset: 0, hash: newHash() });
    return session;
  }

  status(repo: string, id: string): Promise<UploadSession> {
    return this.session(repo, id);
  }

  append(repo: string, id: string, chunk: Chunk): Promise<UploadSession> {
    return this.exclusive(id, async () => this.write(await this.session(repo, id), chunk));
  }

  /** Writes the last chunk if any, verifies the digest and makes the blob visible; returns its size. */
  complete(repo: string, id: string, digest: Digest, chunk?: Chunk): Promise<number> {
    return this.exclusive(id, async () => {
      let session = await this.session(repo, id);
      if (chunk) session = await this.write(session, chunk);
      const path = this.deps.layout.uploadPath(id);
      const actual = await this.digestOf(session, digestAlgorithm(digest));
      if (actual !== digest) {
        await this.remove(session);
        throw new DigestMismatchError(digest, actual);
      }
      // Only the session's bytes may become the blob: a longer file (a cut-off chunk whose
      // truncate failed) is cut back first, and a shorter one has lost data.
      await this.matchOffset(session);
      // fsync the finished upload before it is renamed into the blob directory.
      await syncPath(path);
      await this.deps.locks.run(blobKey(digest), () =>
        this.deps.quotas.admit(repo, [{ digest, size: session.offset }], async () => {
          await this.deps.blobs.ingest(path, digest);
          await this.deps.meta.completeUpload(id, repo, digest, session.offset);
        }),
      );
      this.states.delete(id);
      return session.offset;
    });
  }

  cancel(repo: string, id: string): Promise<void> {
    return this.exclusive(id, async () => this.remove(await this.session(repo, id)));
  }

  /** A single-request upload (POST ?digest=): nothing is stored unless the digest matches. */
  async monolithic(repo: string, digest: Digest, chunk: Chunk): Promise<number> {
    if (chunk.length !== undefined) await this.deps.quotas.checkContent(repo, [{ digest, size: chunk.length }]);
    return this.viaTmp(chunk, digestAlgorithm(digest), async (actual, size, path) => {
      if (actual !== digest) throw new DigestMismatchError(digest, actual);
      await this.ingestAndLink(repo, digest, size, path);
      return size;
    });
  }

  /** Stores content whose digest is not known in advance (server-built blobs) and links it to `repo`. */
  async store(repo: string, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<{ digest: Digest; size: number }> {
    return this.viaTmp({ body }, 'sha256', async (digest, size, path) => {
      await this.ingestAndLink(repo, digest, size, path);
      return { digest, size };
    });
  }

  /**
   * Moves a verified file into the blob directory and links it, under the blob's lock (GC's file
   * sweep takes it too) and, innermost, the quota check of the repository's namespace.
   */
  private ingestAndLink(repo: string, digest: Digest, size: number, path: string): Promise<void> {
    return this.deps.locks.run(blobKey(digest), () =>
      this.deps.quotas.admit(repo, [{ digest, size }], async () => {
        await this.deps.blobs.ingest(path, digest);
        await this.deps.meta.linkBlob(repo, digest, size);
      }),
    );
  }

  /** Spools a body to a fsynced file under tmp/, hands it with its digest to `use`, and cleans up. */
  private async viaTmp<T>(
    chunk: Chunk,
    algorithm: 'sha256' | 'sha512',
    use: (digest: Digest, size: number, path: string) => Promise<T>,
  ): Promise<T> {
    const path = this.deps.layout.tmpPath();
    const fh = await open(path, 'wx');
    try {
      const hash = newHash(algorithm);
      let size: number;
      try {
        size = await spool(chunk.body, fh, 0, hash, { syncEvery: SYNC_EVERY });
        if (chunk.length !== undefined && size !== chunk.length) {
          throw new SizeInvalidError('body length differs from Content-Length', { expected: chunk.length, size });
        }
        await syncFile(fh);
      } finally {
        await fh.close();
      }
      return await use(finishDigest(hash, algorithm), size, path);
    } finally {
      await rm(path, { force: true });
    }
  }

  /** Removes expired sessions with their files, and upload files no session owns. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    const known = new Set<string>();
    for (const session of await this.deps.meta.listUploads()) {
      known.add(session.id);
      if (this.busy.has(session.id) || session.updatedAt + this.expiryMs > now) continue;
      await this.remove(session);
      removed++;
    }
    for (const name of await readdir(this.deps.layout.uploadsDir)) {
      if (known.has(name) || this.busy.has(name)) continue;
      const path = `${this.deps.layout.uploadsDir}/${name}`;
      // A session being created writes its file just before its record.
      const age = now - (await stat(path).catch(() => ({ mtimeMs: now }))).mtimeMs;
      if (age > 60_000) await rm(path, { force: true });
    }
    return removed;
  }

  /** Empties tmp/: at startup nothing in it belongs to a live request. */
  async clearTmp(): Promise<void> {
    await rm(this.deps.layout.tmpDir, { recursive: true, force: true });
    await this.deps.blobs.init();
  }

  private async session(repo: string, id: string): Promise<UploadSession> {
    if (!isUploadId(id)) throw new BlobUploadUnknownError(id);
    const session = await this.deps.meta.getUpload(id);
    if (session === undefined || session.repo !== repo) throw new BlobUploadUnknownError(id);
    if (session.updatedAt + this.expiryMs <= Date.now()) {
      await this.remove(session);
      throw new BlobUploadUnknownError(id);
    }
    return session;
  }

  private async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) throw new UploadBusyError(id);
    this.busy.add(id);
    try {
      return await fn();
    } finally {
      this.busy.delete(id);
    }
  }

  private async write(session: UploadSession, chunk: Chunk): Promise<UploadSession> {
    const { range } = chunk;
    let expected = chunk.length;
    if (range) {
      if (range.start !== session.offset) {
        throw new UploadRangeError(session.repo, session.id, session.offset, range.start);
      }
      const rangeLength = range.end - range.start + 1;
      if (expected !== undefined && expected !== rangeLength) {
        throw new BlobUploadInvalidError('Content-Length does not match Content-Range', {
          contentLength: expected,
          range: `${range.start}-${range.end}`,
        });
      }
      expected = rangeLength;
    }
    // A chunk of known length that cannot fit the quota is refused before any byte is written.
    if (expected !== undefined) await this.deps.quotas.checkBytes(session.repo, session.offset + expected);
    const state = await this.hashState(session);
    const hash = state.hash.copy();
    // A chunk never lands on a file longer than the offset (an earlier cut-off chunk's tail).
    await this.matchOffset(session);
    const fh = await open(this.deps.layout.uploadPath(session.id), 'r+');
    let written: number;
    try {
      written = await spool(chunk.body, fh, session.offset, hash, { syncEvery: SYNC_EVERY });
      if (expected !== undefined && written !== expected) {
        throw new BlobUploadInvalidError('chunk length does not match its Content-Range or Content-Length', {
          expected,
          received: written,
        });
      }
    } catch (err) {
      // If this fails too, the next chunk or the commit cuts the tail (matchOffset) or fails clearly.
      await fh.truncate(session.offset).catch((truncateErr: unknown) =>
        this.deps.log.warn({ err: truncateErr, upload: session.id }, 'could not truncate a failed chunk'),
      );
      throw err;
    } finally {
      await fh.close();
    }
    const updated: UploadSession = { ...session, offset: session.offset + written, updatedAt: Date.now() };
    await this.deps.meta.putUpload(updated);
    this.states.set(session.id, { offset: updated.offset, hash });
    // Chunks smaller than SYNC_EVERY never start a sync inside spool(): start one when they cross a boundary.
    if (written < SYNC_EVERY && Math.floor(updated.offset / SYNC_EVERY) > Math.floor(session.offset / SYNC_EVERY)) {
      this.syncBehind(session.id);
    }
    return updated;
  }

  /**
   * Starts an fdatasync of the session's file without waiting for it, so the
   * disk writes back while the next chunks arrive and the commit's fsync (which
   * is what makes the blob durable) has little left. Failures only lose that.
   */
  private syncBehind(id: string): void {
    if (this.syncing.has(id)) return;
    const job = syncPath(this.deps.layout.uploadPath(id), true)
      .catch(() => undefined)
      .finally(() => this.syncing.delete(id));
    this.syncing.set(id, job);
  }

  /** The running hash at the session's durable offset, rebuilt from the file when not in memory. */
  private async hashState(session: UploadSession): Promise<HashState> {
    const known = this.states.get(session.id);
    if (known && known.offset === session.offset) return known;
    let fh;
    try {
      fh = await open(this.deps.layout.uploadPath(session.id), 'r+');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.remove(session);
      throw new BlobUploadUnknownError(session.id);
    }
    try {
      const { size } = await fh.stat();
      if (size < session.offset) {
        await this.remove(session);
        throw new BlobUploadUnknownError(session.id);
      }
      // Bytes past the durable offset come from a chunk that never completed.
      if (size > session.offset) await truncateFile(fh, session.offset);
      const hash = newHash();
      await hashFileInto(fh, session.offset, hash);
      const state = { offset: session.offset, hash };
      this.states.set(session.id, state);
      return state;
    } finally {
      await fh.close();
    }
  }

  /**
   * Makes the session file exactly `session.offset` bytes long: a longer file is
   * truncated (UploadDataError if that fails), a shorter one has lost bytes the
   * session counted, so the session is ended (BlobUploadUnknownError).
   */
  private async matchOffset(session: UploadSession): Promise<void> {
    const path = this.deps.layout.uploadPath(session.id);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (!isNotFound(err)) throw new UploadDataError(session.id, 'cannot read the upload file', err);
      await this.remove(session);
      throw new BlobUploadUnknownError(session.id);
    }
    if (size < session.offset) {
      await this.remove(session);
      throw new BlobUploadUnknownError(session.id);
    }
    if (size === session.offset) return;
    try {
      await truncate(path, session.offset);
      size = (await stat(path)).size;
    } catch (err) {
      throw new UploadDataError(session.id, 'cannot cut the upload file back to its offset', err);
    }
    if (size !== session.offset) throw new UploadDataError(session.id, 'the upload file is longer than its offset');
  }

  private async digestOf(session: UploadSession, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
    if (algorithm === 'sha256') return finishDigest((await this.hashState(session)).hash.copy(), 'sha256');
    const fh = await open(this.deps.layout.uploadPath(session.id), 'r');
    try {
      const hash = newHash('sha512');
      await hashFileInto(fh, session.offset, hash);
      return finishDigest(hash, 'sha512');
    } finally {
      await fh.close();
    }
  }

  private async remove(session: UploadSession): Promise<void> {
    this.states.delete(session.id);
    await this.deps.meta.deleteUpload(session.id);
    await rm(this.deps.layout.uploadPath(session.id), { force: true });
  }
}
