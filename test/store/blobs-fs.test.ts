/** The shared blob-store suite on the fs driver, and what only fs has: a data root shared by several processes. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { createBlobDriver } from '../../src/storage/blob-driver.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { runBlobSuite } from './blob-suite.js';

const roots: string[] = [];
after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

runBlobSuite('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'unireg-blobs-'));
  roots.push(root);
  const driver = await createBlobDriver(configSchema.parse({ storage: { root } }).storage, new Layout(root));
  await driver.blobs.init();
  await driver.uploads.init();
  return { blobs: driver.blobs, uploads: driver.uploads, root, hashing: driver.hashing };
});

test('start-up on a shared root removes only stale temp files: another process keeps the ones it is writing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'unireg-blobs-'));
  roots.push(root);
  const layout = new Layout(root);
  const driver = await createBlobDriver(configSchema.parse({ storage: { root } }).storage, layout);
  await driver.uploads.init();
  const live = join(layout.tmpDir, 'live-spool');
  const stale = join(layout.tmpDir, 'stale-spool');
  await writeFile(live, 'being written by another process');
  await writeFile(stale, 'left by a process that died');
  const old = new Date(Date.now() - 2 * 3600_000);
  await utimes(stale, old, old);
  // A second process starting on the same root.
  await (await createBlobDriver(configSchema.parse({ storage: { root } }).storage, layout)).uploads.init();
  assert.deepEqual(await readdir(layout.tmpDir), ['live-spool']);
});
