/**
 * What `unireg verify` can find in a data root. Each finding is a plain JSON
 * object (the `--json` output); `recordKey` (the opaque store key a repair
 * deletes by) and `modifiedAt` (an orphan's mtime, for the grace) stay out of it.
 */
import type { Digest } from '../oci/digest.js';

export type Finding =
  /** A blob file whose content does not hash to its name. */
  | { kind: 'corruptBlob'; digest: Digest; actual: Digest; size: number }
  /** A blob file no repository links: normal until a garbage collection (a notice, not a problem). */
  | { kind: 'orphanBlob'; digest: Digest; size: number; modifiedAt?: number }
  /** A file under blobs/ whose path is not a blob's (a notice: left in place). */
  | { kind: 'strayFile'; path: string }
  /** A repository links a blob whose file is missing. */
  | { kind: 'danglingLink'; repo: string; digest: Digest }
  /** The size recorded on a link differs from the blob file's size. */
  | { kind: 'sizeMismatch'; repo: string; digest: Digest; linkSize: number; fileSize: number }
  /** A manifest lists a blob or child manifest its repository does not hold (or whose file is gone). */
  | { kind: 'missingReference'; repo: string; manifest: Digest; digest: Digest }
  /** A tag points at a manifest the repository does not hold. */
  | { kind: 'danglingTag'; repo: string; tag: string; digest: Digest }
  /** A referrers entry for a manifest the repository does not hold. */
  | { kind: 'danglingReferrer'; repo: string; subject: Digest; digest: Digest; recordKey?: string }
  /** A stored manifest whose bytes do not parse or do not hash to its digest. */
  | { kind: 'invalidManifest'; repo: string; digest: Digest; reason: string }
  /** A metadata record that cannot be decoded (bad JSON, bad manifest header, malformed key). */
  | { kind: 'unreadableRecord'; record: string; what: string; reason: string; recordKey?: string }
  /** A kconfig search index record that disagrees with the tags and manifests (the index is rebuilt at the next start after a repair). */
  | { kind: 'staleIndexEntry'; record: string; reason: string; recordKey?: string }
  /** A known feature no variant lists any more (a notice: kept by writes, dropped by a repair). */
  | { kind: 'unusedFeature'; feature: string; recordKey?: string }
  /** An upload session past its expiry or without its data file, or a data file without a session. */
  | { kind: 'staleUpload'; id: string; repo?: string; reason: 'expired' | 'file missing' | 'no session' };

export type FindingKind = Finding['kind'];

/** Findings that are not problems: they do not make verify fail. */
export const NOTICES: ReadonlySet<FindingKind> = new Set(['orphanBlob', 'strayFile', 'unusedFeature']);

export function isProblem(finding: Finding): boolean {
  return !NOTICES.has(finding.kind);
}

/** The finding as printed in JSON (without the internal fields). */
export function publicFinding(finding: Finding): Record<string, unknown> {
  const out: Record<string, unknown> = { ...finding };
  delete out.recordKey;
  delete out.modifiedAt;
  return out;
}

/** A stable order: by kind, then by the finding's JSON. */
export function sortFindings(findings: Finding[]): Finding[] {
  const text = (f: Finding) => `${f.kind}\u0000${JSON.stringify(publicFinding(f))}`;
  return findings.sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}

export interface VerifyCounts {
  records: number;
  repositories: number;
  links: number;
  manifests: number;
  tags: number;
  uploads: number;
  blobs: number;
  bytes: number;
}

export interface VerifyReport {
  root: string;
  /** No problems (notices aside). */
  clean: boolean;
  counts: VerifyCounts;
  findings: Finding[];
}
