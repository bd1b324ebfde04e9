/**
 * The running sha256 of upload sessions, in one of two modes:
 *
 * - `memory`: node:crypto on the hashing thread (src/oci/hash-thread.ts), kept in
 *   this process between chunks (fs uploads with one process per data root). A
 *   chunk this process did not see (restart, another process) rebuilds the hash by
 *   reading the session's bytes back from the area.
 * - `persisted`: hash-wasm's sha256, whose state is saved (116 bytes) into the
 *   session record with every chunk's offset, so any process finishes the digest
 *   without reading the session back (S3, where an unfinished multipart upload
 *   cannot be read, and any shared metadata store).
 *
 * node:crypto hashes ~6× faster here (docs/scale-out.md has the figures), which is why
 * the single-process default keeps it.
 */
import type { IHasher } from 'hash-wasm';
import { BlobUploadUnknownError } from '../domain/errors.js';
import { finishDigest, newHash, type Digest, type DigestAlgorithm } from '../oci/digest.js';
import { ThreadHash } from '../oci/hash-thread.js';
import type { HashSink, UploadArea, UploadSession } from '../storage/types.js';

export type UploadHashing = 'memory' | 'persisted';

/** hash-wasm is loaded only in persisted mode (S3 or shared metadata). */
async function sha256Wasm(): Promise<IHasher> {
  const { createSHA256 } = await import('hash-wasm');
  return createSHA256();
}

/** A running sha256 at some offset of a session. */
export interface RunningHash extends HashSink {
  /** The digest of everything fed so far (the hash stays usable). */
  digest(): Digest | Promise<Digest>;
  /** The state to persist with the session (persisted mode), else undefined. */
  save(): string | undefined;
}

class ThreadRunningHash implements RunningHash {
  constructor(readonly hash: ThreadHash) {}
  update(data: Uint8Array): Promise<void> {
    return this.hash.update(data);
  }
  async digest(): Promise<Digest> {
    return `sha256:${await this.hash.digest()}` as Digest;
  }
  save(): undefined {
    return undefined;
  }
}

/** The hash of one whole body (a single-request upload); finish() once, when the body is in. */
export interface BodyHash extends HashSink {
  finish(): Promise<Digest>;
}

class WasmRunningHash implements RunningHash {
  constructor(private readonly hasher: IHasher) {}
  update(data: Uint8Array): void {
    this.hasher.update(data);
  }
  digest(): Digest {
    const state = this.hasher.save();
    const hex = this.hasher.digest('hex');
    this.hasher.load(state);
    return `sha256:${hex}` as Digest;
  }
  save(): string {
    return Buffer.from(this.hasher.save()).toString('base64');
  }
}

export class UploadHashes {
  /** memory mode: the hash at the offset this process last stored, per session. */
  private readonly known = new Map<string, { offset: number; hash: ThreadHash }>();

  constructor(
    readonly mode: UploadHashing,
    private readonly area: UploadArea,
  ) {}

  /** The hash state a new session's record starts with (persisted mode), else undefined. */
  async initialState(): Promise<string | undefined> {
    return this.mode === 'memory' ? undefined : (await this.fresh()).save();
  }

  /** A hash for one whole body: on the hashing thread in memory mode, node:crypto here otherwise. */
  forBody(algorithm: DigestAlgorithm): BodyHash {
    if (this.mode === 'memory') {
      const hash = ThreadHash.create(algorithm);
      return {
        update: (data) => hash.update(data),
        finish: async () => {
          const hex = await hash.digest();
          hash.free();
          return `${algorithm}:${hex}` as Digest;
        },
      };
    }
    const hash = newHash(algorithm);
    return { update: (data) => hash.update(data), finish: async () => finishDigest(hash, algorithm) };
  }

  /** A fresh hash (offset 0). */
  async fresh(): Promise<RunningHash> {
    if (this.mode === 'memory') return new ThreadRunningHash(ThreadHash.create('sha256'));
    const hasher = await sha256Wasm();
    hasher.init();
    return new WasmRunningHash(hasher);
  }

  /** A running hash of the session's first `offset` bytes, the caller's to feed. */
  async at(session: UploadSession): Promise<RunningHash> {
    if (this.mode === 'memory') {
      const known = this.known.get(session.id);
      if (known && known.offset === session.offset) return new ThreadRunningHash(known.hash.copy());
    } else if (session.hashState !== undefined) {
      const hasher = await sha256Wasm();
      hasher.load(Buffer.from(session.hashState, 'base64'));
      return new WasmRunningHash(hasher);
    } else if (session.offset === 0) {
      return this.fresh();
    }
    // Not known here: rebuilt from the bytes, where the area can read them back.
    if (!this.area.readable) throw new BlobUploadUnknownError(session.id);
    const hash = await this.fresh();
    for await (const data of this.area.read(session)) await hash.update(data);
    return hash;
  }

  /** The session now stands at `offset` with `hash` (memory mode keeps it). */
  remember(id: string, offset: number, hash: RunningHash): void {
    if (!(hash instanceof ThreadRunningHash)) return;
    const before = this.known.get(id)?.hash;
    if (before !== undefined && before !== hash.hash) before.free();
    this.known.set(id, { offset, hash: hash.hash });
  }

  forget(id: string): void {
    this.known.get(id)?.hash.free();
    this.known.delete(id);
  }
}
