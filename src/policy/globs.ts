/**
 * Repository globs and "the most specific glob wins": the one matching rule
 * used by the access rules (src/auth/policy.ts), quotas and the other per-glob
 * settings, so every setting keyed by a repository glob reads the same way.
 *
 * Glob syntax: `*` matches within one path component, `**` across any number
 * of them; everything else is literal.
 *
 * Of the entries whose glob matches a name, the most specific decides:
 *   1. a name without wildcards beats any glob;
 *   2. then the glob with more literal characters (`team/app-*` beats `team/*`);
 *   3. then the one with fewer `**` (`team/*` beats `team/**`);
 *   4. then the one written first.
 */

/** What a repository glob may contain: a repository name's characters, `*` and `**`. */
export const REPOSITORY_GLOB = /^[a-z0-9._\-/*]{1,255}$/;

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\-]/g, '\\$&');
}

/** `*` matches within one path component, `**` across any number of them. */
export function globToRegExp(glob: string): RegExp {
  const source = glob
    .split('**')
    .map((part) => part.split('*').map(escape).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

interface Compiled<T> {
  entry: T;
  glob: string;
  pattern: RegExp;
  exact: boolean;
  literals: number;
  deep: number;
  order: number;
}

function compile<T>(entry: T, glob: string, order: number): Compiled<T> {
  return {
    entry,
    glob,
    pattern: globToRegExp(glob),
    exact: !glob.includes('*'),
    literals: glob.replace(/\*/g, '').length,
    deep: (glob.match(/\*\*/g) ?? []).length,
    order,
  };
}

/** Negative when `a` is more specific than `b`. */
function bySpecificity<T>(a: Compiled<T>, b: Compiled<T>): number {
  if (a.exact !== b.exact) return a.exact ? -1 : 1;
  if (a.literals !== b.literals) return b.literals - a.literals;
  if (a.deep !== b.deep) return a.deep - b.deep;
  return a.order - b.order;
}

/** Entries keyed by a repository glob; `match` gives the most specific entry for a name. */
export class GlobSelector<T> {
  private readonly compiled: Compiled<T>[];
  /** Every entry, most specific first. */
  readonly entries: readonly T[];

  constructor(entries: readonly T[], globOf: (entry: T) => string) {
    this.compiled = entries.map((e, i) => compile(e, globOf(e), i)).sort(bySpecificity);
    this.entries = this.compiled.map((c) => c.entry);
  }

  /** The entry that decides for `name`, if any glob matches it. */
  match(name: string): T | undefined {
    return this.compiled.find((c) => c.pattern.test(name))?.entry;
  }

  get size(): number {
    return this.compiled.length;
  }
}
