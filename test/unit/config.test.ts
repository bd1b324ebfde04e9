import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { envName, ENV_SETTINGS } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { durationMs } from '../../src/config/schema.js';

async function yamlFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-config-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, text);
  return file;
}

async function problems(options: Parameters<typeof loadConfig>[0]): Promise<string[]> {
  try {
    await loadConfig(options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('defaults: loopback :5000, ./storage, 4 MiB manifests, deletes on, no mount without from', async () => {
    const c = await loadConfig({ env: {} });
    assert.equal(c.http.addr, '127.0.0.1:5000');
    assert.equal(c.storage.root, './storage');
    assert.equal(c.manifests.maxSize, 4 * 1024 * 1024);
    assert.equal(c.deletes.enabled, true);
    assert.equal(c.uploads.mountWithoutFrom, false);
  });

  test('env names are derived mechanically from key paths', () => {
    assert.equal(envName(['http', 'addr']), 'UNIREG_HTTP_ADDR');
    assert.equal(envName(['storage', 'root']), 'UNIREG_STORAGE_ROOT');
    assert.equal(envName(['uploads', 'mountWithoutFrom']), 'UNIREG_UPLOADS_MOUNT_WITHOUT_FROM');
    assert.ok(ENV_SETTINGS.some((s) => s.env === 'UNIREG_MANIFESTS_MAX_SIZE'));
  });

  test('the file is read, then the environment overrides it with typed values', async () => {
    const file = await yamlFile('http:\n  addr: 127.0.0.1:6000\nuploads:\n  expiry: 2h\ndeletes:\n  enabled: true\n');
    const c = await loadConfig({
      file,
      env: { UNIREG_HTTP_ADDR: '127.0.0.1:7000', UNIREG_DELETES_ENABLED: 'false', UNIREG_MANIFESTS_MAX_SIZE: '1024', UNIREG_UPLOADS_EXPIRY: '90' },
    });
    assert.equal(c.http.addr, '127.0.0.1:7000');
    assert.equal(c.deletes.enabled, false);
    assert.equal(c.manifests.maxSize, 1024);
    assert.equal(durationMs(c.uploads.expiry), 90_000);
  });

  test('unknown keys are rejected and named', async () => {
    const file = await yamlFile('http:\n  adr: 127.0.0.1:6000\nstorge: {}\n');
    const p = await problems({ file, env: {} });
    assert.ok(p.some((x) => x.includes('http.adr')), p.join('\n'));
    assert.ok(p.some((x) => x.includes('storge')), p.join('\n'));
  });

  test('a bad value names its key, and the variable it came from', async () => {
    const p = await problems({ env: { UNIREG_HTTP_ADDR: 'nonsense' } });
    assert.ok(p.some((x) => x.startsWith('http.addr (from UNIREG_HTTP_ADDR)')), p.join('\n'));
    const q = await problems({ env: { UNIREG_LOG_LEVEL: 'loud' } });
    assert.ok(q.some((x) => x.startsWith('log.level')), q.join('\n'));
  });

  test('an unknown UNIREG_ variable is an error', async () => {
    const p = await problems({ env: { UNIREG_HTTP_ADRESS: 'x' } });
    assert.match(p.join('\n'), /UNIREG_HTTP_ADRESS/);
  });

  test('a missing or malformed file is a clear error', async () => {
    assert.match((await problems({ file: '/nonexistent/unireg.yaml', env: {} })).join(), /cannot read config file/);
    assert.match((await problems({ file: await yamlFile('http: [1, 2'), env: {} })).join(), /not valid YAML/);
  });
});
