/**
 * The token service's signing key: an ES256 key pair kept as a private JWK
 * (with its `kid`) under the storage root, created on first start with mode
 * 0600 in a 0700 directory, written atomically (temp file, fsync, rename).
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
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

async function create(path: string): Promise<void> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = SIGNING_ALG;
  jwk.use = 'sig';
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
    await rename(tmp, path);
    await syncDir(dirname(path));
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Loads the key at `path`, creating it first if there is none. */
export async function loadSigningKey(path: string, log: Logger): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SigningKeyError(`cannot read ${path}: ${(err as Error).message}`);
    await create(path);
    log.info({ path }, 'token signing key created');
    text = await readFile(path, 'utf8');
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    await chmod(path, 0o600);
    log.warn({ path, mode: mode.toString(8) }, 'token signing key was readable by others; mode set to 0600');
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new SigningKeyError(`${path} is not a JSON Web Key`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new SigningKeyError(`${path} must hold a private P-256 key (ES256)`);
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const privateKey = (await importJWK({ ...jwk, kid }, SIGNING_ALG)) as CryptoKey;
  const { d: _private, ...publicJwk } = jwk;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' } };
}
