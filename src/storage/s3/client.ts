/**
 * The S3 client of the blob driver, from `storage.blobs.s3`, and the few bucket
 * operations the store and the upload area share (server-side copies of any size,
 * removing everything under a prefix). Every call goes through ./errors.ts.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
  type _Object,
  type MultipartUpload,
} from '@aws-sdk/client-s3';
import { s3Io } from './errors.js';

export interface S3Settings {
  endpoint: string;
  region: string;
  bucket: string;
  prefix: string;
  accessKey: string;
  secretKey: string;
  forcePathStyle: boolean;
}

/** CopyObject's limit; larger objects are copied part by part. */
const COPY_LIMIT = 5 * 1024 ** 3;
const COPY_PART = 512 * 1024 ** 2;

export function createS3Client(s: S3Settings): S3Client {
  return new S3Client({
    region: s.region,
    ...(s.endpoint !== '' ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    // Config first; else the SDK's default chain (AWS_* variables, shared files, instance roles).
    ...(s.accessKey !== '' ? { credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey } } : {}),
    // Checksums only where S3 requires them: S3-compatible servers (radosgw 16.2) refuse the
    // aws-chunked trailer checksums the SDK sends by default for streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

/** The bucket's objects and multipart uploads, for one driver instance. */
export class Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {}

  /** Fails (StorageUnavailableError) unless the bucket answers: the readiness probe and the start-up check. */
  async check(): Promise<void> {
    await s3Io(() => this.client.send(new HeadBucketCommand({ Bucket: this.name })));
  }

  private copySource(key: string): string {
    return `${this.name}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Server-side copy of `size` bytes: one CopyObject up to 5 GiB, part by part above. */
  async copy(from: string, to: string, size: number): Promise<void> {
    const source = this.copySource(from);
    if (size <= COPY_LIMIT) {
      await s3Io(() => this.client.send(new CopyObjectCommand({ Bucket: this.name, Key: to, CopySource: source })));
      return;
    }
    const { UploadId } = await s3Io(() => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: to })));
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, n = 1; start < size; start += COPY_PART, n++) {
        const end = Math.min(size, start + COPY_PART) - 1;
        const out = await s3Io(() =>
          this.client.send(
            new UploadPartCopyCommand({ Bucket: this.name, Key: to, UploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}` }),
          ),
        );
        parts.push({ ETag: out.CopyPartResult?.ETag ?? '', PartNumber: n });
      }
      await s3Io(() =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.name, Key: to, UploadId, MultipartUpload: { Parts: parts } })),
      );
    } catch (err) {
      await this.abortUpload(to, UploadId).catch(() => undefined);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await s3Io(() => this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key })));
  }

  async abortUpload(key: string, uploadId: string | undefined): Promise<void> {
    if (uploadId === undefined) return;
    await s3Io(() => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId })));
  }

  /** Every object under `prefix`, a page (≤ 1000 keys) at a time. */
  async *objects(prefix: string): AsyncGenerator<_Object> {
    let token: string | undefined;
    do {
      const page = await s3Io(() =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) })),
      );
      for (const o of page.Contents ?? []) yield o;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Every unfinished multipart upload under `prefix`. */
  async *uploads(prefix: string): AsyncGenerator<MultipartUpload> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const page = await s3Io(() =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.name,
            Prefix: prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(idMarker ? { UploadIdMarker: idMarker } : {}),
          }),
        ),
      );
      for (const u of page.Uploads ?? []) yield u;
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      idMarker = page.NextUploadIdMarker;
    }
  }

  /** Removes every object and aborts every multipart upload under `prefix`. */
  async removeAll(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.objects(prefix)) if (o.Key !== undefined) keys.push(o.Key);
    for (const key of keys) await this.delete(key);
    const open: { key: string; id: string }[] = [];
    for await (const u of this.uploads(prefix)) if (u.Key !== undefined && u.UploadId !== undefined) open.push({ key: u.Key, id: u.UploadId });
    for (const u of open) await this.abortUpload(u.key, u.id);
  }
}
