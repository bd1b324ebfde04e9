/**
 * The on-disk layout under the storage root: the only module that builds paths.
 *
 *   <root>/
 *     blobs/<algorithm>/<first two hex>/<hex>   blob content, immutable, named by digest
 *     uploads/<uuid>                            data of an upload session in progress
 *     tmp/<random>                              single-request uploads before verification
 *     meta/                                     LevelDB (key layout: src/storage/metadata/keys.ts)
 *     meta.owner/                               an empty LevelDB held open for its LOCK: the process owning meta/
 *                                               (src/storage/level/level-kv.ts)
 *     auth/token-key.json                       the token service's ES256 signing key (JWK, mode 0600)
 *     quarantine/<algorithm>/<hex>              a blob `unireg verify --repair` found corrupt (+ <hex>.note.json)
 *     quarantine/manifests/<repo>/<alg>/<hex>   a manifest verify --repair removed (its exact bytes, + .note.json)
 *
 * Every component comes from a parsed Digest or a generated id, never raw input.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { digestAlgorithm, digestHex, tryParseDigest, type Digest } from '../../oci/digest.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(value: string): boolean {
  return UUID.test(value);
}

export function newUploadId(): string {
  return randomUUID();
}

export class Layout {
  constructor(readonly root: string) {}

  get blobsDir(): string {
    return join(this.root, 'blobs');
  }

  get uploadsDir(): string {
    return join(this.root, 'uploads');
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  get metaDir(): string {
    return join(this.root, 'meta');
  }

  get authDir(): string {
    return join(this.root, 'auth');
  }

  get tokenKeyPath(): string {
    return join(this.authDir, 'token-key.json');
  }

  blobPath(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  /**
   * The digest a file at blobs/<algorithm>/<prefix>/<name> holds, or undefined
   * when that path is not one blobPath() builds (a stray file).
   */
  blobDigestAt(algorithm: string, prefix: string, name: string): Digest | undefined {
    const digest = tryParseDigest(`${algorithm}:${name}`);
    return digest !== undefined && name.slice(0, 2) === prefix ? digest : undefined;
  }

  uploadPath(id: string): string {
    if (!isUploadId(id)) throw new Error(`not an upload id: ${id}`);
    return join(this.uploadsDir, id);
  }

  tmpPath(): string {
    return join(this.tmpDir, randomUUID());
  }

  get quarantineDir(): string {
    return join(this.root, 'quarantine');
  }

  /** Where a corrupt blob is moved; its note is `${path}.note.json`. */
  quarantineBlobPath(digest: Digest): string {
    return join(this.quarantineDir, digestAlgorithm(digest), digestHex(digest));
  }

  /** Where a removed manifest's bytes are kept; its note is `${path}.note.json`. */
  quarantineManifestPath(repo: string, digest: Digest): string {
    return join(this.quarantineDir, 'manifests', repo, digestAlgorithm(digest), digestHex(digest));
  }
}
