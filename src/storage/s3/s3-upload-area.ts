/**
 * The upload area on S3 (keys from ./keys.ts). A session is a multipart upload of
 * `_uploads/<id>/data`; bytes that do not fill a part (S3 wants 5 MiB except for the
 * last) wait in a tail object `_uploads/<id>/tail-<offset>` and go first into the next
 * part. The area's state (UploadId, each part's ETag and size) is returned with every
 * chunk and persisted in the session record with the offset, so any process continues
 * the session. Memory per upload is one part (PART_SIZE) plus the chunk buffers in
 * flight, whatever the chunk sizes; a tiny chunk costs a tail GET and PUT.
 *
 * A cut or failed chunk changes nothing the session state names: parts it uploaded are
 * overwritten by the next chunk (same part numbers) or dropped at commit, and the tail
 * it wrote is a new key. Commit completes the multipart upload (or writes the tail
 * alone when the blob is smaller than a part), copies it to the content address and
 * removes the session's objects.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BlobUploadUnknownError } from '../../domain/errors.js';
import type { Digest } from '../../oci/digest.js';
import type { AppendResult, ByteCheck, HashSink, StagedBlob, UploadArea, UploadSession } from '../types.js';
import { prepareScratch } from '../fs/scratch.js';
import type { Bucket } from './client.js';
import { isNoSuchUpload, isS3NotFound, s3IfFound, s3Io } from './errors.js';
import type { S3Keys } from './keys.js';

/** Size of every part but the last (S3's minimum is 5 MiB): the memory one upload holds. */
export const PART_SIZE = 8 << 20;
/** Objects under _uploads/ that no session owns are removed after this long (staged bodies in flight are younger). */
const ORPHAN_OBJECT_MS = 60 * 60_000;
/** Multipart uploads no session owns are aborted after this long (a single-request upload may take hours). */
const ORPHAN_UPLOAD_MS = 24 * 60 * 60_000;

/** The persisted area state: the multipart upload and its parts [ETag, size], in order. */
interface AreaState {
  u?: string;
  p: [string, number][];
}

function parseState(text: string | undefined): AreaState {
  if (text === undefined || text === '') return { p: [] };
  const s = JSON.parse(text) as AreaState;
  return { ...(s.u !== undefined ? { u: s.u } : {}), p: Array.isArray(s.p) ? s.p : [] };
}

async function bodyBytes(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * One part's worth of bytes, filled in place: the only large buffer an upload holds.
 * `add` calls `full` with the filled part (and waits for it) before it reuses the buffer.
 */
class PartBuffer {
  private buffer: Buffer | undefined;
  length = 0;

  async add(data: Buffer, full: (part: Buffer) => Promise<void>): Promise<void> {
    let at = 0;
    while (at < data.length) {
      this.buffer ??= Buffer.allocUnsafe(PART_SIZE);
      const n = Math.min(data.length - at, PART_SIZE - this.length);
      data.copy(this.buffer, this.length, at, at + n);
      this.length += n;
      at += n;
      if (this.length === PART_SIZE) {
        await full(this.buffer);
        this.length = 0;
      }
    }
  }

  /** The bytes not yet in a part (a view: valid until the next add). */
  rest(): Buffer {
    return this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.length);
  }
}

export class S3UploadArea implements UploadArea {
  readonly readable = false;

  constructor(
    private readonly bucket: Bucket,
    private readonly keys: S3Keys,
    /** The local scratch directory (tmp/ under the data root: kernel parts of pack requests). */
    private readonly scratchDir: string,
  ) {}

  async init(now = Date.now()): Promise<void> {
    await this.bucket.check();
    await prepareScratch(this.scratchDir, now);
  }

  /** Nothing is written until bytes arrive. */
  async create(): Promise<string> {
    return JSON.stringify({ p: [] } satisfies AreaState);
  }

  async append(
    session: UploadSession,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    hash: HashSink,
    check?: ByteCheck,
  ): Promise<AppendResult> {
    const state = parseState(session.areaState);
    const parts: [string, number][] = [...state.p];
    let uploadId = state.u;
    const createdHere = uploadId === undefined;
    const tailLength = session.offset - parts.reduce((n, [, size]) => n + size, 0);
    if (tailLength < 0) throw new BlobUploadUnknownError(session.id);
    const data = this.keys.uploadData(session.id);
    const pending = new PartBuffer();
    const full = async (part: Buffer) => {
      uploadId ??= await this.startMultipart(data);
      parts.push(await this.uploadPart(data, uploadId, parts.length + 1, part));
    };
    let written = 0;
    try {
      if (tailLength > 0) await pending.add(await this.tail(session.id, session.offset, tailLength), full);
      for await (const chunk of body) {
        await hash.update(chunk);
        written += chunk.length;
        await pending.add(chunk, full);
      }
      await check?.(written);
      const end = session.offset + written;
      const tail = pending.rest();
      if (written > 0 && tail.length > 0) {
        await s3Io(() =>
          this.bucket.client.send(new PutObjectCommand({ Bucket: this.bucket.name, Key: this.keys.uploadTail(session.id, end), Body: tail, ContentLength: tail.length })),
        );
      }
      const next: AreaState = { ...(uploadId !== undefined ? { u: uploadId } : {}), p: parts };
      const oldTail = tailLength > 0 && written > 0 ? this.keys.uploadTail(session.id, session.offset) : undefined;
      return { written, areaState: JSON.stringify(next), ...(oldTail ? { settled: () => this.bucket.delete(oldTail) } : {}) };
    } catch (err) {
      // A multipart upload this chunk began is not in the session's state: nobody would finish it.
      if (createdHere && uploadId !== undefined) await this.bucket.abortUpload(data, uploadId).catch(() => undefined);
      throw err;
    }
  }

  async *read(): AsyncIterable<Buffer> {
    throw new Error('an S3 upload session cannot be read back (its hash state is persisted instead)');
  }

  async commit(session: UploadSession, digest: Digest): Promise<void> {
    const target = this.keys.blob(digest);
    if ((await this.exists(target)) === undefined) {
      const state = parseState(session.areaState);
      const inParts = state.p.reduce((n, [, size]) => n + size, 0);
      const tailLength = session.offset - inParts;
      if (tailLength < 0) throw new BlobUploadUnknownError(session.id);
      if (state.u === undefined) {
        // Smaller than a part: the tail (or nothing) is the blob.
        if (tailLength > 0) {
          await this.bucket.copy(this.keys.uploadTail(session.id, session.offset), target, tailLength).catch((err: unknown) => {
            throw isS3NotFound(err) ? new BlobUploadUnknownError(session.id) : err;
          });
        } else {
          await this.put(target, Buffer.alloc(0));
        }
      } else {
        const data = this.keys.uploadData(session.id);
        await this.complete(session, data, state, tailLength);
        await this.bucket.copy(data, target, session.offset);
      }
    }
    await this.abort(session.id).catch(() => undefined);
  }

  /** Completes the multipart upload with the tail as its last part; done already (a commit retried) is fine. */
  private async complete(session: UploadSession, data: string, state: AreaState, tailLength: number): Promise<void> {
    const uploadId = state.u!;
    const parts = [...state.p];
    try {
      if (tailLength > 0) {
        const tail = await this.tail(session.id, session.offset, tailLength);
        parts.push(await this.uploadPart(data, uploadId, parts.length + 1, tail));
      }
      await s3Io(() =>
        this.bucket.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket.name,
            Key: data,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map(([etag], i) => ({ ETag: etag, PartNumber: i + 1 })) },
          }),
        ),
      );
    } catch (err) {
      if (isNoSuchUpload(err) && (await this.exists(data)) === session.offset) return;
      if (isNoSuchUpload(err)) throw new BlobUploadUnknownError(session.id);
      throw err;
    }
  }

  async abort(id: string): Promise<void> {
    await this.bucket.removeAll(this.keys.uploadDir(id));
  }

  async sweep(live: (id: string) => boolean, now: number, minAgeMs: number): Promise<void> {
    const stale = new Set<string>();
    for await (const o of this.bucket.objects(this.keys.uploadsPrefix)) {
      const id = o.Key === undefined ? undefined : this.keys.uploadIdAt(o.Key);
      const age = now - (o.LastModified?.getTime() ?? now);
      if (id !== undefined && !live(id) && age > Math.max(minAgeMs, ORPHAN_OBJECT_MS)) stale.add(o.Key!);
    }
    for (const key of stale) await this.bucket.delete(key);
    const open: { key: string; id: string }[] = [];
    for await (const u of this.bucket.uploads(this.keys.uploadsPrefix)) {
      const id = u.Key === undefined ? undefined : this.keys.uploadIdAt(u.Key);
      const age = now - (u.Initiated?.getTime() ?? now);
      if (id !== undefined && !live(id) && u.UploadId !== undefined && age > Math.max(minAgeMs, ORPHAN_UPLOAD_MS)) open.push({ key: u.Key!, id: u.UploadId });
    }
    for (const u of open) await this.bucket.abortUpload(u.key, u.id);
    await prepareScratch(this.scratchDir, now);
  }

  /**
   * A body smaller than a part stays in memory until its digest is checked and goes straight
   * to its content address; a larger one is a multipart upload under _uploads/ that commit copies.
   */
  async stage(body: AsyncIterable<Buffer> | Iterable<Buffer>, hash: HashSink, check?: ByteCheck): Promise<StagedBlob> {
    const data = this.keys.uploadData(randomUUID());
    const pending = new PartBuffer();
    const parts: [string, number][] = [];
    let uploadId: string | undefined;
    let size = 0;
    let stored = false;
    const discard = async () => {
      await this.bucket.abortUpload(data, uploadId).catch(() => undefined);
      if (stored) await this.bucket.delete(data).catch(() => undefined);
    };
    const full = async (part: Buffer) => {
      uploadId ??= await this.startMultipart(data);
      parts.push(await this.uploadPart(data, uploadId, parts.length + 1, part));
    };
    try {
      for await (const chunk of body) {
        await hash.update(chunk);
        size += chunk.length;
        await pending.add(chunk, full);
      }
      await check?.(size);
      if (uploadId === undefined) {
        const bytes = Buffer.from(pending.rest());
        return {
          size,
          commit: async (digest) => {
            const target = this.keys.blob(digest);
            if ((await this.exists(target)) === undefined) await this.put(target, bytes);
          },
          discard: async () => undefined,
        };
      }
      const last = pending.rest();
      if (last.length > 0) parts.push(await this.uploadPart(data, uploadId, parts.length + 1, last));
      const id = uploadId;
      await s3Io(() =>
        this.bucket.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket.name,
            Key: data,
            UploadId: id,
            MultipartUpload: { Parts: parts.map(([etag], i) => ({ ETag: etag, PartNumber: i + 1 })) },
          }),
        ),
      );
      uploadId = undefined;
      stored = true;
      return {
        size,
        commit: async (digest) => {
          const target = this.keys.blob(digest);
          if ((await this.exists(target)) === undefined) await this.bucket.copy(data, target, size);
        },
        discard,
      };
    } catch (err) {
      await discard();
      throw err;
    }
  }

  private async startMultipart(key: string): Promise<string> {
    const out = await s3Io(() => this.bucket.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket.name, Key: key })));
    if (out.UploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
    return out.UploadId;
  }

  private async uploadPart(key: string, uploadId: string, n: number, bytes: Buffer): Promise<[string, number]> {
    const out = await s3Io(() =>
      this.bucket.client.send(
        new UploadPartCommand({ Bucket: this.bucket.name, Key: key, UploadId: uploadId, PartNumber: n, Body: bytes, ContentLength: bytes.length }),
      ),
    );
    return [out.ETag ?? '', bytes.length];
  }

  private async put(key: string, bytes: Buffer): Promise<void> {
    await s3Io(() => this.bucket.client.send(new PutObjectCommand({ Bucket: this.bucket.name, Key: key, Body: bytes, ContentLength: bytes.length })));
  }

  /** The size of an object, or undefined when it is absent. */
  private async exists(key: string): Promise<number | undefined> {
    const head = await s3IfFound(() => this.bucket.client.send(new HeadObjectCommand({ Bucket: this.bucket.name, Key: key })));
    return head === undefined ? undefined : (head.ContentLength ?? 0);
  }

  /** The tail bytes of a session at `offset`; BlobUploadUnknownError when they are gone or short. */
  private async tail(id: string, offset: number, length: number): Promise<Buffer> {
    try {
      const out = await s3Io(() => this.bucket.client.send(new GetObjectCommand({ Bucket: this.bucket.name, Key: this.keys.uploadTail(id, offset) })));
      const bytes = await bodyBytes(out.Body);
      if (bytes.length !== length) throw new BlobUploadUnknownError(id);
      return bytes;
    } catch (err) {
      if (isS3NotFound(err)) throw new BlobUploadUnknownError(id);
      throw err;
    }
  }
}
