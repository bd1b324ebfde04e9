/**
 * CI installs what the tests run. TEST_TOOLS (test/helpers/tools.ts) names every
 * executable a test runs and its Debian package; `.ci/run`, which CI runs on a
 * fresh Debian machine, must install each of those packages and check for each
 * tool after the install. And no test runs a tool the table does not name: the
 * test sources are scanned for the commands they spawn.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, repoFiles } from '../helpers/repo.js';
import { run, TEST_TOOLS, truthy, type Tool } from '../helpers/tools.js';

const CI_RUN = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');

/** The words of a bash array assignment `NAME=( ... )` in .ci/run, comments removed. */
function bashArray(name: string): string[] {
  const m = new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(CI_RUN);
  assert.ok(m, `.ci/run has no ${name}=( ... ) array`);
  return m[1]!
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
}

const isTool = (name: string): name is Tool => Object.hasOwn(TEST_TOOLS, name);

describe('.ci/run and TEST_TOOLS', () => {
  test('.ci/run installs the Debian package of every tool the tests run', () => {
    const packages = new Set(bashArray('PACKAGES'));
    const missing = Object.entries(TEST_TOOLS).filter(([, pkg]) => !packages.has(pkg));
    assert.deepEqual(missing, [], `add these packages to PACKAGES in .ci/run: ${missing.map(([tool, pkg]) => `${pkg} (for ${tool})`).join(', ')}`);
  });

  test(".ci/run's post-install check names exactly the tools the tests run", () => {
    assert.match(CI_RUN, /for tool in "\$\{TOOLS\[@\]\}"; do\s+command -v "\$tool"/, 'the check loops over TOOLS');
    const checked = bashArray('TOOLS');
    assert.deepEqual([...checked].sort(), Object.keys(TEST_TOOLS).sort(), 'TOOLS in .ci/run must equal the keys of TEST_TOOLS');
  });

  test('every command a test spawns by name is in TEST_TOOLS', () => {
    // run('skopeo', ...), spawnSync('tar', ...), which('dockerd'), execFile('bash', ...)
    const call = /\b(?:run|spawn|spawnSync|execFile|execFileSync|which)\(\s*'([^'/]+)'/g;
    // requireTool(t, 'ctr', ...), gateFor(['skopeo', ...]), gateFor({ tools: [...] })
    const lists = /\b(?:requireTool\(\s*\w+\s*,([^)]*)\)|(?:gateFor|missingReason|requireAll)\(\s*(?:\{\s*tools:\s*)?\[([^\]]*)\])/g;
    const unknown: string[] = [];
    let seen = 0;
    for (const file of repoFiles('test', '.ts')) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      for (const m of text.matchAll(call)) {
        seen++;
        if (!isTool(m[1]!)) unknown.push(`${file}: ${m[0]}`);
      }
      for (const m of text.matchAll(lists)) {
        for (const name of (m[1] ?? m[2]!).matchAll(/'([^']+)'/g)) {
          seen++;
          if (!isTool(name[1]!)) unknown.push(`${file}: ${name[1]} in ${m[0]}`);
        }
      }
    }
    assert.ok(seen > 10, `the scan found the test's commands (${seen})`);
    assert.deepEqual(unknown, [], 'add these tools (with their Debian package) to TEST_TOOLS in test/helpers/tools.ts');
  });

  test('docker-registry (CNCF Distribution) is a test dependency: the upstream of the pull-through cache tests', () => {
    assert.equal(isTool('docker-registry'), true, 'test/proxy/ runs docker-registry');
  });
});

describe('CI detection', () => {
  test('CI is on for true, 1, yes and on in any case, and off otherwise', () => {
    for (const v of ['true', 'TRUE', 'True', '1', 'yes', 'YES', 'on', 'On', ' true ']) assert.equal(truthy(v), true, JSON.stringify(v));
    for (const v of [undefined, '', '0', 'false', 'no', 'off', 'nope', '2']) assert.equal(truthy(v), false, JSON.stringify(v));
  });

  test('under CI=1 a missing tool fails the test instead of skipping it', async () => {
    const tools = new URL('../helpers/tools.js', import.meta.url).href;
    // A child process, so that `inCI` is computed from the CI value given here.
    const script = `const m = await import(${JSON.stringify(tools)}); process.stdout.write(JSON.stringify(m.inCI));`;
    const inCI = async (ci: string | undefined) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      if (ci !== undefined) env.CI = ci;
      const r = await run(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 30_000 });
      return JSON.parse(r.stdout) as boolean;
    };
    assert.equal(await inCI('1'), true);
    assert.equal(await inCI('Yes'), true);
    assert.equal(await inCI('true'), true);
    assert.equal(await inCI('0'), false);
    assert.equal(await inCI(undefined), false);
  });
});
