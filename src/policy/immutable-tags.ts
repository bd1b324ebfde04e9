/**
 * Immutable tags (config `immutableTags`): per repository glob, tag patterns
 * that must match the whole tag. The most specific matching rule decides for a
 * repository (src/policy/globs.ts); a rule with no patterns exempts it.
 * ManifestService enforces them; retention never deletes them.
 */
import { tagPattern, type ImmutableTagRule } from '../config/lifecycle-schema.js';
import { GlobRules } from './globs.js';

interface Compiled {
  repository: string;
  rule: ImmutableTagRule;
  patterns: RegExp[];
}

export class ImmutableTags {
  private readonly rules: GlobRules<Compiled>;

  constructor(rules: readonly ImmutableTagRule[]) {
    this.rules = new GlobRules(rules.map((rule) => ({ repository: rule.repository, rule, patterns: rule.tags.map(tagPattern) })));
  }

  /** Whether any tag of `repo` can be immutable (lets callers skip lookups). */
  governs(repo: string): boolean {
    return (this.rules.ruleFor(repo)?.patterns.length ?? 0) > 0;
  }

  /** The rule that makes `tag` of `repo` immutable, if any. */
  ruleFor(repo: string, tag: string): ImmutableTagRule | undefined {
    const compiled = this.rules.ruleFor(repo);
    return compiled?.patterns.some((p) => p.test(tag)) ? compiled.rule : undefined;
  }
}
