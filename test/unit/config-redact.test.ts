/** The redaction rules of `unireg check-config` (src/config/redact.ts): secrets by key name and by path, file paths kept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSecretKey, REDACTED, redactConfig } from '../../src/config/redact.js';
import { configSchema } from '../../src/config/schema.js';

test('key names: words like password, secret, token make a key secret; file paths and other settings do not', () => {
  for (const key of ['password', 'secret', 'secretKey', 'webhookSecret', 'accessToken', 'token', 'clientSecret', 'api_key', 'apiKey', 'privateKey', 'passphrase', 'credentials']) {
    assert.ok(isSecretKey(key), key);
  }
  for (const key of ['htpasswd', 'key', 'certificate', 'tokens', 'service', 'refreshExpiry', 'jwks', 'realm', 'mode']) {
    assert.equal(isSecretKey(key), false, key);
  }
});

test('a config tree: hashes, secrets and URL passwords go, names, paths and structure stay', () => {
  const hash = `$2y$05$${'a'.repeat(53)}`;
  const tree = {
    auth: { htpasswd: '/etc/unireg/htpasswd', users: { alice: hash }, token: { service: 'unireg', realm: 'https://bob:hunter2@auth.example.com/token', jwks: '' } },
    http: { tls: { certificate: '/tls/cert.pem', key: '/tls/key.pem' } },
    webhooks: [{ url: 'https://hooks.example.com/x', secret: 'shh', headers: { authorizationToken: 'abc' } }],
    storage: { s3: { secretKey: 'sk', accessKey: 'AK', password: '' } },
  };
  assert.deepEqual(redactConfig(tree), {
    auth: { htpasswd: '/etc/unireg/htpasswd', users: { alice: REDACTED }, token: { service: 'unireg', realm: `https://bob:${REDACTED}@auth.example.com/token`, jwks: '' } },
    http: { tls: { certificate: '/tls/cert.pem', key: '/tls/key.pem' } },
    webhooks: [{ url: 'https://hooks.example.com/x', secret: REDACTED, headers: { authorizationToken: REDACTED } }],
    storage: { s3: { secretKey: REDACTED, accessKey: REDACTED, password: '' } },
  });
  assert.equal(tree.auth.users.alice, hash, 'the input is not changed');
});

test('the whole default configuration has nothing to redact: it comes back unchanged', () => {
  const defaults = configSchema.parse({});
  assert.deepEqual(redactConfig(defaults), defaults);
});

test('storage.metadata.postgres.url: the password goes, in the user part or as a parameter; host and database stay', () => {
  const config = configSchema.parse({
    storage: { metadata: { driver: 'postgres', postgres: { url: 'postgresql://unireg:s3cr%2Ft@db.internal:5432/registry?sslmode=require' } } },
  });
  assert.equal(redactConfig(config).storage.metadata.postgres.url, `postgresql://unireg:${REDACTED}@db.internal:5432/registry?sslmode=require`);
  const param = 'postgres://db.internal/registry?user=unireg&password=hunter2&sslmode=verify-full';
  assert.equal(redactConfig({ url: param }).url, `postgres://db.internal/registry?user=unireg&password=${REDACTED}&sslmode=verify-full`);
  assert.equal(redactConfig({ url: 'postgres://db/r?sslpassword=pw' }).url, `postgres://db/r?sslpassword=${REDACTED}`);
  assert.throws(() => configSchema.parse({ storage: { metadata: { driver: 'postgres' } } }), /postgres\.url is required/);
});
