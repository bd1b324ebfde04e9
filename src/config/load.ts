/** Loading the configuration: YAML file (optional) → environment overrides → validation. */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { applyEnv, EnvValueError, UnknownEnvError } from './env.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

async function readYaml(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file ${file}: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`${file} is not valid YAML: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`${file} must hold a mapping of settings`]);
  return doc as Record<string, unknown>;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  const raw = options.file ? await readYaml(options.file) : {};
  let fromEnv: Map<string, string>;
  try {
    fromEnv = applyEnv(raw, options.env ?? process.env);
  } catch (err) {
    if (err instanceof UnknownEnvError) throw new ConfigError([err.message]);
    if (err instanceof EnvValueError) throw new ConfigError(err.problems);
    throw err;
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    const extra = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (path ? `${path}.${k}` : k)) : [];
    const key = extra.length > 0 ? extra.join(', ') : path || '(root)';
    const env = fromEnv.get(path);
    // A bad map key (a user or principal name): zod says "Invalid key"; the inner issue says why.
    const message = issue.code === 'invalid_key' ? issue.issues.map((inner) => inner.message).join('; ') : issue.message;
    return `${key}${env ? ` (from ${env})` : ''}: ${message}`;
  });
  throw new ConfigError(problems);
}
