/**
 * Repository globs and "the most specific glob wins": the one precedence used by
 * the access rules (src/auth/policy.ts), retention rules and immutable tags.
 *
 * `*` matches within one path component, `**` across any number of them
 * (`team/**` does not match `team` itself). Of the rules whose glob matches a
 * repository, exactly one decides, the most specific:
 *   1. a name without wildcards beats any glob;
 *   2. then the glob with more literal characters (`team/app-*` beats `team/*`);
 *   3. then the one with fewer `**` (`team/*` beats `team/**`);
 *   4. then the one written first.
 */

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\-]/g, '\\$&');
}

/** The anchored regular expression of a repository glob. */
export function globToRegExp(glob: string): RegExp {
  const source = glob
    .split('**')
    .map((part) => part.split('*').map(escape).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

interface Compiled<T> {
  rule: T;
  pattern: RegExp;
  exact: boolean;
  literals: number;
  deep: number;
  order: number;
}

function compile<T>(rule: T, glob: string, order: number): Compiled<T> {
  return {
    rule,
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

/** Rules keyed by their `repository` glob; `ruleFor` picks the one that decides for a repository. */
export class GlobRules<T extends { readonly repository: string }> {
  private readonly sorted: Compiled<T>[];
  /** Every rule, most specific first. */
  readonly rules: readonly T[];

  constructor(rules: readonly T[]) {
    this.sorted = rules.map((rule, i) => compile(rule, rule.repository, i)).sort(bySpecificity);
    this.rules = this.sorted.map((r) => r.rule);
  }

  /** The most specific rule whose glob matches `repo`, if any. */
  ruleFor(repo: string): T | undefined {
    return this.sorted.find((r) => r.pattern.test(repo))?.rule;
  }
}
