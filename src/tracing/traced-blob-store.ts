/** A BlobStore whose calls made while serving a request are child spans of its server span (`blobs.<method>`). */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { BlobFile, BlobFileInfo, BlobStore, ByteRange } from '../storage/types.js';
import { ATTR_DIGEST } from './attributes.js';
import type { StoreSpans } from './store-spans.js';

export class TracedBlobStore implements BlobStore {
  constructor(
    private readonly inner: BlobStore,
    private readonly spans: StoreSpans,
  ) {
    const presign = inner.presign?.bind(inner);
    if (presign) this.presign = (digest) => this.spans.within('blobs.presign', { [ATTR_DIGEST]: digest }, () => presign(digest));
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  size(digest: Digest): Promise<number | undefined> {
    return this.spans.within('blobs.size', { [ATTR_DIGEST]: digest }, () => this.inner.size(digest));
  }

  /** The span covers opening the file; the bytes it streams are the server span's. */
  read(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.spans.within('blobs.read', { [ATTR_DIGEST]: digest }, () => this.inner.read(digest, range));
  }

  open(digest: Digest): Promise<BlobFile> {
    return this.spans.within('blobs.open', { [ATTR_DIGEST]: digest }, () => this.inner.open(digest));
  }

  ingest(file: string, digest: Digest): Promise<void> {
    return this.spans.within('blobs.ingest', { [ATTR_DIGEST]: digest }, () => this.inner.ingest(file, digest));
  }

  remove(digest: Digest): Promise<void> {
    return this.spans.within('blobs.remove', { [ATTR_DIGEST]: digest }, () => this.inner.remove(digest));
  }

  stat(digest: Digest): Promise<BlobFileInfo | undefined> {
    return this.spans.within('blobs.stat', { [ATTR_DIGEST]: digest }, () => this.inner.stat(digest));
  }

  presign?(digest: Digest): Promise<string | undefined>;

  list(): AsyncIterable<BlobFileInfo> {
    return this.spans.iterate('blobs.list', {}, () => this.inner.list());
  }
}
