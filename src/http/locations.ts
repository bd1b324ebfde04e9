/**
 * URLs unireg hands to clients. They are relative (`/v2/...`): clients resolve
 * them against the URL they called, which stays right behind a proxy.
 */
import type { Digest } from '../oci/digest.js';

export const uploadLocation = (repo: string, id: string) => `/v2/${repo}/blobs/uploads/${id}`;
export const blobLocation = (repo: string, digest: Digest) => `/v2/${repo}/blobs/${digest}`;
export const manifestLocation = (repo: string, digest: Digest) => `/v2/${repo}/manifests/${digest}`;

/** The upload `Range` header: `0-<last byte>`, and `0-0` before any byte (as Distribution answers). */
export const uploadRange = (offset: number) => `0-${Math.max(offset - 1, 0)}`;
