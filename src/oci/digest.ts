/**
 * Digests: the `algorithm:encoded` identifiers of content. Parsing is strict
 * so that a digest can be used as a path component and a LevelDB key without
 * escaping: only the registered algorithms with lowercase hex are accepted.
 */
import { createHash, type Hash } from 'node:crypto';
import { DigestInvalidError } from '../domain/errors.js';

export type Digest = string & { readonly __brand: 'Digest' };
export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
/** The grammar of the spec: any algorithm matches it, but only some are supported. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigestLike(value: string): boolean {
  return value.includes(':');
}

/** Parses a digest or throws DigestInvalidError naming what is wrong with it. */
export function parseDigest(value: string): Digest {
  if (!DIGEST_GRAMMAR.test(value)) throw new DigestInvalidError(value, 'not of the form algorithm:hex');
  const sep = value.indexOf(':');
  const algorithm = value.slice(0, sep);
  const encoded = value.slice(sep + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new DigestInvalidError(value, `unsupported algorithm ${algorithm}`);
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(encoded)) {
    throw new DigestInvalidError(value, `${algorithm} needs ${ENCODED_LENGTH[algorithm]} lowercase hex characters`);
  }
  return value as Digest;
}

export function tryParseDigest(value: string): Digest | undefined {
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function newHash(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

export function finishDigest(hash: Hash, algorithm: DigestAlgorithm): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}
