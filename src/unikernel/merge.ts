/**
 * Merging unikernel variants into the index a tag points at (format doc §7, §8.3),
 * and repairing the descriptor sizes kraft gets wrong. Pure: the lead reads the
 * existing index and the blob sizes and writes the result.
 *
 * Unlike kraft, platforms are compared as sets of features after alias
 * normalisation (platform.ts), so re-packing replaces a variant instead of piling
 * up duplicates, and duplicates already piled up in an existing index collapse.
 */
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { TagExistsError } from './errors.js';
import { UnikernelMediaType, type MergeStrategy } from './names.js';
import { platformKey, type IndexJson } from './platform.js';

export interface MergeOptions {
  /** Index annotations to set (e.g. image.ts `indexAnnotations`); on `merge` they override the existing ones. */
  annotations?: Record<string, string> | undefined;
  /** Named in TagExistsError. */
  reference?: string | undefined;
}

export interface MergeResult {
  index: IndexJson;
  /** Existing descriptors dropped because an incoming one has their platform (or digest). */
  replaced: Descriptor[];
  /** Existing descriptors dropped as duplicates of a later existing one with the same platform. */
  collapsed: Descriptor[];
  /** Incoming descriptors that took no existing slot. */
  appended: Descriptor[];
}

/** The key a descriptor is merged by: its platform identity, else (no platform) its digest. */
function mergeKey(d: Descriptor): string {
  return platformKey(d.platform) ?? `digest:${d.digest}`;
}

/** Keeps the last descriptor of each key, at the position of the first. */
function dedupe(list: readonly Descriptor[]): { kept: Descriptor[]; dropped: Descriptor[] } {
  const last = new Map<string, Descriptor>();
  for (const d of list) last.set(mergeKey(d), d);
  const kept: Descriptor[] = [];
  const dropped: Descriptor[] = [];
  const placed = new Set<string>();
  for (const d of list) {
    const key = mergeKey(d);
    const winner = last.get(key) ?? d;
    if (!placed.has(key)) {
      placed.add(key);
      kept.push(winner);
    }
    if (winner !== d) dropped.push(d);
  }
  return { kept, dropped };
}

/**
 * The index after pushing `incoming` variants to a tag holding `existing` (undefined
 * when the tag does not exist):
 * - `merge`: an existing variant with the platform of an incoming one is replaced
 *   in place; the others are kept in order; new platforms are appended;
 * - `overwrite`: the incoming variants only;
 * - `abort`: throws TagExistsError when the tag exists.
 * Among the incoming, the last of each platform wins.
 */
export function mergeIndex(
  existing: IndexJson | undefined,
  incoming: readonly Descriptor[],
  strategy: MergeStrategy,
  options: MergeOptions = {},
): MergeResult {
  if (strategy === 'abort' && existing !== undefined) throw new TagExistsError(options.reference);
  const fresh = dedupe(incoming).kept;
  const base = strategy === 'merge' && existing !== undefined ? existing : undefined;

  const { kept: old, dropped: collapsed } = dedupe(base?.manifests ?? []);
  const byKey = new Map(fresh.map((d) => [mergeKey(d), d] as const));
  const byDigest = new Map(fresh.map((d) => [d.digest as string, d] as const));
  const used = new Set<Descriptor>();
  const replaced: Descriptor[] = [];
  const manifests: Descriptor[] = [];
  for (const d of old) {
    const match = byKey.get(mergeKey(d)) ?? byDigest.get(d.digest);
    if (match === undefined) {
      manifests.push(d);
    } else {
      replaced.push(d);
      if (!used.has(match)) {
        used.add(match);
        manifests.push(match);
      }
    }
  }
  const appended = fresh.filter((d) => !used.has(d));
  manifests.push(...appended);

  const index: IndexJson = base === undefined ? { schemaVersion: 2, mediaType: UnikernelMediaType.Index, manifests } : { ...base, manifests };
  index.schemaVersion = 2;
  index.mediaType = UnikernelMediaType.Index;
  const annotations = { ...(base?.annotations ?? {}), ...(options.annotations ?? {}) };
  if (Object.keys(annotations).length > 0) index.annotations = annotations;
  else delete index.annotations;
  return { index, replaced, collapsed, appended };
}

export interface SizeRepair {
  digest: Digest;
  /** The size the index claimed. */
  from: number;
  /** The true size of the manifest. */
  to: number;
}

/**
 * Fixes descriptor sizes that disagree with the stored manifests (kraft writes
 * `"size": 32` for variants it carried over). `sizeOf` returns the true size of a
 * manifest, or undefined when unknown; unknown ones are left as they are and listed.
 */
export function repairSizes(
  index: IndexJson,
  sizeOf: (digest: Digest) => number | undefined,
): { index: IndexJson; repaired: SizeRepair[]; unknown: Digest[] } {
  const repaired: SizeRepair[] = [];
  const unknown: Digest[] = [];
  const manifests = index.manifests.map((d) => {
    const size = sizeOf(d.digest);
    if (size === undefined) {
      unknown.push(d.digest);
      return d;
    }
    if (size === d.size) return d;
    repaired.push({ digest: d.digest, from: d.size, to: size });
    return { ...d, size };
  });
  return { index: { ...index, manifests }, repaired, unknown };
}
