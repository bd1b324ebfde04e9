/**
 * What a committed batch changed in the repositories' contents: blob links and
 * manifests put or deleted, with their sizes. Quota accounting listens to these
 * (src/registry/quotas.ts), so every writer is counted without having to report.
 */
import type { Digest } from '../../oci/digest.js';
import type { KvOp } from '../kv.js';
import { decodeLinkSize } from './entry-codec.js';
import { keys } from './keys.js';
import { manifestLength } from './manifest-codec.js';

export interface StoreChange {
  /** A blob link, or a manifest record. */
  what: 'link' | 'manifest';
  op: 'put' | 'del';
  repo: string;
  digest: Digest;
  /** Bytes, on a put (a link's blob size, a manifest's length). */
  size: number;
}

function sizeOf(what: StoreChange['what'], value: Buffer): number {
  if (what === 'link') return decodeLinkSize(value) ?? 0;
  return manifestLength(value) ?? 0;
}

export function changesOf(ops: readonly KvOp[]): StoreChange[] {
  const out: StoreChange[] = [];
  for (const op of ops) {
    const { kind, fields } = keys.parse(op.key);
    if ((kind !== 'l' && kind !== 'm') || fields.length !== 2) continue;
    const what = kind === 'l' ? 'link' : 'manifest';
    const [repo, digest] = fields as [string, Digest];
    out.push({ what, op: op.type, repo, digest, size: op.type === 'put' ? sizeOf(what, op.value) : 0 });
  }
  return out;
}
