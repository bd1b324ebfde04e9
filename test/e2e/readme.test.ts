/**
 * The README's "Try it" block works when pasted into bash on a fresh checkout:
 * the block is taken from README.md as it is, and run with `bash -euo pipefail`
 * (so any failing command fails the test) in a copy of the repository without
 * node_modules/ and dist/, so its `npm ci` installs and builds from scratch
 * (npm prefers its cache: .ci/run's own `npm ci` filled it). It gets a free port
 * through $PORT, and TMPDIR inside this test's scratch directory, so its
 * `mktemp -d` (data, log, files) is removed with it.
 *
 * Needs bash, curl, tar, sha256sum and skopeo: skipped with a reason when one is
 * missing, failed under CI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../helpers/repo.js';
import { gateFor, removeScratch } from '../helpers/tools.js';
import { freePort } from '../helpers/ports.js';

const gate = await gateFor(['bash', 'curl', 'tar', 'sha256sum', 'skopeo']);

/** The first ```sh block under the "## Try it" heading of README.md. */
function tryItBlock(readme: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Try it\n'));
  assert.ok(section, 'README.md has a "## Try it" section');
  const m = /^```sh\n([\s\S]*?)^```$/m.exec(section);
  assert.ok(m, 'the Try it section has a ```sh block');
  return m[1]!;
}

/** Top-level entries of the repository a fresh clone would not have. */
const NOT_IN_A_CLONE = new Set(['node_modules', 'dist', 'storage', '.git']);

let scratch: string | undefined;
let group: number | undefined;
after(async () => {
  // Whatever the block left running (its server, if it failed before `kill`): its whole process group.
  if (group !== undefined) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await removeScratch(scratch);
});

test('the README "Try it" block runs in bash on a fresh checkout', { timeout: 600_000 }, async (t) => {
  if (!gate.check(t)) return;
  const block = tryItBlock(await readFile(join(REPO_ROOT, 'README.md'), 'utf8'));
  scratch = await mkdtemp(join(tmpdir(), 'unireg-readme-'));
  const checkout = join(scratch, 'unireg');
  const tmp = join(scratch, 'tmp');
  await mkdir(tmp);
  await cp(REPO_ROOT, checkout, {
    recursive: true,
    filter: (src) => !NOT_IN_A_CLONE.has(relative(REPO_ROOT, src).split(sep)[0]!),
  });
  const port = await freePort();
  // Not the test runner's NODE_TEST_CONTEXT (the block's node would report to us) nor CI's UNIREG_* settings.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_TEST_CONTEXT' && !k.startsWith('UNIREG_')) env[k] = v;
  Object.assign(env, {
    PORT: String(port),
    TMPDIR: tmp,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  });
  const child = spawn('bash', ['-euo', 'pipefail', '-c', block], { cwd: checkout, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  group = child.pid;
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((ok) => child.once('close', (c, s) => ok([c, s])));
  const why = `bash -euo pipefail -c <README Try it block> (exit ${code}, signal ${signal})\n--- output ---\n${output.slice(-6000)}`;
  assert.equal(code, 0, why);
  // What the block printed: the CLI's usage, readiness, the image through skopeo, the unikernel through unireg.
  assert.match(output, /^usage: unireg serve/m, why);
  assert.match(output, new RegExp(`unireg is up on 127\\.0\\.0\\.1:${port}`), why);
  assert.match(output, /"RepoTags": \[\s*"v1"\s*\]/, why);
  assert.match(output, /^\{"repositories":\["demo\/hello"\]\}$/m, why);
  assert.match(output, /^packed 127\.0\.0\.1:\d+\/apps\/hello:v1 /m, why);
  assert.match(output, /^v1\s+x86_64\s+qemu\s/m, why);
  // The server it started is gone: nothing answers on its port any more.
  const stillUp = await fetch(`http://127.0.0.1:${port}/v2/`).then(
    () => true,
    () => false,
  );
  assert.equal(stillUp, false, 'the block stops the server it started');
});
