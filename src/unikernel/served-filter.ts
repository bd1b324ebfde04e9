/**
 * kconfig-feature filtering of a manifest GET: `?arch=&plat=&kconfig=` on an
 * index serves a new index holding only the matching variants. Its digest is
 * the digest of the bytes served (not of the stored index), as clients verify.
 *
 * The served bytes are the stored bytes with the descriptors that do not match
 * cut out of the `manifests` array: nothing is re-serialised, so every field
 * (known or not, however it nests) is served exactly as it was pushed.
 */
import { digestOf, type Digest } from '../oci/digest.js';
import { topLevelArraySpans } from '../oci/json-scan.js';
import { isObject } from '../oci/descriptor.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { ManifestUnknownError } from '../domain/errors.js';
import type { ManifestRecord } from '../storage/types.js';
import { filterIndex, type FilterName, type VariantQuery } from './filter.js';
import { isImageIndex } from './platform.js';
import { parseJson } from './tag-variants.js';

export interface FilteredManifest {
  bytes: Buffer;
  digest: Digest;
  applied: FilterName[];
}

export function hasVariantQuery(query: VariantQuery): boolean {
  return Boolean(query.arch?.trim() || query.plat?.trim() || query.kconfig?.some((k) => k.trim() !== ''));
}

/** `bytes` (valid JSON, `count` manifests) keeping only the elements of `manifests` at the `kept` positions. */
function spliceManifests(bytes: Buffer, count: number, kept: readonly number[]): Buffer {
  const spans = topLevelArraySpans(bytes, 'manifests');
  if (spans === undefined || spans.elements.length !== count) {
    throw new Error(`manifests array scan found ${spans?.elements.length ?? 'no'} elements, JSON.parse ${count}`);
  }
  const parts: Buffer[] = [bytes.subarray(0, spans.array.start + 1)];
  kept.forEach((position, i) => {
    const span = spans.elements[position]!;
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(bytes.subarray(span.start, span.end));
  });
  parts.push(bytes.subarray(spans.array.end - 1));
  return Buffer.concat(parts);
}

/** The filtered index, or undefined when `record` is not an index (then it is served unchanged). */
export function filterRecord(record: ManifestRecord, query: VariantQuery, reference: string): FilteredManifest | undefined {
  if (!isIndexMediaType(record.mediaType)) return undefined;
  const json = parseJson(record.bytes);
  if (!isObject(json)) return undefined;
  // The record's media type says it is an index; the field may name the Docker list type.
  const stored = { ...json, mediaType: undefined };
  if (!isImageIndex(stored)) return undefined;
  const { index, applied } = filterIndex(stored, query);
  if (index.manifests.length === 0) {
    throw new ManifestUnknownError(reference, {
      reason: 'no variant matches the filters',
      filters: { arch: query.arch, plat: query.plat, kconfig: query.kconfig },
    });
  }
  const kept = new Set(index.manifests);
  const positions = stored.manifests.flatMap((d, i) => (kept.has(d) ? [i] : []));
  const bytes = spliceManifests(record.bytes, stored.manifests.length, positions);
  return { bytes, digest: digestOf(bytes), applied };
}
