/**
 * Which tags of one repository a retention rule deletes (pure; the service reads
 * the store and carries the plan out). docs/retention.md states the semantics.
 *
 * Tags are ranked newest first by push time; equal times are ordered by tag name,
 * the later name in byte order counting as newer. A tag is KEPT when any of:
 *   immutable           an immutableTags rule covers it;
 *   keepTags            it matches one of the rule's patterns (whole tag);
 *   keepLast            it is among the rule's N newest;
 *   recent              deleteOlderThan is set and it was pushed no longer ago than that;
 *   pulled              deleteNotPulledFor is set and it was pulled (pull-through cache repositories
 *                       record pulls) or pushed no longer ago than that;
 *   keepOnePerPlatform  (set on the rule) it holds a unikernel platform that no tag
 *                       kept for another reason holds, and it is the newest such tag.
 * Every other tag is deleted. A rule with none of keepLast, deleteOlderThan, deleteNotPulledFor deletes
 * nothing (an exemption; the config refuses keepTags/keepOnePerPlatform on such a rule).
 */
import { durationMs } from '../config/duration.js';
import { tagPattern, type RetentionRule } from '../config/lifecycle-schema.js';
import type { TagRecord } from '../storage/types.js';

export type KeepReason = 'exempt' | 'immutable' | 'keepTags' | 'keepLast' | 'recent' | 'pulled' | 'keepOnePerPlatform';

/** A retention rule ready to apply. */
export class CompiledRetentionRule {
  readonly repository: string;
  readonly keepTags: RegExp[];
  readonly maxAgeMs: number | undefined;
  readonly maxIdleMs: number | undefined;

  constructor(readonly rule: RetentionRule) {
    this.repository = rule.repository;
    this.keepTags = rule.keepTags.map(tagPattern);
    this.maxAgeMs = rule.deleteOlderThan === undefined ? undefined : durationMs(rule.deleteOlderThan);
    this.maxIdleMs = rule.deleteNotPulledFor === undefined ? undefined : durationMs(rule.deleteNotPulledFor);
  }

  /** Whether the rule can delete anything (else it only exempts its repositories). */
  get deletes(): boolean {
    return this.rule.keepLast !== undefined || this.maxAgeMs !== undefined || this.maxIdleMs !== undefined;
  }
}

export interface TagFacts extends TagRecord {
  immutable: boolean;
}

export interface TagDecision {
  record: TagFacts;
  /** Empty: the tag is deleted. */
  keptBy: KeepReason[];
}

/** Newest first: by push time, then by tag name (later in byte order = newer). */
export function byRecency(a: TagRecord, b: TagRecord): number {
  if (a.pushedAt !== b.pushedAt) return b.pushedAt - a.pushedAt;
  return a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0;
}

/**
 * Decides every tag of a repository. `platformsOf` gives the unikernel platforms a tag
 * holds (empty for other content); it is called only when the rule sets
 * keepOnePerPlatform and some tag would otherwise be deleted.
 */
export async function planRepository(
  tags: readonly TagFacts[],
  rule: CompiledRetentionRule,
  now: number,
  platformsOf: (record: TagFacts) => Promise<readonly string[]>,
): Promise<TagDecision[]> {
  const ranked = [...tags].sort(byRecency);
  const decisions = ranked.map((record, rank): TagDecision => {
    const keptBy: KeepReason[] = [];
    if (!rule.deletes) return { record, keptBy: ['exempt'] };
    if (record.immutable) keptBy.push('immutable');
    if (rule.keepTags.some((p) => p.test(record.tag))) keptBy.push('keepTags');
    if (rule.rule.keepLast !== undefined && rank < rule.rule.keepLast) keptBy.push('keepLast');
    if (rule.maxAgeMs !== undefined && now - record.pushedAt <= rule.maxAgeMs) keptBy.push('recent');
    if (rule.maxIdleMs !== undefined && now - Math.max(record.pushedAt, record.pulledAt ?? 0) <= rule.maxIdleMs) keptBy.push('pulled');
    return { record, keptBy };
  });
  if (!rule.rule.keepOnePerPlatform || decisions.every((d) => d.keptBy.length > 0)) return decisions;

  const platforms = new Map<TagDecision, readonly string[]>();
  for (const d of decisions) platforms.set(d, await platformsOf(d.record));
  const covered = new Set<string>();
  for (const d of decisions) if (d.keptBy.length > 0) for (const p of platforms.get(d) ?? []) covered.add(p);
  // Newest first: the newest tag holding a platform nothing kept holds is kept for it.
  for (const d of decisions) {
    if (d.keptBy.length > 0) continue;
    const held = platforms.get(d) ?? [];
    if (held.some((p) => !covered.has(p))) {
      d.keptBy.push('keepOnePerPlatform');
      for (const p of held) covered.add(p);
    }
  }
  return decisions;
}
