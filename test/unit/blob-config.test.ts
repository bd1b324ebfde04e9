/** storage.blobs: the driver choice, the S3 settings from the file or UNIREG_* variables, checks, redaction. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { redactConfig, REDACTED } from '../../src/config/redact.js';

test('the default is the fs driver without redirects', async () => {
  const config = await loadConfig({ env: {} });
  assert.equal(config.storage.blobs.driver, 'fs');
  assert.equal(config.storage.blobs.redirect, false);
  assert.equal(config.storage.blobs.directWrites, true);
});

test('direct writes can be turned off from the file or UNIREG_STORAGE_BLOBS_DIRECT_WRITES', async () => {
  const config = await loadConfig({ env: { UNIREG_STORAGE_BLOBS_DIRECT_WRITES: 'false' } });
  assert.equal(config.storage.blobs.directWrites, false);
});

test('hashing threads: 1 by default, more from UNIREG_STORAGE_BLOBS_HASH_THREADS, 0 and fractions refused', async () => {
  assert.equal((await loadConfig({ env: {} })).storage.blobs.hashThreads, 1);
  assert.equal((await loadConfig({ env: { UNIREG_STORAGE_BLOBS_HASH_THREADS: '3' } })).storage.blobs.hashThreads, 3);
  for (const bad of ['0', '1.5', 'many']) {
    await assert.rejects(loadConfig({ env: { UNIREG_STORAGE_BLOBS_HASH_THREADS: bad } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /UNIREG_STORAGE_BLOBS_HASH_THREADS|storage\.blobs\.hashThreads/);
      return true;
    });
  }
});

test('the s3 settings come from UNIREG_STORAGE_BLOBS_* variables; the keys are redacted when shown', async () => {
  const config = await loadConfig({
    env: {
      UNIREG_STORAGE_BLOBS_DRIVER: 's3',
      UNIREG_STORAGE_BLOBS_REDIRECT: 'true',
      UNIREG_STORAGE_BLOBS_S3_ENDPOINT: 'http://127.0.0.1:7480',
      UNIREG_STORAGE_BLOBS_S3_BUCKET: 'registry',
      UNIREG_STORAGE_BLOBS_S3_PREFIX: 'unireg',
      UNIREG_STORAGE_BLOBS_S3_ACCESS_KEY: 'AKIA-EXAMPLE',
      UNIREG_STORAGE_BLOBS_S3_SECRET_KEY: 'very-secret',
      UNIREG_STORAGE_BLOBS_S3_FORCE_PATH_STYLE: 'yes',
    },
  });
  assert.deepEqual(config.storage.blobs, {
    driver: 's3',
    redirect: true,
    directWrites: true,
    hashThreads: 1,
    s3: {
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      bucket: 'registry',
      prefix: 'unireg',
      accessKey: 'AKIA-EXAMPLE',
      secretKey: 'very-secret',
      forcePathStyle: true,
    },
  });
  const shown = redactConfig(config).storage.blobs.s3;
  assert.equal(shown.accessKey, REDACTED);
  assert.equal(shown.secretKey, REDACTED);
  assert.equal(shown.bucket, 'registry');
});

test('s3 without a bucket, one key without the other, and redirect on fs are refused', async () => {
  for (const env of [
    { UNIREG_STORAGE_BLOBS_DRIVER: 's3' },
    { UNIREG_STORAGE_BLOBS_DRIVER: 's3', UNIREG_STORAGE_BLOBS_S3_BUCKET: 'b', UNIREG_STORAGE_BLOBS_S3_ACCESS_KEY: 'a' },
    { UNIREG_STORAGE_BLOBS_REDIRECT: 'true' },
    { UNIREG_STORAGE_BLOBS_DRIVER: 'gcs' },
  ]) {
    await assert.rejects(loadConfig({ env }), ConfigError, JSON.stringify(env));
  }
});
