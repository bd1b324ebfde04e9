/**
 * Attaching a document to a variant manifest as an OCI referrer (image-spec
 * v1.1 "artifact" guidance): an image manifest with its own `artifactType`,
 * the empty config, one layer holding the document, and `subject` naming the
 * variant. It is stored like any pushed manifest (by digest, through
 * ManifestService.put), so the referrers API lists it, GC keeps it while its
 * subject lives, and any client can copy it.
 */
import { digestOf, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import type { Registry } from '../registry/registry.js';

/** The empty JSON object, the config of an artifact manifest. */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_CONFIG: Descriptor = { mediaType: MediaType.OciEmpty, digest: digestOf(EMPTY_JSON), size: EMPTY_JSON.length };

export interface Artifact {
  artifactType: string;
  /** The layer's media type (default: artifactType). */
  blobMediaType?: string;
  blob: Buffer;
  /** Annotations of the artifact manifest (also listed on its referrer descriptor). */
  annotations: Record<string, string>;
}

/** The exact bytes of the artifact manifest (field order fixed; annotations sorted by key). */
export function artifactManifest(subject: Descriptor, artifact: Artifact, blobDigest: Digest): Buffer {
  const annotations: Record<string, string> = {};
  for (const key of Object.keys(artifact.annotations).sort()) annotations[key] = artifact.annotations[key]!;
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: artifact.artifactType,
      config: EMPTY_CONFIG,
      layers: [{ mediaType: artifact.blobMediaType ?? artifact.artifactType, digest: blobDigest, size: artifact.blob.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
}

/** Stores the document and the empty config, then the artifact manifest by digest; its digest. */
export async function attachArtifact(registry: Registry, repo: string, subject: Descriptor, artifact: Artifact): Promise<Digest> {
  await registry.uploads.store(repo, [EMPTY_JSON]);
  const blob = await registry.uploads.store(repo, [artifact.blob]);
  const bytes = artifactManifest(subject, artifact, blob.digest);
  const digest = digestOf(bytes);
  await registry.manifests.put(repo, digest, bytes, MediaType.OciManifest);
  return digest;
}
