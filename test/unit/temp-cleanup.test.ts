/**
 * The unit tests clean up after themselves: every unit test file that makes
 * temp files (its source mentions mkdtemp, tmpdir or scratchDirs) is run here
 * with a private, empty TMPDIR, which must be empty again when it is done.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT, repoFiles } from '../helpers/repo.js';
import { describeRun, run } from '../helpers/tools.js';

const SELF = 'test/unit/temp-cleanup.test.ts';
const makesTempFiles = (file: string) => /\b(mkdtemp|tmpdir|scratchDirs)\b/.test(readFileSync(join(REPO_ROOT, file), 'utf8'));
const FILES = repoFiles('test/unit', '.test.ts').filter((f) => f !== SELF && makesTempFiles(f));

let root: string | undefined;
after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

test('unit test files that make temp files leave none behind', { timeout: 180_000 }, async () => {
  assert.ok(FILES.includes('test/unit/config.test.ts'), `the scan found the files that use temp dirs: ${FILES.join(', ')}`);
  root = await mkdtemp(join(tmpdir(), 'unireg-leakcheck-'));
  const leftovers: string[] = [];
  for (const file of FILES) {
    const dir = await mkdtemp(join(root, 'tmp-'));
    const compiled = join(REPO_ROOT, 'dist', file.replace(/\.ts$/, '.js'));
    // Without NODE_TEST_CONTEXT: with it (set for children of a test run) the inner runner reports to us and runs nothing of its own.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = await run(process.execPath, ['--test', compiled], { env: { ...env, TMPDIR: dir }, allowFailure: true, timeout: 150_000 });
    assert.match(r.stdout, /^# pass [1-9]/m, `${file} ran its tests\n${describeRun(r)}`);
    assert.equal(r.code, 0, `${file} failed, so its clean-up cannot be judged\n${describeRun(r)}`);
    const left = await readdir(dir);
    if (left.length > 0) leftovers.push(`${file}: ${left.length} left in TMPDIR (${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''})`);
  }
  assert.deepEqual(leftovers, [], 'these tests leave temp files behind');
});
