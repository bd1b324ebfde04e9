/**
 * Secrets out of a configuration before it is shown (`unireg check-config`).
 * One place decides what is secret, by two rules:
 *
 *   - by key name, wherever the key appears: a key one of whose camelCase words
 *     is in SECRET_WORDS (`password`, `secret`, `token`, ...: `secretKey`,
 *     `webhookSecret`, `accessToken`) or that is in SECRET_KEYS (`privateKey`);
 *     only scalar values are replaced (the `auth.token` section is settings,
 *     its leaves are looked at one by one);
 *   - by path, for secrets whose key says nothing: SECRET_PATHS, where `*` is
 *     any one key or list index (`auth.users.*`: the bcrypt hash of each user).
 *
 * Besides, the password in a URL (`https://user:pass@host/`, or a
 * `?password=` parameter as PostgreSQL URLs allow) is replaced in any string. File paths (`auth.htpasswd`, `http.tls.key`) are not secrets and
 * stay. Empty values stay empty, so "not set" still shows.
 */

export const REDACTED = '<redacted>';

/** camelCase words that make a key secret. */
const SECRET_WORDS = new Set(['password', 'passphrase', 'secret', 'token', 'credential', 'credentials']);
/** Whole key names that are secret although none of their words is. */
const SECRET_KEYS = new Set(['apikey', 'privatekey', 'accesskey', 'signingkey', 'clientkey']);
/** Paths whose values are secret whatever their key; `*` matches one key or index. */
export const SECRET_PATHS: readonly string[] = ['auth.users.*'];

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:)[^/@\s]+@/i;
/** A password passed as a URL parameter (`postgresql://host/db?password=...`, libpq's `sslpassword`). */
const URL_PASSWORD_PARAM = /^([a-z][a-z0-9+.-]*:\/\/[^?\s]*\?(?:[^#\s]*&)?(?:ssl)?password=)[^&#\s]+/i;

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_.-]+/)
    .map((w) => w.toLowerCase())
    .filter((w) => w !== '');
}

/** Whether a key's name alone makes its (scalar) value a secret. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase().replace(/[_.-]/g, '')) || words(key).some((w) => SECRET_WORDS.has(w));
}

function matchesSecretPath(path: readonly string[]): boolean {
  return SECRET_PATHS.some((pattern) => {
    const parts = pattern.split('.');
    return parts.length === path.length && parts.every((p, i) => p === '*' || p === path[i]);
  });
}

function isEmpty(value: unknown): boolean {
  return value === '' || value === null || value === undefined;
}

function redactValue(value: unknown, path: string[]): unknown {
  const key = path.at(-1);
  const scalar = typeof value !== 'object' || value === null;
  if (matchesSecretPath(path) || (scalar && key !== undefined && isSecretKey(key))) {
    return isEmpty(value) ? value : REDACTED;
  }
  if (Array.isArray(value)) return value.map((v, i) => redactValue(v, [...path, String(i)]));
  if (!scalar) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactValue(v, [...path, k])]));
  }
  if (typeof value === 'string') return value.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(URL_PASSWORD_PARAM, `$1${REDACTED}`);
  return value;
}

/** A copy of a configuration tree with every secret value replaced by REDACTED. */
export function redactConfig<T>(config: T): T {
  return redactValue(config, []) as T;
}
