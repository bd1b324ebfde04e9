/** Blob semantics per repository: a blob is visible only where it is linked. */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { parseRepoName } from '../oci/names.js';
import { BlobUnknownError, RangeNotSatisfiableError, UnsupportedError } from '../domain/errors.js';
import type { BlobFile, ByteRange } from '../storage/types.js';
import type { RegistryDeps } from './deps.js';
import { blobKey } from './locks.js';
import { blobMountEvents } from '../webhooks/registry-events.js';

export interface BlobOpen {
  size: number;
  /** The part to serve: the whole blob unless a satisfiable range was asked for. */
  range?: ByteRange;
  file: BlobFile;
}

export interface BlobRead {
  size: number;
  /** The part served: the whole blob unless a satisfiable range was asked for. */
  range?: ByteRange;
  stream: Readable;
}

export class BlobService {
  constructor(private readonly deps: RegistryDeps) {}

  /** The blob's size; throws BlobUnknownError unless the repository links it. */
  async stat(repo: string, digest: Digest): Promise<number> {
    const size = await this.deps.meta.getBlobLink(repo, digest);
    if (size === undefined) throw new BlobUnknownError(digest);
    return size;
  }

  async read(repo: string, digest: Digest, range?: ByteRange | 'unsatisfiable'): Promise<BlobRead> {
    const size = await this.stat(repo, digest);
    const part = this.part(size, range);
    return { size, range: part, stream: await this.deps.blobs.read(digest, part) };
  }

  /** Like read(), for serving with positional reads (src/http/send-blob.ts). */
  async open(repo: string, digest: Digest, range?: ByteRange | 'unsatisfiable'): Promise<BlobOpen> {
    const size = await this.stat(repo, digest);
    const part = this.part(size, range);
    return { size, range: part, file: await this.deps.blobs.open(digest) };
  }

  /**
   * Where the client may fetch the blob's bytes directly (a presigned object-store URL with
   * `storage.blobs.redirect`), or undefined; BlobUnknownError unless the repository links it.
   */
  async redirect(repo: string, digest: Digest): Promise<string | undefined> {
    if (this.deps.blobs.presign === undefined) return undefined;
    await this.stat(repo, digest);
    return this.deps.blobs.presign(digest);
  }

  private part(size: number, range?: ByteRange | 'unsatisfiable'): ByteRange | undefined {
    if (range === 'unsatisfiable') throw new RangeNotSatisfiableError(size);
    const part = range && range.start < size ? { start: range.start, end: Math.min(range.end, size - 1) } : undefined;
    if (range && !part) throw new RangeNotSatisfiableError(size);
    return part;
  }

  async delete(repo: string, digest: Digest): Promise<void> {
    if (!this.deps.config.deletes.enabled) throw new UnsupportedError('deletes are disabled on this registry');
    const unlinked = await this.deps.locks.runAll([repo, blobKey(digest)], () => this.deps.meta.unlinkBlob(repo, digest));
    if (!unlinked) throw new BlobUnknownError(digest);
  }

  /**
   * Links a blob held elsewhere into `repo`. With `from`, only a blob that
   * repository links; without it, any stored blob when automatic content
   * discovery is enabled. Only from repositories `readable` accepts (the
   * caller's pull rights). False when nothing could be mounted.
   */
  async mount(repo: string, digest: Digest, from?: string, readable: (repo: string) => boolean = () => true): Promise<boolean> {
    let source: string | undefined;
    if (from !== undefined) {
      try {
        source = parseRepoName(from);
      } catch {
        return false;
      }
      if (!readable(source)) return false;
    } else if (this.deps.config.uploads.mountWithoutFrom) {
      source = await this.deps.meta.findBlobRepository(digest, readable);
    }
    if (source === undefined) return false;
    const origin = source;
    // Under the blob's lock, so that GC cannot remove the file between the check and the link;
    // the quota check of the namespace is innermost.
    return this.deps.locks.run(blobKey(digest), async () => {
      const size = await this.deps.meta.getBlobLink(origin, digest);
      if (size === undefined || (await this.deps.blobs.size(digest)) !== size) return false;
      const events = blobMountEvents(this.deps.webhooks, repo, digest, size, origin);
      await this.deps.quotas.admit(repo, [{ digest, size }], () => this.deps.meta.linkBlob(repo, digest, size, events));
      return true;
    });
  }
}
