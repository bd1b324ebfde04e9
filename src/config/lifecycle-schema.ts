/**
 * The `retention` and `immutableTags` settings (file only: lists of rules keyed
 * by repository glob; docs/retention.md). For a repository, the most specific
 * matching glob decides, as for the access rules (src/policy/globs.ts).
 *
 *   retention:      - { repository, keepLast?, keepTags?, deleteOlderThan?, deleteNotPulledFor?, keepOnePerPlatform? }
 *   immutableTags:  - { repository, tags }
 *
 * Tag patterns are regular expressions that must match the WHOLE tag
 * (`v\d+` matches `v1`, not `v1-rc`).
 */
import { z } from 'zod';
import { REPO_GLOB } from './auth-schema.js';
import { duration } from './duration.js';

const repository = z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards');

/** The anchored form of a tag pattern. */
export function tagPattern(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

const tagRegex = z.string().min(1).superRefine((source, ctx) => {
  try {
    tagPattern(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
  }
});

const retentionRule = z
  .object({
    repository,
    /** The N most recently pushed tags are kept. */
    keepLast: z.number().int().nonnegative().optional(),
    /** Tags matching one of these are kept. */
    keepTags: z.array(tagRegex).default([]),
    /** Only tags pushed longer ago than this are deleted. */
    deleteOlderThan: duration.optional(),
    /** Only tags neither pulled (as recorded for pull-through cache repositories) nor pushed within this long are deleted. */
    deleteNotPulledFor: duration.optional(),
    /** For each unikernel platform (architecture + os), the newest tag holding a variant of it is kept. */
    keepOnePerPlatform: z.boolean().default(false),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const deletes = rule.keepLast !== undefined || rule.deleteOlderThan !== undefined || rule.deleteNotPulledFor !== undefined;
    if (!deletes && (rule.keepTags.length > 0 || rule.keepOnePerPlatform)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'keepTags and keepOnePerPlatform only protect tags from keepLast, deleteOlderThan or deleteNotPulledFor: set one of them ' +
          '(keepLast: 0 deletes every tag the rule does not keep), or give only `repository` to exempt repositories from broader rules',
      });
    }
  });

export type RetentionRule = z.infer<typeof retentionRule>;

const immutableRule = z
  .object({
    repository,
    /** Tags matching one of these can be pushed once, then neither moved nor deleted; empty: none here. */
    tags: z.array(tagRegex),
  })
  .strict();

export type ImmutableTagRule = z.infer<typeof immutableRule>;

export const retentionSchema = z.array(retentionRule).default([]);
export const immutableTagsSchema = z.array(immutableRule).default([]);
