/**
 * `unikernel.budgets` (file only): per repository glob, the largest kernel and the
 * largest variant a push or pack may store. The most specific matching glob decides
 * (src/policy/globs.ts); a rule with neither limit exempts its repositories.
 *
 *   budgets: - { repository: "apps/**", maxKernelSize: 8MiB, maxImageSize: 64MiB }
 */
import { z } from 'zod';
import { REPO_GLOB } from './auth-schema.js';
import { byteSize } from './size.js';

export const budgetRule = z
  .object({
    repository: z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards'),
    /** Bytes of the kernel layer (the blob annotated org.unikraft.kernel.image). */
    maxKernelSize: byteSize.optional(),
    /** Bytes of one variant: its manifest, config blob and every layer. */
    maxImageSize: byteSize.optional(),
  })
  .strict();

export type BudgetRule = z.infer<typeof budgetRule>;
