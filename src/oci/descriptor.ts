/** OCI content descriptors: parsing from untrusted JSON and the shape unireg stores. */
import { ManifestInvalidError } from '../domain/errors.js';
import { digestOf, digestAlgorithm, parseDigest, type Digest } from './digest.js';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  [key: string]: unknown;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  data?: string;
  platform?: Platform;
  [key: string]: unknown;
}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(where: string, what: string): never {
  throw new ManifestInvalidError(`${where}: ${what}`);
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) fail(where, 'annotations must be an object');
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') fail(where, `annotation ${k} must be a string`);
  }
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string, field: string): void {
  if (value !== undefined && typeof value !== 'string') fail(where, `${field} must be a string`);
}

/**
 * The platform fields unireg reads (variant filtering, merging, listings) must
 * have their spec types; other fields are kept as they are.
 */
function parsePlatform(value: unknown, where: string): void {
  if (value === undefined) return;
  const at = `${where}.platform`;
  if (!isObject(value)) fail(at, 'platform must be an object');
  optionalString(value.architecture, at, 'architecture');
  optionalString(value.os, at, 'os');
  optionalString(value['os.version'], at, 'os.version');
  optionalString(value.variant, at, 'variant');
  const features = value['os.features'];
  if (features !== undefined && (!Array.isArray(features) || features.some((f) => typeof f !== 'string'))) {
    fail(at, 'os.features must be an array of strings');
  }
}

/** Validates one descriptor of a manifest; `where` names it in the error. */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) fail(where, 'descriptor must be an object');
  const { mediaType, digest, size, data } = value;
  if (typeof mediaType !== 'string' || mediaType === '') fail(where, 'mediaType must be a non-empty string');
  if (typeof digest !== 'string') fail(where, 'digest must be a string');
  let parsed: Digest;
  try {
    parsed = parseDigest(digest);
  } catch {
    fail(where, `digest ${digest} is not a valid supported digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    fail(where, 'size must be a non-negative integer');
  }
  if (value.artifactType !== undefined && typeof value.artifactType !== 'string') {
    fail(where, 'artifactType must be a string');
  }
  if (value.urls !== undefined && (!Array.isArray(value.urls) || value.urls.some((u) => typeof u !== 'string'))) {
    fail(where, 'urls must be an array of strings');
  }
  parseAnnotations(value.annotations, where);
  parsePlatform(value.platform, where);
  if (data !== undefined) {
    if (typeof data !== 'string') fail(where, 'data must be a base64 string');
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length !== size || digestOf(bytes, digestAlgorithm(parsed)) !== parsed) {
      fail(where, 'embedded data does not match the digest and size');
    }
  }
  return value as Descriptor;
}

export { parseAnnotations };
