/** The quotas setting: sizes with units, file only, the example in deploy/unireg.example.yaml. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ENV_SETTINGS } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema, sizeBytes } from '../../src/config/schema.js';

const EXAMPLE = fileURLToPath(new URL('../../../deploy/unireg.example.yaml', import.meta.url));

describe('quotas configuration', () => {
  test('sizes: bytes, decimal and binary units', () => {
    assert.equal(sizeBytes(1234), 1234);
    assert.equal(sizeBytes('500MB'), 500_000_000);
    assert.equal(sizeBytes('10GiB'), 10 * 2 ** 30);
    assert.equal(sizeBytes('1.5KiB'), 1536);
    assert.equal(sizeBytes('77'), 77);
  });

  test('bad quotas are refused with a message naming the key', async () => {
    for (const [quotas, pattern] of [
      [[{ repository: 'team/**', bytes: '10 gigs' }], /quotas\.0\.bytes/],
      [[{ repository: 'Team/**', bytes: 1 }], /quotas\.0\.repository/],
      [[{ repository: 'a', bytes: 1, extra: true }], /quotas\.0.*extra/],
      [[{ repository: 'a', bytes: 1 }, { repository: 'a', bytes: 2 }], /quotas.*twice/],
    ] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'unireg-quota-'));
      try {
        const file = join(dir, 'c.yaml');
        await writeFile(file, JSON.stringify({ quotas }));
        await assert.rejects(loadConfig({ file, env: {} }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  test('quotas are file only: no environment variable', () => {
    assert.ok(!ENV_SETTINGS.some((s) => s.path[0] === 'quotas'), ENV_SETTINGS.map((s) => s.env).join(' '));
  });

  test('the commented quotas example in the example configuration is valid', async () => {
    const lines = (await readFile(EXAMPLE, 'utf8')).split('\n');
    const start = lines.findIndex((l) => /^#   quotas:$/.test(l));
    assert.ok(start >= 0, 'the example has a commented quotas block');
    const block: string[] = [];
    for (const line of lines.slice(start)) {
      if (!/^#   /.test(line)) break;
      block.push(line.slice(4));
    }
    const parsed = configSchema.parse(parseYaml(block.join('\n')));
    assert.equal(parsed.quotas.length, 2);
    assert.equal(sizeBytes(parsed.quotas[0]!.bytes), 10 * 2 ** 30);
  });
});
