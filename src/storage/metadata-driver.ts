/**
 * config → the metadata store's parts (storage.metadata.driver), for the
 * composition root (src/main.ts):
 *
 *   level     LevelKv under <root>/meta, InProcessLocks; one process per data
 *             root (LevelDB's lock refuses a second); nothing to share, no feed.
 *   postgres  PgKv (a table in PostgreSQL, schema migrated at open), PgLocks
 *             (advisory locks: held across replicas), and the change feed
 *             (NOTIFY in each batch's transaction, LISTEN per replica): any
 *             number of replicas share it.
 *
 * `shared` tells the composition root that other processes write the same store:
 * it then keeps the token signing key in the store, and feeds its caches and
 * counters from the change feed rather than from its own batches only.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { InProcessLocks, type Locks } from '../registry/locks.js';
import type { SortedKv } from './kv.js';
import { LevelKv } from './level/level-kv.js';
import { feedMessages, touchesManifestCache, type ChangeFeed } from './metadata/change-feed.js';

export interface MetadataDriver {
  kv: SortedKv;
  locks: Locks;
  /** Other processes may write the same store (replicas). */
  shared: boolean;
  /** Batches committed by every process sharing the store (shared stores only). */
  changes?: ChangeFeed;
  /** Closes what the driver opened besides the kv (locks, feed); after the kv is closed. */
  close(): Promise<void>;
}

/** The postgres driver's modules (and `pg`) are loaded only when it is configured. */
export async function metadataDriver(config: Config, metaDir: string, log: Logger): Promise<MetadataDriver> {
  const metadata = config.storage.metadata;
  if (metadata.driver === 'level') {
    return { kv: new LevelKv(metaDir, log), locks: new InProcessLocks(), shared: false, close: async () => {} };
  }
  const [{ PgChangeListener }, { PgKv }, { PgLocks }] = await Promise.all([
    import('./postgres/change-listener.js'),
    import('./postgres/pg-kv.js'),
    import('./postgres/pg-locks.js'),
  ]);
  const { url, poolSize } = metadata.postgres;
  const plog = log.child({ component: 'postgres' });
  const origin = randomUUID();
  const changes = new PgChangeListener(url, plog, origin);
  let fences = 0;
  const kv = new PgKv({
    url,
    poolSize,
    log: plog,
    // A write to tags or manifests answers its client only once every other replica has
    // dropped them from its manifest cache (acknowledged), or after ACK_TIMEOUT_MS: a client
    // that writes here and then reads there does not get the old tag or manifest.
    announce: (ops) => {
      const fence = touchesManifestCache(ops) ? ++fences : undefined;
      const messages = feedMessages(origin, ops, fence);
      return fence === undefined || messages.length === 0 ? { messages } : { messages, settle: changes.expectAcks(fence) };
    },
  });
  const locks = new PgLocks({ url, waitPoolSize: poolSize, log: plog });
  return {
    kv,
    locks,
    shared: true,
    changes,
    close: async () => {
      await changes.close();
      await locks.close();
    },
  };
}
