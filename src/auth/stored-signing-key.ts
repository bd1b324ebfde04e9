/**
 * The token signing key kept in the metadata store, for replicas sharing one
 * (storage.metadata.driver postgres): every replica must sign with, and
 * verify against, the same key, which a per-replica file cannot give. The
 * composition root picks this loader when the store is shared
 * (src/storage/metadata-driver.ts), the file (src/auth/signing-key.ts) otherwise.
 *
 * Created if absent under the lock `job:signing-key` of the shared Locks (an
 * advisory lock across replicas), re-reading inside it: replicas starting at
 * once create one key, and each signs with the one that won. The private key is
 * then as safe as the database: its credentials and backups must be kept like
 * the key itself.
 */
import type { Logger } from 'pino';
import { jobKey, type Locks } from '../registry/locks.js';
import type { SortedKv } from '../storage/kv.js';
import { keys } from '../storage/metadata/keys.js';
import { newSigningJwk, signingKeyOf, type SigningKey } from './signing-key.js';

const WHERE = 'the metadata store (token-key record)';

export async function loadStoredSigningKey(kv: SortedKv, locks: Locks, log: Logger): Promise<SigningKey> {
  const key = keys.signingKey();
  const existing = await kv.get(key);
  if (existing) return signingKeyOf(existing.toString('utf8'), WHERE);
  const text = await locks.run(jobKey('signing-key'), async () => {
    const again = await kv.get(key);
    if (again) return again.toString('utf8');
    const created = JSON.stringify(await newSigningJwk());
    await kv.batch([{ type: 'put', key, value: Buffer.from(created) }], { durable: true });
    log.info('token signing key created in the metadata store');
    return created;
  });
  return signingKeyOf(text, WHERE);
}
