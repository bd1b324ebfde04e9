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
import { PgChangeListener } from './postgres/change-listener.js';
import { PgKv } from './postgres/pg-kv.js';
import { PgLocks } from './postgres/pg-locks.js';

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

export function metadataDriver(config: Config, metaDir: string, log: Logger): MetadataDriver {
  const metadata = config.storage.metadata;
  if (metadata.driver === 'level') {
    return { kv: new LevelKv(metaDir, log), locks: new InProcessLocks(), shared: false, close: async () => {} };
  }
  const { url, poolSize } = metadata.postgres;
  const plog = log.child({ component: 'postgres' });
  const origin = randomUUID();
  const changes = new PgChangeListener(url, plog);
  const kv = new PgKv({
    url,
    poolSize,
    log: plog,
    describe: (ops) => feedMessages(origin, ops),
    // A write to tags or manifests returns once the feed has brought this process its own
    // notification back: by then the server has sent every other replica theirs, so a client
    // that writes here and reads there finds the other replica's cache entry already dropped.
    committed: async (ops) => {
      if (touchesManifestCache(ops)) await changes.sync();
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
