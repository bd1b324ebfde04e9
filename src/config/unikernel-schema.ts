/**
 * The `unikernel.bootCheck` settings (docs/unikernels.md, "Boot attestations"):
 * opt-in boots of every emulable variant after a pack or a unikernel push, one
 * at a time from a durable queue, each recorded as an OCI referrer.
 *
 *   bootCheck: { enabled, timeout, memory, expectedOutput, user,
 *                repositories: - { repository, enabled?, expectedOutput? } }
 *
 * For a repository, the most specific matching `repositories` glob decides
 * (src/policy/globs.ts); without one, `enabled` and `expectedOutput` apply.
 */
import { z } from 'zod';
import { REPO_GLOB } from './auth-schema.js';
import { duration } from './duration.js';

/** An expected-output pattern: a JavaScript regular expression searched for in the console output ('' = none). */
const outputRegex = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
  }
});

const bootRule = z
  .object({
    repository: z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards'),
    /** Boot this repository's variants (default true: a rule usually switches boots on for some repositories). */
    enabled: z.boolean().default(true),
    /** Overrides the default expected-output regex for these repositories. */
    expectedOutput: outputRegex.optional(),
  })
  .strict();

export type BootRule = z.infer<typeof bootRule>;

export const bootCheckSchema = z
  .object({
    /** Boot every emulable variant after a pack or a unikernel push (repositories without a matching rule). */
    enabled: z.boolean().default(false),
    /** Wall-clock limit of one boot; QEMU is killed after it and the result is `timed-out`. */
    timeout: duration.default('30s'),
    /** Guest memory in MiB (QEMU `-m`). */
    memory: z.number().int().min(4).max(4096).default(64),
    /** Default expected-output regex: a boot passes only if the console output (first 64 KiB) matches; '' = no check. */
    expectedOutput: outputRegex.default(''),
    /** The user QEMU runs as when unireg runs as root (setpriv); ignored otherwise. */
    user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, 'expected a user name').default('nobody'),
    /** Per-repository switches and expected-output regexes (most specific glob wins). */
    repositories: z.array(bootRule).default([]),
  })
  .strict()
  .prefault({});

export type BootCheckConfig = z.infer<typeof bootCheckSchema>;
