/** The `unikernel.bootCheck` and `unikernel.urunc` settings: defaults, checks, environment forms. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

async function withFile(yaml: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-bootcfg-'));
  try {
    const file = join(dir, 'unireg.yaml');
    await writeFile(file, yaml);
    await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('boot checks are off by default, with these limits', () => {
  const { bootCheck, urunc } = configSchema.parse({}).unikernel;
  assert.deepEqual(bootCheck, { enabled: false, timeout: '30s', memory: 64, expectedOutput: '', user: 'nobody', repositories: [] });
  assert.equal(urunc, false);
});

test('rules by repository glob, and the environment forms', async () => {
  await withFile(
    'unikernel:\n  bootCheck:\n    repositories:\n      - repository: "apps/**"\n        expectedOutput: "Powered by"\n      - repository: "apps/scratch/*"\n        enabled: false\n',
    async (file) => {
      const config = await loadConfig({
        file,
        env: {
          UNIREG_UNIKERNEL_BOOT_CHECK_ENABLED: 'true',
          UNIREG_UNIKERNEL_BOOT_CHECK_TIMEOUT: '5s',
          UNIREG_UNIKERNEL_BOOT_CHECK_MEMORY: '128',
          UNIREG_UNIKERNEL_BOOT_CHECK_EXPECTED_OUTPUT: '^ok',
          UNIREG_UNIKERNEL_BOOT_CHECK_USER: 'unireg-boot',
          UNIREG_UNIKERNEL_URUNC: 'true',
        },
      });
      assert.deepEqual(config.unikernel.bootCheck, {
        enabled: true,
        timeout: '5s',
        memory: 128,
        expectedOutput: '^ok',
        user: 'unireg-boot',
        repositories: [
          { repository: 'apps/**', enabled: true, expectedOutput: 'Powered by' },
          { repository: 'apps/scratch/*', enabled: false },
        ],
      });
      assert.equal(config.unikernel.urunc, true);
    },
  );
});

test('a bad regex, memory, user or unknown key is refused, naming the setting', async () => {
  const cases: [string, RegExp][] = [
    ['unikernel:\n  bootCheck:\n    expectedOutput: "("\n', /unikernel\.bootCheck\.expectedOutput.*not a regular expression/s],
    ['unikernel:\n  bootCheck:\n    repositories:\n      - repository: "a"\n        expectedOutput: "["\n', /repositories.*not a regular expression/s],
    ['unikernel:\n  bootCheck:\n    memory: 1\n', /unikernel\.bootCheck\.memory/],
    ['unikernel:\n  bootCheck:\n    user: "Root User"\n', /unikernel\.bootCheck\.user/],
    ['unikernel:\n  bootCheck:\n    network: true\n', /network/],
  ];
  for (const [yaml, pattern] of cases) {
    await withFile(yaml, async (file) => {
      await assert.rejects(loadConfig({ file, env: {} }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), yaml);
    });
  }
});
