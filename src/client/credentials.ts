/**
 * Credentials for the registry, ready for when it asks for them:
 *
 *   1. `--user U --password P`, or `--user U --password-stdin` (the password is read
 *      from standard input, which keeps it out of the process list);
 *   2. otherwise the `auths` entry for the host in the Docker client config
 *      (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as written by
 *      `docker login` / `podman login --compat-auth-file`: `auth` is base64 `user:pass`,
 *      or an `identitytoken` (a refresh token from a token service) beside the name.
 *
 * src/client/auth.ts turns them into a Basic header or trades them for a Bearer
 * token, as the registry asks. Credentials never appear in messages: errors name
 * the file and host, never the values.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  username: string;
  password: string;
  /**
   * The refresh token `docker login` keeps (`identitytoken`) when the registry's
   * token service gave one: traded for access tokens in place of the password.
   */
  identityToken?: string;
  /** Where they came from, for messages (`--user`, or the config file path). */
  source: string;
}

export interface CredentialOptions {
  /** `host[:port]` as the user wrote it. */
  host: string;
  user?: string | undefined;
  password?: string | undefined;
  /** Read the password from this stream (`--password-stdin`). */
  passwordStdin?: NodeJS.ReadableStream | undefined;
  /** The environment to read DOCKER_CONFIG and HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

/** The Docker config file the client would read. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  return join(env.HOME || homedir(), '.docker', 'config.json');
}

/** `https://host:5000/v2/` → `host:5000`: how docker config keys are compared. */
export function normalizeAuthKey(key: string): string {
  return key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

interface AuthEntry {
  auth?: unknown;
  identitytoken?: unknown;
  username?: unknown;
  password?: unknown;
}

function decodeAuth(entry: AuthEntry, path: string, host: string): Credentials | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    // docker login stores `auth` as base64 "user:" beside the token: only the name counts.
    const decoded = typeof entry.auth === 'string' ? Buffer.from(entry.auth, 'base64').toString('utf8') : '';
    const fromAuth = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : '';
    const username = fromAuth || (typeof entry.username === 'string' ? entry.username : '');
    return { username, password: '', identityToken: entry.identitytoken, source: path };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new CredentialsError(`${path}: the auth entry for ${host} is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: path };
  }
  if (typeof entry.username === 'string' && entry.username !== '' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password, source: path };
  }
  return undefined;
}

/** The credentials in a Docker config file for `host`, if it has any. A missing file means none. */
export async function fromDockerConfig(path: string, host: string): Promise<Credentials | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CredentialsError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new CredentialsError(`${path} is not valid JSON`);
  }
  const auths = typeof config === 'object' && config !== null ? (config as { auths?: unknown }).auths : undefined;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const wanted = normalizeAuthKey(host);
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (normalizeAuthKey(key) !== wanted || typeof entry !== 'object' || entry === null) continue;
    const found = decodeAuth(entry as AuthEntry, path, host);
    if (found) return found;
  }
  return undefined;
}

/** The whole stream, without its final line ending (as `docker login --password-stdin`). */
async function readPassword(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (chunks.length > 1024) throw new CredentialsError('--password-stdin: the input is too long for a password');
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CredentialsError('--password-stdin: standard input was empty');
  return password;
}

/** The credentials to use for `host`, or undefined to send none. */
export async function resolveCredentials(opts: CredentialOptions): Promise<Credentials | undefined> {
  const env = opts.env ?? process.env;
  if (opts.user !== undefined) {
    if (opts.user === '' || opts.user.includes(':')) throw new CredentialsError('--user must be a non-empty name without ":"');
    if (opts.password !== undefined && opts.passwordStdin) throw new CredentialsError('use one of --password and --password-stdin');
    const password = opts.passwordStdin ? await readPassword(opts.passwordStdin) : opts.password;
    if (password === undefined) throw new CredentialsError('--user needs --password or --password-stdin');
    return { username: opts.user, password, source: '--user' };
  }
  if (opts.password !== undefined || opts.passwordStdin) throw new CredentialsError('--password and --password-stdin need --user');
  return fromDockerConfig(dockerConfigPath(env), opts.host);
}

/** The credentials from a client command's `--user`/`--password`/`--password-stdin`; a CredentialsError if they do not fit. */
export function commandCredentials(
  host: string,
  values: { user?: string | undefined; password?: string | undefined; 'password-stdin'?: boolean | undefined },
): Promise<Credentials | undefined> {
  return resolveCredentials({
    host,
    user: values.user,
    password: values.password,
    passwordStdin: values['password-stdin'] ? process.stdin : undefined,
  });
}

/** The `Authorization` header value for Basic authentication. */
export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}
