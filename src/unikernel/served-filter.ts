/**
 * kconfig-feature filtering of a manifest GET: `?arch=&plat=&kconfig=` on an
 * index serves a new index holding only the matching variants. Its digest is
 * the digest of the bytes served (not of the stored index), as clients verify.
 */
import { digestOf, type Digest } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { ManifestUnknownError } from '../storage/errors.js';
import type { ManifestRecord } from '../storage/types.js';
import { serializeIndex } from './image.js';
import { filterIndex, type FilterName, type VariantQuery } from './filter.js';
import { isImageIndex } from './platform.js';

export interface FilteredManifest {
  bytes: Buffer;
  digest: Digest;
  applied: FilterName[];
}

export function hasVariantQuery(query: VariantQuery): boolean {
  return Boolean(query.arch?.trim() || query.plat?.trim() || query.kconfig?.some((k) => k.trim() !== ''));
}

/** The filtered index, or undefined when `record` is not an index (then it is served unchanged). */
export function filterRecord(record: ManifestRecord, query: VariantQuery, reference: string): FilteredManifest | undefined {
  if (!isIndexMediaType(record.mediaType)) return undefined;
  const json: unknown = JSON.parse(record.bytes.toString('utf8'));
  if (!isImageIndex({ ...(json as object), mediaType: undefined })) return undefined;
  const { index, applied } = filterIndex(json as Parameters<typeof filterIndex>[0], query);
  if (index.manifests.length === 0) {
    throw new ManifestUnknownError(reference, {
      reason: 'no variant matches the filters',
      filters: { arch: query.arch, plat: query.plat, kconfig: query.kconfig },
    });
  }
  const bytes = serializeIndex(index);
  return { bytes, digest: digestOf(bytes), applied };
}
