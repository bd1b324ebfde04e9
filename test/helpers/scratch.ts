/**
 * Temp directories for one test file, removed when the file's tests are done:
 *
 *     const tmp = scratchDirs('unireg-config-');   // at module level
 *     const dir = await tmp();                      // in a test
 *
 * (test/unit/temp-cleanup.test.ts checks that the unit tests leave nothing in
 * the temp directory.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export function scratchDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}
