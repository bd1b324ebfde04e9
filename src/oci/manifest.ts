/**
 * Manifest parsing and validation: what a PUT body must be before it is stored.
 * Pure code: it never looks at storage. The caller checks that the blobs and
 * child manifests it lists exist in the repository.
 */
import { ManifestInvalidError } from '../domain/errors.js';
import type { Digest } from './digest.js';
import { isObject, parseAnnotations, parseDescriptor, type Descriptor } from './descriptor.js';
import { jsonDepth, MAX_JSON_DEPTH } from './json-scan.js';
import { MediaType, isIndexMediaType, isManifestMediaType, type ManifestMediaType } from './media-types.js';

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  /** Config and layers: blobs the repository must hold (unless embedded or foreign). */
  blobs: Descriptor[];
  /** Index children: manifests the repository must hold. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** The artifact type the referrers API reports: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The parsed JSON, for features that look inside (unikernel merging). */
  json: Record<string, unknown>;
}

/** Content types clients send when they do not name a manifest type. */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'application/octet-stream']);

function baseContentType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function resolveMediaType(json: Record<string, unknown>, contentType: string | undefined): ManifestMediaType {
  const header = baseContentType(contentType);
  const field = json.mediaType;
  if (field !== undefined && typeof field !== 'string') throw new ManifestInvalidError('mediaType must be a string');
  if (!GENERIC_CONTENT_TYPES.has(header)) {
    if (!isManifestMediaType(header)) throw new ManifestInvalidError(`unsupported manifest media type ${header}`);
    if (field !== undefined && field !== header) {
      throw new ManifestInvalidError(`mediaType ${field} does not match Content-Type ${header}`);
    }
    return header;
  }
  if (field !== undefined) {
    if (!isManifestMediaType(field)) throw new ManifestInvalidError(`unsupported manifest media type ${field}`);
    return field;
  }
  if (Array.isArray(json.manifests)) return MediaType.OciIndex;
  if (isObject(json.config)) return MediaType.OciManifest;
  throw new ManifestInvalidError('cannot tell the manifest media type: set Content-Type or mediaType');
}

/**
 * Refuses JSON nested deeper than MAX_JSON_DEPTH, from the bytes (no recursion),
 * before anything parses or re-serialises it.
 */
export function checkJsonDepth(bytes: Uint8Array): void {
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new ManifestInvalidError(`JSON nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
  }
}

export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  checkJsonDepth(bytes);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ManifestInvalidError('body is not valid JSON');
  }
  if (!isObject(json)) throw new ManifestInvalidError('manifest must be a JSON object');
  const mediaType = resolveMediaType(json, contentType);
  if (json.schemaVersion !== 2) throw new ManifestInvalidError('schemaVersion must be 2');
  if (json.artifactType !== undefined && typeof json.artifactType !== 'string') {
    throw new ManifestInvalidError('artifactType must be a string');
  }
  const annotations = parseAnnotations(json.annotations, 'manifest');
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  const artifactType = typeof json.artifactType === 'string' ? json.artifactType : undefined;

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw new ManifestInvalidError('an index needs a manifests array');
    const manifests = json.manifests.map((d, i) => parseDescriptor(d, `manifests[${i}]`));
    return { mediaType, blobs: [], manifests, subject, artifactType, annotations, json };
  }
  if (json.config === undefined) throw new ManifestInvalidError('an image manifest needs a config descriptor');
  const config = parseDescriptor(json.config, 'config');
  const rawLayers = json.layers ?? [];
  if (!Array.isArray(rawLayers)) throw new ManifestInvalidError('layers must be an array');
  const layers = rawLayers.map((d, i) => parseDescriptor(d, `layers[${i}]`));
  return {
    mediaType,
    blobs: [config, ...layers],
    manifests: [],
    subject,
    artifactType: artifactType ?? config.mediaType,
    annotations,
    json,
  };
}

/** The descriptor of a stored manifest as the referrers API lists it. */
export function referrerDescriptor(parsed: ParsedManifest, digest: Digest, size: number): Descriptor {
  const d: Descriptor = { mediaType: parsed.mediaType, digest, size };
  if (parsed.artifactType !== undefined) d.artifactType = parsed.artifactType;
  if (parsed.annotations !== undefined) d.annotations = parsed.annotations;
  return d;
}
