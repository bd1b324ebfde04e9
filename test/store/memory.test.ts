import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { MemoryKv } from '../../src/storage/memory/memory-kv.js';
import { runMetadataStoreSuite } from './metadata-suite.js';

runMetadataStoreSuite('in memory', async () => {
  const store = new KvMetadataStore(new MemoryKv());
  await store.open();
  return { store, dispose: () => store.close() };
});
