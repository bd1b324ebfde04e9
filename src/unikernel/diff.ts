/**
 * What changed between two unikernel variants: kconfig features added, removed and
 * changed (same key, other value), and the size of the kernel, of each layer and of
 * the whole variant. Pure: the service (diff-service.ts) finds the two variants.
 */
import type { Digest } from '../oci/digest.js';

export interface DiffSide {
  /** The reference asked for (a tag or a digest). */
  reference: string;
  /** What the reference resolves to (an index, or the variant itself). */
  index: Digest;
  manifest: Digest;
  platform: { architecture: string; os: string; 'os.version'?: string };
  features: readonly string[];
  /** Layers by role (`kernel`, `initrd`, `config`, `layer[i]` for others), with digest and size. */
  parts: ReadonlyMap<string, { digest: Digest; size: number }>;
  /** Bytes of the variant: manifest, config and layers. */
  imageSize: number;
}

export interface SizeDelta {
  from: number;
  to: number;
  delta: number;
}

export interface PartDelta {
  role: string;
  from?: { digest: Digest; size: number };
  to?: { digest: Digest; size: number };
  /** Whether the content differs (another digest, or present on one side only). */
  changed: boolean;
  delta: number;
}

export interface VariantDiff {
  repository: string;
  from: Omit<DiffSide, 'features' | 'parts' | 'imageSize'>;
  to: Omit<DiffSide, 'features' | 'parts' | 'imageSize'>;
  features: {
    added: string[];
    removed: string[];
    changed: { key: string; from: string; to: string }[];
  };
  /** Bytes of the kernel layer on each side (0 when a side has none). */
  kernel: SizeDelta;
  image: SizeDelta;
  parts: PartDelta[];
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** KEY → VALUE of features `KEY=VALUE`; a feature without `=`, or a key seen twice, is kept whole. */
function split(features: readonly string[]): { values: Map<string, string>; whole: Set<string> } {
  const values = new Map<string, string>();
  const whole = new Set<string>();
  const seen = new Set<string>();
  for (const f of features) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? undefined : f.slice(0, eq);
    if (key === undefined || seen.has(key)) {
      whole.add(f);
      if (key !== undefined && values.has(key)) {
        whole.add(`${key}=${values.get(key)!}`);
        values.delete(key);
      }
      continue;
    }
    seen.add(key);
    values.set(key, f.slice(eq + 1));
  }
  return { values, whole };
}

export function diffFeatures(from: readonly string[], to: readonly string[]): VariantDiff['features'] {
  const a = split(from);
  const b = split(to);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: { key: string; from: string; to: string }[] = [];
  for (const [key, value] of a.values) {
    const other = b.values.get(key);
    if (other === undefined) {
      if (!b.whole.has(`${key}=${value}`)) removed.push(`${key}=${value}`);
    } else if (other !== value) changed.push({ key, from: value, to: other });
  }
  for (const [key, value] of b.values) {
    if (!a.values.has(key) && !a.whole.has(`${key}=${value}`)) added.push(`${key}=${value}`);
  }
  for (const f of a.whole) if (!b.whole.has(f) && !to.includes(f)) removed.push(f);
  for (const f of b.whole) if (!a.whole.has(f) && !from.includes(f)) added.push(f);
  return { added: added.sort(byteOrder), removed: removed.sort(byteOrder), changed: changed.sort((x, y) => byteOrder(x.key, y.key)) };
}

const delta = (from: number, to: number): SizeDelta => ({ from, to, delta: to - from });

/** Roles in a stable order: kernel, initrd, config, then the rest by name. */
function roleOrder(a: string, b: string): number {
  const rank = (r: string) => ['kernel', 'initrd', 'config'].indexOf(r);
  const [x, y] = [rank(a), rank(b)];
  if (x >= 0 || y >= 0) return (x < 0 ? 99 : x) - (y < 0 ? 99 : y);
  return byteOrder(a, b);
}

export function diffVariants(repository: string, from: DiffSide, to: DiffSide): VariantDiff {
  const head = (s: DiffSide) => ({ reference: s.reference, index: s.index, manifest: s.manifest, platform: s.platform });
  const roles = [...new Set([...from.parts.keys(), ...to.parts.keys()])].sort(roleOrder);
  const parts = roles.map((role): PartDelta => {
    const a = from.parts.get(role);
    const b = to.parts.get(role);
    const part: PartDelta = { role, changed: a?.digest !== b?.digest, delta: (b?.size ?? 0) - (a?.size ?? 0) };
    if (a !== undefined) part.from = a;
    if (b !== undefined) part.to = b;
    return part;
  });
  return {
    repository,
    from: head(from),
    to: head(to),
    features: diffFeatures(from.features, to.features),
    kernel: delta(from.parts.get('kernel')?.size ?? 0, to.parts.get('kernel')?.size ?? 0),
    image: delta(from.imageSize, to.imageSize),
    parts,
  };
}
