import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { createBlobDriver } from '../../src/storage/blob-driver.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { runBlobSuite } from './blob-suite.js';

const roots: string[] = [];
after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

runBlobSuite('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'unireg-blobs-'));
  roots.push(root);
  const driver = createBlobDriver(configSchema.parse({ storage: { root } }).storage, new Layout(root));
  await driver.blobs.init();
  await driver.uploads.init();
  return { blobs: driver.blobs, uploads: driver.uploads, root, hashing: driver.hashing };
});
