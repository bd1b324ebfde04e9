/**
 * BlobStore on an S3 bucket (keys from ./keys.ts): blobs are objects named by digest,
 * read with ranged GETs, listed with ListObjectsV2 (GC, verify), their LastModified the
 * mtime GC's grace period looks at. Failures are storage domain errors (./errors.ts).
 */
import { createReadStream } from 'node:fs';
import { stat as fsStat, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BlobUnknownError } from '../../domain/errors.js';
import type { Digest } from '../../oci/digest.js';
import { storageIo } from '../io-errors.js';
import type { BlobFile, BlobFileInfo, BlobStore, ByteRange } from '../types.js';
import type { Bucket } from './client.js';
import { isS3NotFound, s3Failure, s3IfFound, s3Io } from './errors.js';
import type { S3Keys } from './keys.js';

/** How long a presigned blob URL stays valid. */
export const PRESIGN_SECONDS = 15 * 60;
/** Part size of uploads of local files (ingest), and how many parts are in flight. */
const INGEST_PART = 8 << 20;

function asReadable(body: unknown): Readable {
  if (body instanceof Readable) return body;
  throw new Error('S3 GetObject returned no stream body');
}

export class S3BlobStore implements BlobStore {
  constructor(
    private readonly bucket: Bucket,
    private readonly keys: S3Keys,
    private readonly options: { redirect: boolean } = { redirect: false },
  ) {}

  /** Fails with StorageUnavailableError when the bucket does not answer. */
  init(): Promise<void> {
    return this.bucket.check();
  }

  async size(digest: Digest): Promise<number | undefined> {
    return (await this.stat(digest))?.size;
  }

  async stat(digest: Digest): Promise<BlobFileInfo | undefined> {
    const head = await s3IfFound(() => this.bucket.client.send(new HeadObjectCommand({ Bucket: this.bucket.name, Key: this.keys.blob(digest) })));
    if (head === undefined) return undefined;
    return { digest, size: head.ContentLength ?? 0, mtimeMs: head.LastModified?.getTime() ?? 0 };
  }

  /** A ranged GET; BlobUnknownError when the object is absent. */
  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.get(digest, range ? `bytes=${range.start}-${range.end}` : undefined);
  }

  /** The response body of a (ranged) GET; BlobUnknownError when the object is absent. */
  private async body(digest: Digest, range: string | undefined): Promise<Readable> {
    try {
      const out = await s3Io(() =>
        this.bucket.client.send(new GetObjectCommand({ Bucket: this.bucket.name, Key: this.keys.blob(digest), ...(range ? { Range: range } : {}) })),
      );
      return asReadable(out.Body);
    } catch (err) {
      if (isS3NotFound(err)) throw new BlobUnknownError(digest);
      throw err;
    }
  }

  /** Like body(), with a connection lost mid-body reported as a storage failure too. */
  private async get(digest: Digest, range: string | undefined): Promise<Readable> {
    const body = await this.body(digest, range);
    const mapped = new Readable({ read: () => body.resume() });
    body.on('data', (c: Buffer) => {
      if (!mapped.push(c)) body.pause();
    });
    body.on('end', () => mapped.push(null));
    body.on('error', (err) => mapped.destroy((s3Failure(err) ?? err) as Error));
    mapped.on('close', () => body.destroy());
    return mapped;
  }

  /**
   * Positional reads over one GET that follows them: sequential reads (serving a blob)
   * continue the open response; a read elsewhere starts a new ranged GET.
   */
  async open(digest: Digest): Promise<BlobFile> {
    const info = await this.stat(digest);
    if (info === undefined) throw new BlobUnknownError(digest);
    let stream: AsyncIterator<Buffer> | undefined;
    let source: Readable | undefined;
    let at = 0;
    let left: Buffer | undefined;
    const stop = () => {
      source?.destroy();
      source = undefined;
      stream = undefined;
      left = undefined;
    };
    return {
      read: async (buffer, length, position) => {
        if (position >= info.size) return 0;
        if (stream === undefined || position !== at) {
          stop();
          source = await this.body(digest, `bytes=${position}-`);
          stream = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          at = position;
        }
        let n = 0;
        while (n < length) {
          if (left === undefined || left.length === 0) {
            const next = await s3Io(() => stream!.next());
            if (next.done) break;
            left = next.value;
          }
          const take = Math.min(left.length, length - n);
          left.copy(buffer, n, 0, take);
          left = left.subarray(take);
          n += take;
        }
        at += n;
        return n;
      },
      close: async () => stop(),
    };
  }

  /** Uploads a verified local file under its digest (kept when already there), then removes the file. */
  async ingest(file: string, digest: Digest): Promise<void> {
    if ((await this.stat(digest)) === undefined) {
      const { size } = await storageIo(() => fsStat(file));
      const upload = new Upload({
        client: this.bucket.client,
        params: { Bucket: this.bucket.name, Key: this.keys.blob(digest), Body: createReadStream(file), ContentLength: size },
        partSize: INGEST_PART,
        queueSize: 2,
      });
      await s3Io(() => upload.done());
    }
    await storageIo(() => unlink(file));
  }

  async remove(digest: Digest): Promise<void> {
    await this.bucket.delete(this.keys.blob(digest));
  }

  async *list(): AsyncIterable<BlobFileInfo> {
    for await (const o of this.bucket.objects(this.keys.blobsPrefix)) {
      const digest = o.Key === undefined ? undefined : this.keys.digestAt(o.Key);
      if (digest !== undefined) yield { digest, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 };
    }
  }

  /** A presigned GET of the blob when `storage.blobs.redirect` is on. */
  async presign(digest: Digest): Promise<string | undefined> {
    if (!this.options.redirect) return undefined;
    return s3Io(() =>
      getSignedUrl(this.bucket.client, new GetObjectCommand({ Bucket: this.bucket.name, Key: this.keys.blob(digest) }), { expiresIn: PRESIGN_SECONDS }),
    );
  }
}
