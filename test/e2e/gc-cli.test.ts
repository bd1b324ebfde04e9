/**
 * `unireg gc` (a real process) against registries that require credentials:
 * Basic and Docker-token mode. An admin runs it; a user without the admin
 * right and an anonymous caller are refused with one clear line and exit 1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { HASH, PASSWORD } from '../helpers/auth-http.js';
import { pushBlob, randomBlob } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, run } from '../helpers/tools.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const ACCESS: AccessRule[] = [
  { repository: '**', grants: { root: ['pull', 'push', 'delete', 'catalog', 'admin'], dev: ['pull', 'push', 'delete', 'catalog'] } },
];

for (const mode of ['basic', 'token'] as const) {
  describe(`unireg gc, auth mode ${mode}`, () => {
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({ auth: { mode, users: { root: HASH, dev: HASH }, access: ACCESS, failedLogins: { limit: 1000 } }, gc: { grace: '0s' } });
    });
    after(async () => {
      await srv.destroy();
    });

    const gc = (...args: string[]) => run(process.execPath, [CLI, 'gc', ...args], { input: PASSWORD, allowFailure: true, env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });

    test('an admin collects; the report is printed', async () => {
      const dry = await gc('--dry-run', '--user', 'root', '--password-stdin', srv.host);
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stdout, /^dry run: would remove \d+ blob\(s\)/);
      const r = await gc('--json', '--user', 'root', '--password-stdin', srv.host);
      assert.equal(r.code, 0, describeRun(r));
      const report = JSON.parse(r.stdout) as { dryRun: boolean; blobsDeleted: number };
      assert.equal(report.dryRun, false);
      assert.equal(typeof report.blobsDeleted, 'number');
    });

    test('a user without admin: exit 1, one line naming the refusal', async () => {
      const r = await gc('--user', 'dev', '--password-stdin', srv.host);
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^unireg: gc failed: .*(403 DENIED|401 UNAUTHORIZED).*\n$/);
      assert.ok(!r.stderr.includes(PASSWORD));
    });

    test('no credentials: exit 1 with the login hint', async () => {
      const r = await gc(srv.host);
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /^unireg: gc failed: .*401.*--user or docker login/);
    });
  });
}

test('unireg gc: usage errors exit 2', async () => {
  for (const args of [[], ['a', 'b'], ['127.0.0.1:5000/repo'], ['--nope', '127.0.0.1:5000']]) {
    const r = await run(process.execPath, [CLI, 'gc', ...args], { allowFailure: true });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /see unireg gc --help/);
  }
});
