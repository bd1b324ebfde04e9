/**
 * Platform identity and recognising unikernel content. Two variants are "the same
 * platform" when architecture, os and os.version are equal and they carry the same
 * SET of os.features: kraft itself compares an order-sensitive checksum computed
 * before the features are added (format doc §7), which is why its indexes pile up
 * duplicates; unireg compares sets, after alias normalisation of arch and os.
 * The detectors work on parsed JSON, so the lead can call them on anything pushed.
 */
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { isObject } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import { sortFeatures } from './kconfig.js';
import { Annotation, tryNormalizeArch, tryNormalizePlat } from './names.js';

/** An OCI image index as unireg handles it. */
export interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** An OCI image manifest as unireg handles it. */
export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** The fields that make two variants the same, canonicalised. */
export interface PlatformIdentity {
  architecture: string;
  os: string;
  osVersion: string;
  /** Sorted byte-wise, deduplicated. */
  features: string[];
}

/** The strings of an `os.features` value (anything else dropped). */
export function featureList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((f): f is string => typeof f === 'string') : [];
}

/** The identity of a platform, or undefined when it lacks architecture or os. */
export function platformIdentity(platform: Platform | undefined): PlatformIdentity | undefined {
  if (!isObject(platform)) return undefined;
  const { architecture, os } = platform;
  if (typeof architecture !== 'string' || typeof os !== 'string' || architecture === '' || os === '') return undefined;
  const version = platform['os.version'];
  return {
    architecture: tryNormalizeArch(architecture) ?? architecture,
    os: tryNormalizePlat(os) ?? os,
    osVersion: typeof version === 'string' ? version : '',
    features: sortFeatures(featureList(platform['os.features'])),
  };
}

/** A string equal for two platforms exactly when they are the same platform; undefined without one. */
export function platformKey(platform: Platform | undefined): string | undefined {
  const id = platformIdentity(platform);
  return id === undefined ? undefined : JSON.stringify([id.architecture, id.os, id.osVersion, id.features]);
}

/** Whether two platforms identify the same variant (a missing platform matches nothing). */
export function samePlatform(a: Platform | undefined, b: Platform | undefined): boolean {
  const ka = platformKey(a);
  return ka !== undefined && ka === platformKey(b);
}

function isDescriptorLike(value: unknown): value is Descriptor {
  return isObject(value) && typeof value.mediaType === 'string' && typeof value.digest === 'string' && typeof value.size === 'number';
}

function annotationsOf(value: unknown): Record<string, unknown> {
  return isObject(value) && isObject(value.annotations) ? value.annotations : {};
}

/** An OCI image manifest (by mediaType, or by shape when the field is absent). */
export function isImageManifest(json: unknown): json is ManifestJson {
  if (!isObject(json) || json.schemaVersion !== 2) return false;
  if (json.mediaType !== undefined && json.mediaType !== MediaType.OciManifest) return false;
  return isDescriptorLike(json.config) && Array.isArray(json.layers) && json.layers.every(isDescriptorLike);
}

/** An OCI image index (by mediaType, or by shape when the field is absent). */
export function isImageIndex(json: unknown): json is IndexJson {
  if (!isObject(json) || json.schemaVersion !== 2) return false;
  if (json.mediaType !== undefined && json.mediaType !== MediaType.OciIndex) return false;
  return Array.isArray(json.manifests) && json.manifests.every(isDescriptorLike);
}

/** An image manifest with a layer annotated `org.unikraft.kernel.image`: a unikernel variant. */
export function isUnikernelManifest(json: unknown): json is ManifestJson {
  return isImageManifest(json) && json.layers.some((layer) => typeof annotationsOf(layer)[Annotation.KernelImage] === 'string');
}

function hasUnikraftAnnotation(value: unknown): boolean {
  return Object.keys(annotationsOf(value)).some((k) => k === Annotation.KraftKitVersion || k.startsWith('org.unikraft.'));
}

/**
 * An image index made by kraft or by unireg's packing: the index itself or one of
 * its manifest descriptors carries `sh.kraftkit.version` or an `org.unikraft.*`
 * annotation. (Judged from the index alone, without fetching the children.)
 */
export function isUnikernelIndex(json: unknown): json is IndexJson {
  return isImageIndex(json) && (hasUnikraftAnnotation(json) || json.manifests.some(hasUnikraftAnnotation));
}
