/** Argument helpers shared by the client commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
type ParsedResults<C extends ParseArgsConfig> = ReturnType<typeof parseArgs<C>>;

/**
 * Joins each `--opt VALUE` of a string option into `--opt=VALUE`, so that a value
 * starting with `-` (`--cmd -v`, `--cmd --verbose`) is taken as the value, the
 * way getopt does, instead of util.parseArgs refusing it as ambiguous.
 * Stops at `--`.
 */
export function bindValues(args: readonly string[], stringOptions: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && stringOptions.includes(arg.slice(2)) && next !== undefined) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The names of the string-typed options of a parseArgs configuration. */
export function stringOptionNames(options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  return Object.entries(options)
    .filter(([, o]) => o.type === 'string')
    .map(([name]) => name);
}

/** Options every client command takes: credentials, the scheme, the output form, help. */
export const COMMON_OPTIONS = {
  user: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'p' },
  'password-stdin': { type: 'boolean' },
  'plain-http': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** How variants are picked (`unireg variants`, `search`, `diff`): kraft's platform and kconfig filters and the matching rule. */
export const VARIANT_FILTER_OPTIONS = {
  arch: { type: 'string' },
  plat: { type: 'string' },
  kconfig: { type: 'string', multiple: true },
  match: { type: 'string' },
} as const;

type CommandConfig<T extends ParseArgsOptionsConfig> = { args: string[]; allowPositionals: true; strict: true; options: T };

/** parseArgs with getopt-style value binding, the way both client commands read their arguments. */
export function parseCommand<T extends ParseArgsOptionsConfig>(
  args: string[],
  options: T,
  onError: (message: string) => Error,
): ParsedResults<CommandConfig<T>> {
  try {
    return parseArgs({ args: bindValues(args, stringOptionNames(options)), allowPositionals: true, strict: true, options });
  } catch (err) {
    throw onError((err as Error).message);
  }
}
