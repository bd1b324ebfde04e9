/** The difference of two variants' kconfig features (`KEY=VALUE` strings). */
export interface FeatureDiff {
  onlyA: string[];
  onlyB: string[];
  /** Keys in both with different values. */
  changed: { key: string; a: string; b: string }[];
  same: number;
}

function keyed(features: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const f of features) {
    const eq = f.indexOf('=');
    map.set(eq < 0 ? f : f.slice(0, eq), eq < 0 ? '' : f.slice(eq + 1));
  }
  return map;
}

export function diffFeatures(a: readonly string[], b: readonly string[]): FeatureDiff {
  const ka = keyed(a);
  const kb = keyed(b);
  const diff: FeatureDiff = { onlyA: [], onlyB: [], changed: [], same: 0 };
  for (const [key, value] of ka) {
    const other = kb.get(key);
    if (other === undefined) diff.onlyA.push(value === '' ? key : `${key}=${value}`);
    else if (other !== value) diff.changed.push({ key, a: value, b: other });
    else diff.same++;
  }
  for (const [key, value] of kb) if (!ka.has(key)) diff.onlyB.push(value === '' ? key : `${key}=${value}`);
  diff.onlyA.sort();
  diff.onlyB.sort();
  diff.changed.sort((x, y) => (x.key < y.key ? -1 : 1));
  return diff;
}
