/**
 * Environment overrides, named mechanically after the key path:
 * `uploads.mountWithoutFrom` ↔ UNIREG_UPLOADS_MOUNT_WITHOUT_FROM.
 * The list of names and the type of each value come from the zod schema, so a
 * new setting gets its variable with no extra code; an unknown UNIREG_
 * variable is an error.
 *
 * Each leaf's type decides how its text is read (never the default value):
 *   string, enum  the text as it is (`UNIREG_HTTP_ADDR=5653` stays the string "5653")
 *   number        a decimal number, else a message naming the variable
 *   boolean       true/1/yes/on or false/0/no/off (any case), else a message
 *   list          comma-separated (`CONFIG_UK_APP,CONFIG_UK_BASE`)
 *   duration      number or string: plain digits are seconds, anything else a duration like `30s`
 * Maps (auth.users, auth.groups) and lists of objects (auth.access) are set in the file only.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export const ENV_PREFIX = 'UNIREG_';
/** Variables that are not settings. */
const NOT_SETTINGS = new Set(['UNIREG_CONFIG']);

export type EnvKind = 'string' | 'number' | 'boolean' | 'list' | 'duration';

export interface EnvSetting {
  path: string[];
  env: string;
  /** How the variable's text is turned into the value the schema checks. */
  kind: EnvKind;
}

function screamingSnake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function envName(path: string[]): string {
  return ENV_PREFIX + path.map(screamingSnake).join('_');
}

/** The schema under defaults, prefaults and optionals. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      s = s.def.innerType as z.ZodType;
    } else {
      return s;
    }
  }
}

/** A scalar leaf's kind, or undefined for a schema type with no environment form. */
function scalarKind(schema: z.ZodType): 'string' | 'number' | 'boolean' | undefined {
  if (schema instanceof z.ZodString || schema instanceof z.ZodEnum) return 'string';
  if (schema instanceof z.ZodNumber) return 'number';
  if (schema instanceof z.ZodBoolean) return 'boolean';
  if (schema instanceof z.ZodLiteral) {
    const values = [...schema.values];
    if (values.every((v) => typeof v === 'string')) return 'string';
    if (values.every((v) => typeof v === 'number')) return 'number';
  }
  return undefined;
}

/** The members of a union, nested unions flattened (`keep` or a duration, itself a number or a string). */
function unionMembers(schema: z.ZodUnion): z.ZodType[] {
  return (schema.options as readonly z.ZodType[]).flatMap((o) => {
    const member = unwrap(o);
    return member instanceof z.ZodUnion ? unionMembers(member) : [member];
  });
}

function leaves(schema: z.ZodType, path: string[], out: EnvSetting[]): EnvSetting[] {
  const s = unwrap(schema);
  const setting = (kind: EnvKind) => out.push({ path, env: envName(path), kind });
  if (s instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(s.shape as Record<string, z.ZodType>)) leaves(child, [...path, key], out);
    return out;
  }
  // Maps, and lists of structured entries: file only.
  if (s instanceof z.ZodRecord) return out;
  if (s instanceof z.ZodArray) {
    const element = unwrap(s.element as z.ZodType);
    if (element instanceof z.ZodObject || element instanceof z.ZodRecord) return out;
    if (scalarKind(element) !== 'string') throw new Error(`config ${path.join('.')}: no environment form for a list of ${element.def.type}`);
    setting('list');
    return out;
  }
  if (s instanceof z.ZodUnion) {
    const kinds = new Set(unionMembers(s).map((o) => scalarKind(o)));
    if (kinds.size === 2 && kinds.has('number') && kinds.has('string')) {
      setting('duration');
      return out;
    }
    throw new Error(`config ${path.join('.')}: no environment form for a union of ${[...kinds].join(', ')}`);
  }
  const kind = scalarKind(s);
  // A new kind of schema leaf must be given an environment form here, not guessed.
  if (kind === undefined) throw new Error(`config ${path.join('.')}: no environment form for ${s.def.type}`);
  setting(kind);
  return out;
}

/** The environment settings of a schema; throws for a leaf type with no environment form. */
export function envSettingsOf(schema: z.ZodType): EnvSetting[] {
  return leaves(schema, [], []);
}

export const ENV_SETTINGS: readonly EnvSetting[] = envSettingsOf(configSchema);

const NUMBER = /^-?\d+(\.\d+)?$/;

/** The variable's text as the value the schema expects, or why it cannot be. */
function coerce(raw: string, kind: EnvKind): { value: unknown } | { error: string } {
  const text = raw.trim();
  switch (kind) {
    case 'string':
      return { value: raw };
    case 'list':
      return { value: raw.split(',').map((v) => v.trim()).filter((v) => v !== '') };
    case 'number':
      return NUMBER.test(text) ? { value: Number(text) } : { error: `expected a number, got ${JSON.stringify(raw)}` };
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return { value: true };
      if (/^(false|0|no|off)$/i.test(text)) return { value: false };
      return { error: `expected true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(raw)}` };
    case 'duration':
      // Plain digits are seconds; anything else is left to the schema (30s, 15m, 24h).
      return { value: NUMBER.test(text) ? Number(text) : raw };
  }
}

export class UnknownEnvError extends Error {
  override readonly name = 'UnknownEnvError';
  constructor(readonly variables: string[]) {
    super(`unknown environment variable(s): ${variables.join(', ')}`);
  }
}

/** Values of known variables that cannot be read as their setting's type. */
export class EnvValueError extends Error {
  override readonly name = 'EnvValueError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Sets every override found in `env` into the raw config tree; returns which keys came from env. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const fromEnv = new Map<string, string>();
  const known = new Set(ENV_SETTINGS.map((s) => s.env));
  const unknown = Object.keys(env).filter((k) => k.startsWith(ENV_PREFIX) && !known.has(k) && !NOT_SETTINGS.has(k));
  if (unknown.length > 0) throw new UnknownEnvError(unknown);
  const problems: string[] = [];
  for (const setting of ENV_SETTINGS) {
    const value = env[setting.env];
    if (value === undefined) continue;
    const coerced = coerce(value, setting.kind);
    if ('error' in coerced) {
      problems.push(`${setting.path.join('.')} (from ${setting.env}): ${coerced.error}`);
      continue;
    }
    let node = raw;
    for (const segment of setting.path.slice(0, -1)) {
      const next = node[segment];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    }
    node[setting.path.at(-1)!] = coerced.value;
    fromEnv.set(setting.path.join('.'), setting.env);
  }
  if (problems.length > 0) throw new EnvValueError(problems);
  return fromEnv;
}
