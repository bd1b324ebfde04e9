/**
 * What a stored manifest points at, read tolerantly: stored manifests were
 * validated when they were pushed, so only the digests are extracted here
 * (config, layers, index children, legacy `blobs`, subject).
 */
import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { ManifestRecord } from '../storage/types.js';

export interface References {
  /** Index children: manifests of the same repository (or, rarely, blobs linked under their digest). */
  children: Digest[];
  /** Config, layers and other blob descriptors. */
  blobs: Digest[];
  subject?: Digest;
}

/** A stored manifest GC cannot read: its repository is left untouched by this run. */
export class UnreadableManifestError extends Error {
  override readonly name = 'UnreadableManifestError';
  constructor(readonly repo: string, readonly digest: Digest) {
    super(`manifest ${digest} of ${repo} is not readable JSON`);
  }
}

function digestsOf(value: unknown): Digest[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  const out: Digest[] = [];
  for (const d of list) {
    const text = typeof d === 'object' && d !== null ? (d as { digest?: unknown }).digest : undefined;
    const digest = typeof text === 'string' ? tryParseDigest(text) : undefined;
    if (digest !== undefined) out.push(digest);
  }
  return out;
}

export function referencesOf(repo: string, record: ManifestRecord): References {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(record.bytes).toString('utf8'));
  } catch {
    throw new UnreadableManifestError(repo, record.digest);
  }
  if (typeof json !== 'object' || json === null) throw new UnreadableManifestError(repo, record.digest);
  const m = json as Record<string, unknown>;
  const refs: References = {
    children: digestsOf(m.manifests),
    blobs: [...digestsOf(m.config), ...digestsOf(m.layers), ...digestsOf(m.blobs)],
  };
  const subject = digestsOf(m.subject)[0];
  if (subject !== undefined) refs.subject = subject;
  return refs;
}
