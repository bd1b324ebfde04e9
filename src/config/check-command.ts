/**
 * `unireg check-config [--config FILE]`: loads the configuration exactly as
 * `unireg serve` does (src/config/load.ts: the file, then UNIREG_* variables),
 * and prints the effective settings as YAML with secrets redacted
 * (./redact.ts). It opens no data root and listens on nothing.
 *
 * An invalid configuration is thrown as the ConfigError serve throws, so the
 * command line prints the same messages with the same exit code (2).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ENV_PREFIX } from './env.js';
import { loadConfig } from './load.js';
import { redactConfig } from './redact.js';

export const CHECK_CONFIG_USAGE = `usage: unireg check-config [--config FILE]

Checks the configuration as \`unireg serve\` would load it: --config FILE (or
$UNIREG_CONFIG), then the UNIREG_* environment variables, which win. Prints the
effective settings, defaults included, as YAML, with secrets (password hashes,
passwords, secrets, tokens) replaced by <redacted>. Opens no data root and
listens on nothing; files the settings name (htpasswd, TLS) are read by serve.

  -c, --config FILE  a YAML configuration file
  -h, --help         print this help

Exit code: 0 valid, 2 invalid (with the messages serve gives) or bad usage.`;

export async function checkConfigCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`unireg: ${(err as Error).message}\n${CHECK_CONFIG_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${CHECK_CONFIG_USAGE}\n`);
    return 0;
  }
  const file = values.config ?? env.UNIREG_CONFIG;
  const config = await loadConfig({ file, env });
  const variables = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name !== 'UNIREG_CONFIG')
    .sort();
  const sources = [file ? `file ${file}` : 'no file (defaults)', ...(variables.length > 0 ? [`then ${variables.join(', ')}`] : [])];
  process.stdout.write(`# unireg configuration: valid\n# from ${sources.join(', ')}; secrets redacted\n${stringify(redactConfig(config))}`);
  return 0;
}
