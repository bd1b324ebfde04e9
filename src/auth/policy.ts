/**
 * The access rules: repository glob → principal → actions.
 *
 * Which rule decides (src/policy/globs.ts): of the rules whose glob matches the repository, the most
 * specific one, and only that one (a caller it does not name gets nothing there,
 * even if a broader rule would give more):
 *   1. a name without wildcards beats any glob;
 *   2. then the glob with more literal characters (`team/app-*` beats `team/*`);
 *   3. then the one with fewer `**` (`team/*` beats `team/**`);
 *   4. then the one written first.
 * Within the deciding rule the caller gets the union of the actions of every
 * principal it is: `anonymous` (every caller, with or without credentials),
 * `authenticated` (any caller with valid credentials), its user name, and
 * `group:NAME` for each group that lists it.
 * `catalog` is not tied to a repository: a caller may list the catalog when any
 * rule grants it `catalog`, and the listing holds only what it may pull.
 */
import { isUserName, type AccessRule, type Action } from '../config/auth-schema.js';
import { GlobRules } from '../policy/globs.js';
import { isRegistryResource, type AccessEntry, type RegistryResource } from './scope.js';

/** Who is calling: a user name, or undefined for an anonymous caller. */
export interface Principal {
  readonly name: string | undefined;
}

export const ANONYMOUS: Principal = Object.freeze({ name: undefined });

/** The globs and their precedence live in src/policy/globs.ts (shared with retention and immutable tags). */
export { globToRegExp } from '../policy/globs.js';

export class AccessPolicy {
  private readonly rules: GlobRules<AccessRule>;
  private readonly groupsOf = new Map<string, string[]>();
  private readonly decided = new Map<string, Map<string, ReadonlySet<Action>>>();

  constructor(rules: readonly AccessRule[], groups: Readonly<Record<string, readonly string[]>>) {
    this.rules = new GlobRules(rules);
    for (const [group, members] of Object.entries(groups)) {
      for (const member of members) this.groupsOf.set(member, [...(this.groupsOf.get(member) ?? []), group]);
    }
  }

  /**
   * The principal names a caller answers to in `grants`. A subject that could pass
   * for another principal (`group:x`, `anonymous`: possible from an external issuer)
   * is not matched by name.
   */
  private namesOf(who: Principal): string[] {
    if (who.name === undefined) return ['anonymous'];
    const own = isUserName(who.name) ? [who.name] : [];
    return ['anonymous', 'authenticated', ...own, ...(this.groupsOf.get(who.name) ?? []).map((g) => `group:${g}`)];
  }

  private grantsIn(rule: AccessRule, who: Principal): Set<Action> {
    const out = new Set<Action>();
    for (const name of this.namesOf(who)) for (const action of rule.grants[name] ?? []) out.add(action);
    return out;
  }

  /** The rule that decides for `repo`, if any matches. */
  ruleFor(repo: string): AccessRule | undefined {
    return this.rules.ruleFor(repo);
  }

  /** What `who` may do on `repo` (catalog aside). */
  actionsOn(who: Principal, repo: string): ReadonlySet<Action> {
    const key = who.name ?? '';
    let perUser = this.decided.get(key);
    if (!perUser) {
      // Bounded: a busy registry sees few distinct callers; start over if it ever grows large.
      if (this.decided.size > 10_000) this.decided.clear();
      perUser = new Map();
      this.decided.set(key, perUser);
    }
    let actions = perUser.get(repo);
    if (!actions) {
      const rule = this.ruleFor(repo);
      const granted = rule ? this.grantsIn(rule, who) : new Set<Action>();
      granted.delete('catalog');
      granted.delete('admin');
      granted.delete('metrics');
      actions = granted;
      if (perUser.size > 10_000) perUser.clear();
      perUser.set(repo, actions);
    }
    return actions;
  }

  can(who: Principal, repo: string, action: Action): boolean {
    return this.actionsOn(who, repo).has(action);
  }

  mayListCatalog(who: Principal): boolean {
    return this.rules.rules.some((rule) => this.grantsIn(rule, who).has('catalog'));
  }

  /** `admin` counts only in a rule for every repository (`**`): it is the right to maintain the whole registry. */
  mayAdminister(who: Principal): boolean {
    return this.rules.rules.some((rule) => rule.repository === '**' && this.grantsIn(rule, who).has('admin'));
  }

  /** `metrics` (reading /metrics), like `admin`, counts only in a rule for every repository: the figures are registry-wide. */
  mayReadMetrics(who: Principal): boolean {
    return this.rules.rules.some((rule) => rule.repository === '**' && this.grantsIn(rule, who).has('metrics'));
  }

  /** Whether `who` holds a registry-wide right. */
  mayUseRegistry(who: Principal, resource: RegistryResource): boolean {
    if (resource === 'catalog') return this.mayListCatalog(who);
    return resource === 'admin' ? this.mayAdminister(who) : this.mayReadMetrics(who);
  }

  /** What a token for `who` may carry: each requested entry cut down to what the rules allow. */
  grant(who: Principal, requested: readonly AccessEntry[]): AccessEntry[] {
    const out: AccessEntry[] = [];
    for (const entry of requested) {
      let allowed: string[] = [];
      if (entry.type === 'repository') {
        const actions = this.actionsOn(who, entry.name);
        allowed = entry.actions.includes('*') ? [...actions] : entry.actions.filter((a) => actions.has(a as Action));
      } else if (entry.type === 'registry' && isRegistryResource(entry.name) && this.mayUseRegistry(who, entry.name)) {
        allowed = entry.actions.filter((a) => a === '*');
      }
      if (allowed.length > 0) out.push({ type: entry.type, name: entry.name, actions: allowed });
    }
    return out;
  }
}
