import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { runMetadataStoreSuite } from './metadata-suite.js';

runMetadataStoreSuite('LevelDB on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-level-'));
  let store = new KvMetadataStore(new LevelKv(join(dir, 'meta')));
  await store.open();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new KvMetadataStore(new LevelKv(join(dir, 'meta')));
      await store.open();
      return store;
    },
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
