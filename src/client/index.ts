/**
 * The client side of `unireg`: commands that talk to a running registry.
 * `runClientCommand` runs one and returns the process exit code; failures are
 * reported as ONE line on stderr (`unireg: pack failed: <reason>`).
 */
import { ClientError, oneLine } from './http.js';
import { GC_USAGE, gcCommand } from './gc-command.js';
import { PACK_USAGE, packCommand } from './pack-command.js';
import { RETENTION_USAGE, retentionCommand } from './retention-command.js';
import { USAGE_USAGE, usageCommand } from './usage-command.js';
import { VARIANTS_USAGE, variantsCommand } from './variants-command.js';
import { SEARCH_USAGE, searchCommand } from './search-command.js';
import { DIFF_USAGE, diffCommand } from './diff-command.js';

export { ClientError } from './http.js';
export { PACK_USAGE } from './pack-command.js';
export { RETENTION_USAGE } from './retention-command.js';
export { VARIANTS_USAGE } from './variants-command.js';
export { USAGE_USAGE } from './usage-command.js';
export { GC_USAGE } from './gc-command.js';

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  pack: packCommand,
  variants: variantsCommand,
  search: searchCommand,
  diff: diffCommand,
  retention: retentionCommand,
  usage: usageCommand,
  gc: gcCommand,
};

/** One-line summaries for the top-level usage text. */
export const CLIENT_USAGE = `  pack      upload a kernel (+ initrd, .config) and pack it as a unikernel variant of a tag
  variants  list the unikernel variants of a repository or tag
  search    find unikernel variants by kconfig feature across the repositories you may pull
  diff      what changed (kconfig features, sizes) between two unikernel variants
  gc        run a garbage collection on a registry now (admin)
  retention apply the registry's retention rules now (admin), or list what they would delete
  usage     list the quota namespaces with the bytes they use (admin)

Run unireg COMMAND --help (pack, variants, search, diff, gc, retention, usage) for their options.`;

export function isClientCommand(name: string | undefined): boolean {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

export function clientUsage(name: string): string | undefined {
  if (name === 'search') return SEARCH_USAGE;
  if (name === 'diff') return DIFF_USAGE;
  return name === 'pack' ? PACK_USAGE : name === 'variants' ? VARIANTS_USAGE : name === 'retention' ? RETENTION_USAGE : name === 'usage' ? USAGE_USAGE : name === 'gc' ? GC_USAGE : undefined;
}

/** Runs a client command; resolves with the exit code (never rejects). */
export async function runClientCommand(name: string, args: string[]): Promise<number> {
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`unireg: unknown client command ${name}\n`);
    return 2;
  }
  try {
    return await command(args);
  } catch (err) {
    const message = err instanceof ClientError ? err.message : oneLine(err instanceof Error ? err.message : String(err));
    process.stderr.write(`unireg: ${name} failed: ${message}\n`);
    return err instanceof ClientError ? err.exitCode : 1;
  }
}
