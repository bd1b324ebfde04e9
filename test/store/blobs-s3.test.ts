/** The shared blob-store suite on a real S3 server (radosgw from test/engines/start-s3.sh). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { createBlobDriver } from '../../src/storage/blob-driver.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { s3Engine } from '../helpers/s3.js';
import { runBlobSuite } from './blob-suite.js';

const s3 = s3Engine();
const roots: string[] = [];
after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

runBlobSuite('s3', async (t) => {
  if (t && !s3.gate.check(t)) return undefined;
  const root = await mkdtemp(join(tmpdir(), 'unireg-blobs-s3-'));
  roots.push(root);
  const config = configSchema.parse({ storage: { root, blobs: { driver: 's3', s3: s3.settings() } } });
  const driver = await createBlobDriver(config.storage, new Layout(root));
  await driver.blobs.init();
  await driver.uploads.init();
  return { blobs: driver.blobs, uploads: driver.uploads, root, hashing: driver.hashing };
});
