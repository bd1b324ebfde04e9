/**
 * `storage.blobs` → the blob store and the upload area the registry runs on: the
 * content-addressed directory and uploads/ under the data root (`fs`), or an S3 bucket
 * (`s3`: src/storage/s3/). Route handlers and registry services see only the interfaces.
 */
import type { Config } from '../config/schema.js';
import type { UploadHashing } from '../registry/upload-hash.js';
import { FsBlobStore } from './fs/fs-blob-store.js';
import { FsUploadArea } from './fs/fs-upload-area.js';
import type { Layout } from './fs/layout.js';
import type { BlobStore, UploadArea } from './types.js';

export interface BlobDriver {
  blobs: BlobStore;
  uploads: UploadArea;
  /** The upload area moving committed bytes through `blobs` (a decorated store, e.g. traced) where it uses one (fs). */
  uploadsOver(blobs: BlobStore): UploadArea;
  /**
   * How uploads must keep their running hash with this driver: S3 cannot read an unfinished
   * upload back, so its hash state is persisted with every chunk. With fs, `memory` unless the
   * metadata is shared between processes (the composition root decides that).
   */
  hashing: UploadHashing;
  /** A cheap check that the blob storage answers (readiness). */
  probe(): Promise<unknown>;
  /** For the start-up log line. */
  describe: Record<string, string>;
}

/** The s3 driver's modules (and the AWS SDK, ~35 MiB of RSS) are loaded only when it is configured. */
export async function createBlobDriver(config: Config['storage'], layout: Layout): Promise<BlobDriver> {
  const settings = config.blobs;
  if (settings.driver === 's3') {
    const [{ Bucket, createS3Client }, { S3Keys }, { S3BlobStore }, { S3UploadArea }] = await Promise.all([
      import('./s3/client.js'),
      import('./s3/keys.js'),
      import('./s3/s3-blob-store.js'),
      import('./s3/s3-upload-area.js'),
    ]);
    const s3 = settings.s3;
    const bucket = new Bucket(createS3Client(s3), s3.bucket);
    const keys = new S3Keys(s3.prefix);
    const uploads = new S3UploadArea(bucket, keys, layout.tmpDir);
    return {
      blobs: new S3BlobStore(bucket, keys, { redirect: settings.redirect }),
      uploads,
      uploadsOver: () => uploads,
      hashing: 'persisted',
      probe: () => bucket.check(),
      describe: { blobs: 's3', endpoint: s3.endpoint || `aws:${s3.region}`, bucket: s3.bucket, prefix: s3.prefix },
    };
  }
  const blobs = new FsBlobStore(layout);
  return {
    blobs,
    uploads: new FsUploadArea(layout, blobs, { directWrites: settings.directWrites }),
    uploadsOver: (decorated) => new FsUploadArea(layout, decorated, { directWrites: settings.directWrites }),
    hashing: 'memory',
    probe: () => import('node:fs/promises').then((fs) => fs.stat(layout.blobsDir)),
    describe: { blobs: 'fs', root: layout.root },
  };
}
