/**
 * Errors of the unikernel modules. Like the storage errors they know nothing of
 * HTTP: the lead's error middleware maps UnikernelInputError to a 400 (the
 * client sent a kernel, kconfig, arch, plat or strategy unireg cannot use) and
 * TagExistsError to a 409 (strategy `abort` on a tag that already exists).
 */
import { RegistryError } from '../domain/errors.js';

/** Which input was wrong; lets the HTTP layer point at the offending form field or query parameter. */
export type UnikernelInputField =
  | 'arch'
  | 'plat'
  | 'kconfig'
  | 'kernel'
  | 'initrd'
  | 'strategy'
  | 'manifest'
  | 'filter'
  | 'layer'
  | 'bootExpect'
  | 'urunc';

export class UnikernelInputError extends RegistryError {
  override readonly name = 'UnikernelInputError';
  /**
   * @param field the input at fault
   * @param reason a human-readable explanation
   * @param extra more machine-readable context, e.g. `{ line: 3 }` (1-based) for a malformed kconfig line
   */
  constructor(
    readonly field: UnikernelInputField,
    readonly reason: string,
    extra: Record<string, unknown> = {},
  ) {
    super(`invalid unikernel ${field}: ${reason}`, { field, reason, ...extra });
  }
}

export class TagExistsError extends RegistryError {
  override readonly name = 'TagExistsError';
  /** @param reference the tag (or `repo:tag`) that already exists, when the caller knows it */
  constructor(readonly reference?: string) {
    super(
      reference === undefined
        ? 'the tag already exists and the merge strategy is abort'
        : `tag ${reference} already exists and the merge strategy is abort`,
      reference === undefined ? {} : { reference },
    );
  }
}

/**
 * A variant over its repository's size budget (config `unikernel.budgets`): mapped
 * like QuotaExceededError (403 DENIED), since both are the registry's storage policy
 * refusing content, not a malformed request.
 */
export class BudgetExceededError extends RegistryError {
  override readonly name = 'BudgetExceededError';
  constructor(
    readonly repo: string,
    readonly limit: 'maxKernelSize' | 'maxImageSize',
    readonly size: number,
    readonly budget: number,
    readonly variant: string,
    readonly rule: string,
  ) {
    const what = limit === 'maxKernelSize' ? 'kernel' : 'image';
    super(
      `${what} of variant ${variant} is ${size} bytes, over the ${limit} budget of ${budget} bytes for repositories ${rule} (unikernel.budgets)`,
      { repository: repo, limit, size, budget, variant, rule },
    );
  }
}
