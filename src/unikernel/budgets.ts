/**
 * Size budgets (config `unikernel.budgets`): per repository glob, the largest kernel
 * layer and the largest variant (manifest + config + layers) a push or pack may
 * store. The most specific matching glob decides (src/policy/globs.ts).
 */
import type { BudgetRule } from '../config/budgets-schema.js';
import { sizeBytes } from '../config/size.js';
import { GlobRules } from '../policy/globs.js';
import type { IndexedVariant } from '../storage/types.js';
import { BudgetExceededError } from './errors.js';

export interface Budget {
  /** The glob of the rule that decides. */
  rule: string;
  maxKernelSize?: number;
  maxImageSize?: number;
}

/** `architecture/os` and the manifest digest: how an error names a variant. */
function variantName(v: IndexedVariant): string {
  return `${v.architecture}/${v.os} ${v.digest}`;
}

export class Budgets {
  private readonly rules: GlobRules<BudgetRule>;

  constructor(rules: readonly BudgetRule[]) {
    this.rules = new GlobRules(rules);
  }

  /** The budget that applies to `repo`, if any. */
  budgetFor(repo: string): Budget | undefined {
    const rule = this.rules.ruleFor(repo);
    if (rule === undefined || (rule.maxKernelSize === undefined && rule.maxImageSize === undefined)) return undefined;
    const budget: Budget = { rule: rule.repository };
    if (rule.maxKernelSize !== undefined) budget.maxKernelSize = sizeBytes(rule.maxKernelSize);
    if (rule.maxImageSize !== undefined) budget.maxImageSize = sizeBytes(rule.maxImageSize);
    return budget;
  }

  /** Throws BudgetExceededError when a kernel layer of `size` bytes is over `repo`'s budget (a pack, before storing it). */
  checkKernel(repo: string, size: number, variant: string): void {
    const budget = this.budgetFor(repo);
    if (budget?.maxKernelSize !== undefined && size > budget.maxKernelSize) {
      throw new BudgetExceededError(repo, 'maxKernelSize', size, budget.maxKernelSize, variant, budget.rule);
    }
  }

  /** Throws BudgetExceededError for the first variant over `repo`'s budget. */
  check(repo: string, variants: readonly IndexedVariant[]): void {
    const budget = this.budgetFor(repo);
    if (budget === undefined) return;
    for (const v of variants) {
      if (budget.maxKernelSize !== undefined && v.kernelSize !== undefined && v.kernelSize > budget.maxKernelSize) {
        throw new BudgetExceededError(repo, 'maxKernelSize', v.kernelSize, budget.maxKernelSize, variantName(v), budget.rule);
      }
      if (budget.maxImageSize !== undefined && v.imageSize > budget.maxImageSize) {
        throw new BudgetExceededError(repo, 'maxImageSize', v.imageSize, budget.maxImageSize, variantName(v), budget.rule);
      }
    }
  }
}
