/**
 * The `retention` and `immutableTags` settings: file only, validated strictly,
 * and the commented examples in deploy/unireg.example.yaml are valid.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ENV_SETTINGS } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

function repoRoot(): string {
  const fromUrl = fileURLToPath(new URL('../../../', import.meta.url));
  return existsSync(join(fromUrl, 'deploy', 'unireg.example.yaml')) ? fromUrl : process.cwd();
}

async function problemsOf(yaml: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-cfg-'));
  try {
    await writeFile(join(dir, 'c.yaml'), yaml);
    await loadConfig({ file: join(dir, 'c.yaml'), env: {} });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('retention and immutableTags are file only: no environment variables', async () => {
  for (const name of ['UNIREG_RETENTION', 'UNIREG_IMMUTABLE_TAGS']) {
    assert.ok(!ENV_SETTINGS.some((s) => s.env === name), name);
    await assert.rejects(loadConfig({ env: { [name]: 'x' } }), (err: unknown) => err instanceof ConfigError && err.message.includes(name));
  }
  const c = configSchema.parse({});
  assert.deepEqual(c.retention, []);
  assert.deepEqual(c.immutableTags, []);
});

test('rules load with their defaults', async () => {
  assert.deepEqual(
    await problemsOf('retention:\n  - repository: "ci/**"\n    keepLast: 3\n  - repository: "x"\nimmutableTags:\n  - repository: "**"\n    tags: ["v.*"]\n'),
    [],
  );
  const c = configSchema.parse({ retention: [{ repository: 'ci/**', deleteOlderThan: '7d' }] });
  assert.deepEqual(c.retention, [{ repository: 'ci/**', deleteOlderThan: '7d', keepTags: [], keepOnePerPlatform: false }]);
});

test('bad rules are refused with a message naming the key', async () => {
  const cases: [string, RegExp][] = [
    ['retention:\n  - repository: "A/B"\n    keepLast: 1\n', /retention\.0\.repository/],
    ['retention:\n  - repository: "x"\n    keepLast: -1\n', /retention\.0\.keepLast/],
    ['retention:\n  - repository: "x"\n    keepLast: 1.5\n', /retention\.0\.keepLast/],
    ['retention:\n  - repository: "x"\n    keepLast: 1\n    keepTags: ["v("]\n', /retention\.0\.keepTags\.0: not a regular expression/],
    ['retention:\n  - repository: "x"\n    deleteOlderThan: "soon"\n', /retention\.0\.deleteOlderThan/],
    ['retention:\n  - repository: "x"\n    keepTags: ["v.*"]\n', /retention\.0: keepTags and keepOnePerPlatform only protect/],
    ['retention:\n  - repository: "x"\n    keepOnePerPlatform: true\n', /retention\.0: keepTags and keepOnePerPlatform only protect/],
    ['retention:\n  - repository: "x"\n    keepLast: 1\n    keep: 2\n', /retention\.0\.keep\b/],
    ['immutableTags:\n  - repository: "x"\n', /immutableTags\.0\.tags/],
    ['immutableTags:\n  - repository: "x"\n    tags: ["["]\n', /immutableTags\.0\.tags\.0: not a regular expression/],
    ['immutableTags:\n  - repository: "x"\n    tags: ["v"]\n    extra: 1\n', /immutableTags\.0\.extra/],
  ];
  for (const [yaml, expected] of cases) {
    const problems = await problemsOf(yaml);
    assert.ok(problems.some((p) => expected.test(p)), `${yaml}\n→ ${problems.join('\n')}`);
  }
});

test('the commented retention and immutableTags examples in deploy/unireg.example.yaml are valid', () => {
  const text = readFileSync(join(repoRoot(), 'deploy', 'unireg.example.yaml'), 'utf8');
  for (const key of ['retention', 'immutableTags']) {
    // The commented block "#   key:" up to the first line that is not a comment.
    const start = text.indexOf(`#   ${key}:\n`);
    assert.ok(start >= 0, `no commented ${key} example`);
    const lines: string[] = [];
    for (const line of text.slice(start).split('\n')) {
      if (!line.startsWith('#')) break;
      lines.push(line.replace(/^# {0,3}/, ''));
    }
    const parsed = configSchema.safeParse(parseYaml(lines.join('\n')));
    assert.ok(parsed.success, `${key}: ${parsed.success ? '' : parsed.error.message}`);
    const rules = key === 'retention' ? parsed.data.retention : parsed.data.immutableTags;
    assert.ok(rules.length >= 2, key);
  }
});

test('every yaml example in docs/retention.md is a valid configuration', () => {
  const text = readFileSync(join(repoRoot(), 'docs', 'retention.md'), 'utf8');
  const blocks = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  assert.ok(blocks.length >= 2, 'docs/retention.md has yaml examples');
  for (const block of blocks) {
    const parsed = configSchema.safeParse(parseYaml(block));
    assert.ok(parsed.success, `${block}\n${parsed.success ? '' : parsed.error.message}`);
  }
});
