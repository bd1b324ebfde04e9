/**
 * The token service's signing key: an ES256 key pair kept as a private JWK
 * (with its `kid`) under the storage root, created on first start with mode
 * 0600 in a 0700 directory, written atomically: a temp file, fsynced, then
 * link()ed to its name, which fails for all but one of several processes
 * creating it at once. Every process then reads back the key that won, so no
 * server signs with a key that is not the one on disk. (The server also loads
 * it only once it holds LevelDB's lock, see src/main.ts.)
 */
import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';
import { syncDir } from '../storage/fs/fsync.js';

export const SIGNING_ALG = 'ES256';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public half, as published in the JWKS. */
  publicJwk: JWK;
}

export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** File systems without hard links say so with one of these. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A new private signing key, as the JWK kept (with its `kid`). */
export async function newSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = SIGNING_ALG;
  jwk.use = 'sig';
  return jwk;
}

/** Creates the key file unless it exists by then; true when this call's key is the one on disk. */
async function create(path: string): Promise<boolean> {
  const jwk = await newSigningJwk();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${randomUUID()}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(jwk)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    // Never replaces a key another process put there first (rename would).
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw err;
    // No hard links here: the LevelDB lock the server holds keeps other servers out.
    await rename(tmp, path);
    return true;
  } finally {
    await rm(tmp, { force: true });
    await syncDir(dirname(path));
  }
}

/** Loads the key at `path`, creating it first if there is none. */
export async function loadSigningKey(path: string, log: Logger): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SigningKeyError(`cannot read ${path}: ${(err as Error).message}`);
    if (await create(path)) log.info({ path }, 'token signing key created');
    // Whichever key won is the one this process signs with.
    text = await readFile(path, 'utf8');
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    await chmod(path, 0o600);
    log.warn({ path, mode: mode.toString(8) }, 'token signing key was readable by others; mode set to 0600');
  }
  return signingKeyOf(text, path);
}

/** The signing key a stored private JWK (`text`, read from `where`) holds. */
export async function signingKeyOf(text: string, where: string): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new SigningKeyError(`${where} is not a JSON Web Key`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new SigningKeyError(`${where} must hold a private P-256 key (ES256)`);
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const privateKey = (await importJWK({ ...jwk, kid }, SIGNING_ALG)) as CryptoKey;
  const { d: _private, ...publicJwk } = jwk;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' } };
}
