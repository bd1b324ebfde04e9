/**
 * The object layout in the bucket: the only module that builds S3 keys.
 *
 *   <prefix>/blobs/<algorithm>/<first two hex>/<hex>   blob content, immutable, named by digest
 *   <prefix>/_uploads/<id>/data                        an upload's multipart upload (then the completed object)
 *   <prefix>/_uploads/<id>/tail-<offset>               bytes of an upload that do not fill a part yet
 *
 * Every component comes from a parsed Digest or a generated id, never raw input.
 */
import { digestAlgorithm, digestHex, tryParseDigest, type Digest } from '../../oci/digest.js';

export class S3Keys {
  private readonly base: string;

  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.base = trimmed === '' ? '' : `${trimmed}/`;
  }

  get blobsPrefix(): string {
    return `${this.base}blobs/`;
  }

  get uploadsPrefix(): string {
    return `${this.base}_uploads/`;
  }

  blob(digest: Digest): string {
    const hex = digestHex(digest);
    return `${this.blobsPrefix}${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
  }

  /** The digest stored at `key`, or undefined when the key is not one blob() builds. */
  digestAt(key: string): Digest | undefined {
    if (!key.startsWith(this.blobsPrefix)) return undefined;
    const parts = key.slice(this.blobsPrefix.length).split('/');
    if (parts.length !== 3) return undefined;
    const [algorithm, prefix, hex] = parts as [string, string, string];
    const digest = tryParseDigest(`${algorithm}:${hex}`);
    return digest !== undefined && hex.slice(0, 2) === prefix ? digest : undefined;
  }

  uploadDir(id: string): string {
    return `${this.uploadsPrefix}${id}/`;
  }

  uploadData(id: string): string {
    return `${this.uploadDir(id)}data`;
  }

  uploadTail(id: string, offset: number): string {
    return `${this.uploadDir(id)}tail-${offset}`;
  }

  /** The upload id a key under _uploads/ belongs to. */
  uploadIdAt(key: string): string | undefined {
    if (!key.startsWith(this.uploadsPrefix)) return undefined;
    const id = key.slice(this.uploadsPrefix.length).split('/')[0];
    return id === undefined || id === '' ? undefined : id;
  }
}
