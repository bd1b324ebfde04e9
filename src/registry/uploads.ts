/**
 * Upload sessions: chunked, streamed and single-request blob uploads.
 *
 * A session is a metadata record (offset, running hash state, the area's state) plus
 * its bytes in the upload area (src/storage/types.ts UploadArea: files under uploads/,
 * or an S3 multipart upload). A chunk is appended, and only then does one putUpload
 * advance the offset with the new states; a failed or cut-off chunk leaves the session
 * at its previous offset, usable at its original Location. Because everything a chunk
 * needs is in the record, any process sharing the stores can take the next chunk; the
 * `upload:<id>` lock (Locks.tryRun) keeps one writer per session across processes.
 * Commit = verify digest → the area moves the bytes into the content address → link
 * and end the session in one batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs } from '../config/schema.js';
import { digestAlgorithm, finishDigest, newHash, type Digest } from '../oci/digest.js';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  DigestMismatchError,
  SizeInvalidError,
  UploadBusyError,
  UploadRangeError,
} from '../domain/errors.js';
import { isUploadId, newUploadId } from '../storage/fs/layout.js';
import type { ByteRange, StagedBlob, UploadSession } from '../storage/types.js';
import type { RegistryDeps } from './deps.js';
import { blobKey, jobKey } from './locks.js';
import { UploadHashes, type RunningHash } from './upload-hash.js';

export interface Chunk {
  body: AsyncIterable<Buffer> | Iterable<Buffer>;
  /** From Content-Range: the chunk must start at the session's offset. */
  range?: ByteRange;
  /** From Content-Length, when the client sent one. */
  length?: number;
}

/** A single-request body (monolithic, store). */
export interface WholeBody extends Chunk {
  /**
   * Called once the whole body is in and hashes to the expected digest: before it is
   * made durable and visible (a pull-through fetch releases its clients' last bytes then).
   */
  onVerified?: () => void;
  /** The content will be read right away (a pull-through fetch): keep it in the page cache. */
  readSoon?: boolean;
}

/**
 * How long a request waits for an upload session another request is writing before it is refused
 * (409): long enough for a request whose connection was just cut to unwind (a client retrying at
 * once after a reset is taken), short enough that a writer racing a live one is told within a second.
 */
const BUSY_WAIT_MS = 1_000;
const BUSY_POLL_MS = 20;

/** Session files no record owns are removed after this long (a session being created writes its file just before its record). */
const ORPHAN_AGE_MS = 60_000;

/** The lock key of an upload session: one writer at a time, in any process. */
export function uploadKey(id: string): string {
  return `upload:${id}`;
}

export class UploadService {
  private readonly hashes: UploadHashes;

  constructor(private readonly deps: RegistryDeps) {
    this.hashes = new UploadHashes(deps.uploadHashing ?? 'memory', deps.uploadArea);
  }

  private get expiryMs(): number {
    return durationMs(this.deps.config.uploads.expiry);
  }

  async start(repo: string): Promise<UploadSession> {
    const id = newUploadId();
    const now = Date.now();
    const areaState = await this.deps.uploadArea.create(id);
    const hashState = await this.hashes.initialState();
    const session: UploadSession = {
      id,
      repo,
      offset: 0,
      startedAt: now,
      updatedAt: now,
      ...(hashState !== undefined ? { hashState } : {}),
      ...(areaState !== undefined ? { areaState } : {}),
    };
    await this.deps.meta.putUpload(session);
    return session;
  }

  status(repo: string, id: string): Promise<UploadSession> {
    return this.session(repo, id);
  }

  append(repo: string, id: string, chunk: Chunk): Promise<UploadSession> {
    return this.exclusive(id, async () => {
      const session = await this.session(repo, id);
      return (await this.write(session, chunk)).session;
    });
  }

  /** Writes the last chunk if any, verifies the digest and makes the blob visible; returns its size. */
  complete(repo: string, id: string, digest: Digest, chunk?: Chunk): Promise<number> {
    return this.exclusive(id, async () => {
      let session = await this.session(repo, id);
      let hash: RunningHash | undefined;
      if (chunk) ({ session, hash } = await this.write(session, chunk));
      const actual = await this.digestOf(session, digestAlgorithm(digest), hash);
      if (actual !== digest) {
        await this.remove(session);
        throw new DigestMismatchError(digest, actual);
      }
      const done = session;
      await this.lost(done, () =>
        this.deps.locks.run(blobKey(digest), () =>
          this.deps.quotas.admit(repo, [{ digest, size: done.offset }], async () => {
            await this.deps.uploadArea.commit(done, digest);
            await this.deps.meta.completeUpload(id, repo, digest, done.offset);
          }),
        ),
      );
      this.hashes.forget(id);
      return done.offset;
    });
  }

  cancel(repo: string, id: string): Promise<void> {
    return this.exclusive(id, async () => this.remove(await this.session(repo, id)));
  }

  /** A single-request upload (POST ?digest=): nothing is stored unless the digest matches. */
  async monolithic(repo: string, digest: Digest, chunk: WholeBody): Promise<number> {
    if (chunk.length !== undefined) await this.deps.quotas.checkContent(repo, [{ digest, size: chunk.length }]);
    return this.viaStage(chunk, digestAlgorithm(digest), digest, async (_, staged) => {
      await this.commitAndLink(repo, digest, staged);
      return staged.size;
    });
  }

  /** Stores content whose digest is not known in advance (server-built blobs) and links it to `repo`. */
  async store(repo: string, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<{ digest: Digest; size: number }> {
    return this.viaStage({ body }, 'sha256', undefined, async (digest, staged) => {
      await this.commitAndLink(repo, digest, staged);
      return { digest, size: staged.size };
    });
  }

  /**
   * Moves verified content into the content address and links it, under the blob's lock (GC's
   * file sweep takes it too) and, innermost, the quota check of the repository's namespace.
   */
  private commitAndLink(repo: string, digest: Digest, staged: StagedBlob): Promise<void> {
    return this.deps.locks.run(blobKey(digest), () =>
      this.deps.quotas.admit(repo, [{ digest, size: staged.size }], async () => {
        await staged.commit(digest);
        await this.deps.meta.linkBlob(repo, digest, staged.size);
      }),
    );
  }

  /**
   * Stages a body in the upload area, hands it with its digest to `use`, and removes what is left.
   * With `expected`, a body hashing to anything else fails (DigestMismatchError) as soon as it is
   * in, before the area makes it durable.
   */
  private async viaStage<T>(
    chunk: WholeBody,
    algorithm: 'sha256' | 'sha512',
    expected: Digest | undefined,
    use: (digest: Digest, staged: StagedBlob) => Promise<T>,
  ): Promise<T> {
    const hash = this.hashes.forBody(algorithm);
    let digest: Digest | undefined;
    const verify = async (size: number): Promise<void> => {
      if (chunk.length !== undefined && size !== chunk.length) {
        throw new SizeInvalidError('body length differs from Content-Length', { expected: chunk.length, size });
      }
      digest = await hash.finish();
      if (expected !== undefined && digest !== expected) throw new DigestMismatchError(expected, digest);
      chunk.onVerified?.();
    };
    const staged = await this.deps.uploadArea.stage(chunk.body, hash, verify, { readSoon: chunk.readSoon === true });
    try {
      // Every area calls the check once the body is in.
      if (digest === undefined) throw new Error('the upload area stored a body without checking it');
      return await use(digest, staged);
    } finally {
      await staged.discard();
    }
  }

  /**
   * Removes expired sessions with their data, and data no session owns; one sweep at a
   * time across processes (`job:upload-sweep`), never a session a request is writing.
   */
  async sweep(now = Date.now()): Promise<number> {
    const run = await this.deps.locks.tryRun(jobKey('upload-sweep'), async () => {
      let removed = 0;
      const known = new Set<string>();
      for (const session of await this.deps.meta.listUploads()) {
        known.add(session.id);
        if (session.updatedAt + this.expiryMs > now) continue;
        const done = await this.deps.locks.tryRun(uploadKey(session.id), () => this.remove(session));
        if (done.acquired) removed++;
      }
      await this.deps.uploadArea.sweep((id) => known.has(id), now, ORPHAN_AGE_MS);
      return removed;
    });
    return run.acquired ? run.value : 0;
  }

  /** Prepares the upload area: directories, and temp data of processes gone (only stale data: others may share the root). */
  async clearTmp(): Promise<void> {
    await this.deps.uploadArea.init();
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

  /** Runs `fn` as the session's only writer, waiting up to BUSY_WAIT_MS for one that is finishing. */
  private async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (;;) {
      const result = await this.deps.locks.tryRun(uploadKey(id), fn);
      if (result.acquired) return result.value;
      if (Date.now() >= deadline) throw new UploadBusyError(id);
      await sleep(BUSY_POLL_MS);
    }
  }

  /** Runs `fn`; when the area says the session's bytes are lost, the session is ended too. */
  private async lost<T>(session: UploadSession, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BlobUploadUnknownError) await this.remove(session);
      throw err;
    }
  }

  private async write(session: UploadSession, chunk: Chunk): Promise<{ session: UploadSession; hash: RunningHash }> {
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
    const hash = await this.lost(session, () => this.hashes.at(session));
    const result = await this.lost(session, () =>
      this.deps.uploadArea.append(session, chunk.body, hash, (written) => {
        if (expected !== undefined && written !== expected) {
          throw new BlobUploadInvalidError('chunk length does not match its Content-Range or Content-Length', {
            expected,
            received: written,
          });
        }
      }),
    );
    const { hashState: _h, areaState: _a, ...rest } = session;
    const hashState = hash.save();
    const updated: UploadSession = {
      ...rest,
      offset: session.offset + result.written,
      updatedAt: Date.now(),
      ...(hashState !== undefined ? { hashState } : {}),
      ...(result.areaState !== undefined ? { areaState: result.areaState } : {}),
    };
    await this.deps.meta.putUpload(updated);
    this.hashes.remember(session.id, updated.offset, hash);
    await result.settled?.().catch((err: unknown) => this.deps.log.warn({ err, upload: session.id }, 'could not remove replaced upload data'));
    return { session: updated, hash };
  }

  private async digestOf(session: UploadSession, algorithm: 'sha256' | 'sha512', hash?: RunningHash): Promise<Digest> {
    if (algorithm === 'sha256') return (hash ?? (await this.lost(session, () => this.hashes.at(session)))).digest();
    if (!this.deps.uploadArea.readable) {
      throw new BlobUploadInvalidError('chunked uploads take sha256 digests on this storage driver', { algorithm });
    }
    const sha512 = newHash('sha512');
    await this.lost(session, async () => {
      for await (const data of this.deps.uploadArea.read(session)) sha512.update(data);
    });
    return finishDigest(sha512, 'sha512');
  }

  private async remove(session: UploadSession): Promise<void> {
    this.hashes.forget(session.id);
    await this.deps.meta.deleteUpload(session.id);
    await this.deps.uploadArea.abort(session.id, session.areaState);
  }
}
