/**
 * The kconfig search index's records (layout: ./keys.ts `v`, `V`, `x`, `X`) and the
 * batch operations that keep them in step with tags. KvMetadataStore adds these
 * operations to the very batch that moves, writes or deletes a tag or manifest, so
 * the index never disagrees with the tags a reader can see.
 */
import type { Digest } from '../../oci/digest.js';
import type { KvOp, SortedKv } from '../kv.js';
import type { FeaturePosting, IndexedVariant, IndexedVariantRecord } from '../types.js';
import { keys } from './keys.js';

const EMPTY = Buffer.alloc(0);

interface VariantValue extends Omit<IndexedVariant, 'digest'> {
  index: Digest;
}

/** The features that can be index keys (a pushed config may hold anything), deduplicated. */
export function indexableFeatures(features: readonly string[]): string[] {
  return [...new Set(features.filter((f) => typeof f === 'string' && keys.isKeyField(f)))];
}

export function encodeVariant(index: Digest, v: IndexedVariant): Buffer {
  const value: VariantValue = { index, architecture: v.architecture, os: v.os, features: indexableFeatures(v.features), imageSize: v.imageSize };
  if (v.version !== undefined) value.version = v.version;
  if (v.kernelSize !== undefined) value.kernelSize = v.kernelSize;
  return Buffer.from(JSON.stringify(value));
}

/** A posting's value: the variant without its features, so a one-term search needs no other read. */
export function encodePosting(index: Digest, v: IndexedVariant): Buffer {
  return encodeVariant(index, { ...v, features: [] });
}

export function decodePosting(feature: string, repo: string, tag: string, digest: Digest, value: Buffer): FeaturePosting {
  const { features: _features, ...rest } = decodeVariant(repo, tag, digest, value);
  return { ...rest, feature };
}

const isString = (x: unknown): x is string => typeof x === 'string';
const isSize = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Throws on a value of the wrong shape, so a damaged record is reported, never misread. */
export function decodeVariant(repo: string, tag: string, digest: Digest, value: Buffer): IndexedVariantRecord {
  const v = JSON.parse(value.toString()) as Partial<Record<keyof VariantValue, unknown>>;
  const features = v.features;
  if (
    !isString(v.index) ||
    !isString(v.architecture) ||
    !isString(v.os) ||
    !Array.isArray(features) ||
    !features.every(isString) ||
    !isSize(v.imageSize) ||
    (v.kernelSize !== undefined && !isSize(v.kernelSize)) ||
    (v.version !== undefined && !isString(v.version))
  ) {
    throw new Error('not an indexed variant record');
  }
  const record: IndexedVariantRecord = {
    repo,
    tag,
    digest,
    index: v.index as Digest,
    architecture: v.architecture,
    os: v.os,
    features,
    imageSize: v.imageSize,
  };
  if (isString(v.version)) record.version = v.version;
  if (isSize(v.kernelSize)) record.kernelSize = v.kernelSize;
  return record;
}

/** The features of a stored variant value; [] when it cannot be read (its postings are then left to verify). */
function storedFeatures(value: Buffer): string[] {
  try {
    const parsed = JSON.parse(value.toString()) as { features?: unknown };
    return Array.isArray(parsed.features) ? parsed.features.filter(isString) : [];
  } catch {
    return [];
  }
}

/** Deletes of one indexed variant of a tag: its record, its reverse entry and its postings. */
function dropOps(repo: string, tag: string, digest: string, value: Buffer | undefined): string[] {
  const features = value === undefined ? [] : storedFeatures(value);
  return [keys.variant(repo, tag, digest), keys.variantTag(repo, digest, tag), ...features.map((f) => keys.posting(f, repo, tag, digest))];
}

/**
 * The operations that make the index say the tag holds `next` (nothing, when
 * absent): the tag's current entries not written again are deleted.
 */
export async function reindexTagOps(
  kv: SortedKv,
  repo: string,
  tag: string,
  next?: { index: Digest; variants: readonly IndexedVariant[] },
): Promise<KvOp[]> {
  const puts = new Map<string, Buffer>();
  for (const v of next?.variants ?? []) {
    puts.set(keys.variant(repo, tag, v.digest), encodeVariant(next!.index, v));
    puts.set(keys.variantTag(repo, v.digest, tag), EMPTY);
    for (const f of indexableFeatures(v.features)) {
      puts.set(keys.posting(f, repo, tag, v.digest), encodePosting(next!.index, v));
      puts.set(keys.feature(f), EMPTY);
    }
  }
  const ops: KvOp[] = [];
  for (const [key, value] of await kv.entries(keys.variantsOfTag(repo, tag))) {
    for (const k of dropOps(repo, tag, keys.digestOf(key), value)) if (!puts.has(k)) ops.push({ type: 'del', key: k });
  }
  for (const [key, value] of puts) ops.push({ type: 'put', key, value });
  return ops;
}

/** The operations that take a deleted manifest out of every tag's indexed variants. */
export async function dropManifestOps(kv: SortedKv, repo: string, digest: Digest): Promise<KvOp[]> {
  const ops: KvOp[] = [];
  for (const key of await kv.keys(keys.variantTags(repo, digest))) {
    const tag = keys.tagOf(key);
    const value = await kv.get(keys.variant(repo, tag, digest));
    ops.push(...dropOps(repo, tag, digest, value).map((k): KvOp => ({ type: 'del', key: k })));
  }
  return ops;
}
