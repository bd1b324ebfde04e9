/**
 * Environment overrides, named mechanically after the key path:
 * `uploads.mountWithoutFrom` ↔ UNIREG_UPLOADS_MOUNT_WITHOUT_FROM.
 * The list of names comes from the schema's defaults, so a new setting gets
 * its variable with no extra code; an unknown UNIREG_ variable is an error.
 */
import { configSchema } from './schema.js';

export const ENV_PREFIX = 'UNIREG_';
/** Variables that are not settings. */
const NOT_SETTINGS = new Set(['UNIREG_CONFIG']);

export interface EnvSetting {
  path: string[];
  env: string;
  sample: unknown;
}

function screamingSnake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function envName(path: string[]): string {
  return ENV_PREFIX + path.map(screamingSnake).join('_');
}

/** Lists of objects whose default is empty, so the sample below cannot show it: file only too. */
const FILE_ONLY = new Set(['quotas']);

/** Structured lists (the access rules) and maps (users, groups) are set in the config file only. */
function fileOnly(value: unknown, path: string[]): boolean {
  return FILE_ONLY.has(path.join('.')) || (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null));
}

function leaves(value: unknown, path: string[], out: EnvSetting[]): EnvSetting[] {
  if (fileOnly(value, path)) return out;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, [...path, k], out);
  } else {
    out.push({ path, env: envName(path), sample: value });
  }
  return out;
}

export const ENV_SETTINGS: readonly EnvSetting[] = leaves(configSchema.parse({}), [], []);

function coerce(raw: string, sample: unknown): unknown {
  // Lists are comma-separated: UNIREG_UNIKERNEL_KCONFIG_SKIP=CONFIG_UK_APP,CONFIG_UK_BASE
  if (Array.isArray(sample)) return raw.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (typeof sample === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    return raw;
  }
  if (typeof sample === 'number' || typeof sample === 'string') {
    // Numbers stay numbers, and durations may be given either way.
    if (/^\d+(\.\d+)?$/.test(raw) && (typeof sample === 'number' || /^\d/.test(sample))) return Number(raw);
  }
  return raw;
}

export class UnknownEnvError extends Error {
  override readonly name = 'UnknownEnvError';
  constructor(readonly variables: string[]) {
    super(`unknown environment variable(s): ${variables.join(', ')}`);
  }
}

/** Sets every override found in `env` into the raw config tree; returns which keys came from env. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const fromEnv = new Map<string, string>();
  const known = new Set(ENV_SETTINGS.map((s) => s.env));
  const unknown = Object.keys(env).filter((k) => k.startsWith(ENV_PREFIX) && !known.has(k) && !NOT_SETTINGS.has(k));
  if (unknown.length > 0) throw new UnknownEnvError(unknown);
  for (const setting of ENV_SETTINGS) {
    const value = env[setting.env];
    if (value === undefined) continue;
    let node = raw;
    for (const segment of setting.path.slice(0, -1)) {
      const next = node[segment];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    }
    node[setting.path.at(-1)!] = coerce(value, setting.sample);
    fromEnv.set(setting.path.join('.'), setting.env);
  }
  return fromEnv;
}
