/**
 * Scopes, as the Docker token protocol writes them: `repository:NAME:pull,push`
 * and `registry:catalog:*`; and the `access` claim they become in a token.
 */
import type { Action } from '../config/auth-schema.js';

/** One resource and the actions asked for or granted on it (a token's `access` entry). */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** What a request needs: actions on one repository, the catalog, or the registry's maintenance endpoints. */
export type Need =
  | { type: 'repository'; name: string; actions: readonly Action[] }
  | { type: 'registry'; name: RegistryResource; actions: readonly ['*'] };

/** Registry-wide resources, as token scopes name them: `registry:catalog:*`, `registry:admin:*`, `registry:metrics:*`. */
export type RegistryResource = 'catalog' | 'admin' | 'metrics';

export function isRegistryResource(name: string): name is RegistryResource {
  return name === 'catalog' || name === 'admin' || name === 'metrics';
}

/** Parses `type[(class)]:name:actions`; undefined for anything else. Names may hold `:` (a port), actions may not. */
export function parseScope(text: string): AccessEntry | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = text.slice(0, first).replace(/\([^)]*\)$/, '');
  const name = text.slice(first + 1, last);
  const actions = text
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (!/^[a-z]+$/.test(type) || name === '' || actions.length === 0) return undefined;
  return { type, name, actions: [...new Set(actions)] };
}

/** Every scope in a list of `scope` parameters (each may hold several, space-separated). */
export function parseScopes(values: readonly string[]): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const value of values) {
    for (const part of value.split(' ')) {
      const entry = part === '' ? undefined : parseScope(part);
      if (entry) out.push(entry);
    }
  }
  return out;
}

export function formatScope(entry: { type: string; name: string; actions: readonly string[] }): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

/** Whether `granted` allows every action `need` asks for. */
export function covers(granted: readonly AccessEntry[], need: Need): boolean {
  return need.actions.every((action) =>
    granted.some((g) => g.type === need.type && g.name === need.name && (g.actions.includes(action) || g.actions.includes('*'))),
  );
}

/** Whether an `access` claim value has the shape of a list of entries. */
export function isAccessList(value: unknown): value is AccessEntry[] {
  return (
    Array.isArray(value) &&
    value.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as AccessEntry).type === 'string' &&
        typeof (e as AccessEntry).name === 'string' &&
        Array.isArray((e as AccessEntry).actions) &&
        (e as AccessEntry).actions.every((a) => typeof a === 'string'),
    )
  );
}
