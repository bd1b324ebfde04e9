/**
 * `unireg retention` (node dist/src/cli.js, a real process) and the admin
 * guard of POST /_unireg/retention, against registries that require
 * credentials: Basic and Docker's token flow. alice holds `admin` (a `**` rule),
 * bob only pulls.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { basic, pushImageAs } from '../helpers/auth-http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, run } from '../helpers/tools.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const ALICE_PW = 'alice-admin: "pw"';
const BOB_PW = 'bob-pulls-only';
const ACCESS: AccessRule[] = [{ repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog', 'admin'], bob: ['pull'] } }];
const authConfig = (mode: 'basic' | 'token') => ({
  mode,
  users: { alice: bcrypt.hashSync(ALICE_PW, 4), bob: bcrypt.hashSync(BOB_PW, 4) },
  access: ACCESS,
  failedLogins: { limit: 1000 },
});

describe('unireg retention against registries that require credentials', { concurrency: false }, () => {
  let basicSrv: TestServer;
  let tokenSrv: TestServer;
  let home: string;
  before(async () => {
    const lifecycle = { retention: [{ repository: 'ci/**', keepLast: 1 }] };
    [basicSrv, tokenSrv] = await Promise.all([
      startTestServer({ auth: authConfig('basic'), ...lifecycle }),
      startTestServer({ auth: authConfig('token'), ...lifecycle }),
    ]);
    home = await mkdtemp(join(tmpdir(), 'unireg-retention-cli-'));
  });
  after(async () => {
    await Promise.all([basicSrv?.destroy(), tokenSrv?.destroy()]);
    if (home) await rm(home, { recursive: true, force: true });
  });

  const unireg = (args: string[], input?: string) =>
    run(process.execPath, [CLI, 'retention', ...args], {
      allowFailure: true,
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOME: home },
      ...(input !== undefined ? { input } : {}),
    });
  const tags = async (srv: TestServer, repo: string) => {
    const authorization = srv === tokenSrv ? await aliceToken(srv, `repository:${repo}:pull`) : basic('alice', ALICE_PW);
    const res = await fetch(`${srv.url}/v2/${repo}/tags/list`, { headers: { Authorization: authorization } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return (JSON.parse(text) as { tags: string[] }).tags.sort();
  };

  test('the endpoint needs admin: anonymous 401, bob 403 DENIED, alice 200', async () => {
    const url = `${basicSrv.url}/_unireg/retention?dryRun=true`;
    assert.equal((await fetch(url, { method: 'POST' })).status, 401);
    const bob = await fetch(url, { method: 'POST', headers: { Authorization: basic('bob', BOB_PW) } });
    assert.equal(bob.status, 403);
    assert.equal(((await bob.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DENIED');
    assert.equal((await fetch(url, { method: 'POST', headers: { Authorization: basic('alice', ALICE_PW) } })).status, 200);
  });

  for (const mode of ['basic', 'token'] as const) {
    test(`${mode}: --dry-run lists, the run deletes, bob is refused`, async () => {
      const srv = mode === 'basic' ? basicSrv : tokenSrv;
      const alice = mode === 'basic' ? basic('alice', ALICE_PW) : await aliceToken(srv, 'repository:ci/app:pull,push');
      for (const tag of ['old', 'mid', 'new']) {
        await pushImageAs(srv.url, 'ci/app', tag, alice);
        await new Promise((r) => setTimeout(r, 3));
      }
      const dry = await unireg(['--dry-run', '--user', 'alice', '--password-stdin', srv.host], `${ALICE_PW}\n`);
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stdout, /^REPOSITORY\s+TAG\s+PUSHED\s+DIGEST\s+RULE$/m);
      assert.match(dry.stdout, /^ci\/app\s+mid\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+sha256:[0-9a-f]{12}\s+ci\/\*\*$/m);
      assert.match(dry.stdout, /^ci\/app\s+old\s/m);
      assert.match(dry.stdout, /^retention would delete 2 tags; kept 1 of 3 in 1 repository with rules \(1 in all\)$/m);
      assert.ok(!dry.stdout.includes(ALICE_PW) && !dry.stderr.includes(ALICE_PW));
      assert.deepEqual(await tags(srv, 'ci/app'), ['mid', 'new', 'old']);

      const denied = await unireg(['--user', 'bob', '--password', BOB_PW, srv.host]);
      assert.equal(denied.code, 1, describeRun(denied));
      assert.match(denied.stderr, /^unireg: retention failed: (403 DENIED|401 UNAUTHORIZED): .*\n$/);
      assert.deepEqual(await tags(srv, 'ci/app'), ['mid', 'new', 'old']);

      const real = await unireg(['--json', '--user', 'alice', '--password', ALICE_PW, srv.host]);
      assert.equal(real.code, 0, describeRun(real));
      const report = JSON.parse(real.stdout) as { dryRun: boolean; deleted: { repository: string; tag: string }[] };
      assert.equal(report.dryRun, false);
      assert.deepEqual(report.deleted.map((e) => `${e.repository}:${e.tag}`).sort(), ['ci/app:mid', 'ci/app:old']);
      assert.deepEqual(await tags(srv, 'ci/app'), ['new']);
    });
  }

  test('usage errors exit 2 with one line', async () => {
    for (const args of [[], ['127.0.0.1:5000/repo'], ['a', 'b'], ['--bogus', '127.0.0.1:5000']]) {
      const r = await unireg(args);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /^unireg: retention failed: .*\(see unireg retention --help\)\n$/);
    }
    const help = await unireg(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: unireg retention \[options\] HOST\[:PORT\]/);
  });
});

/** A token for alice from the registry's token endpoint. */
async function aliceToken(srv: TestServer, scope: string): Promise<string> {
  const res = await fetch(`${srv.url}/auth/token?service=unireg&scope=${encodeURIComponent(scope)}`, {
    headers: { Authorization: basic('alice', ALICE_PW) },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return `Bearer ${(JSON.parse(text) as { token: string }).token}`;
}
