/**
 * `unireg pack` and `unireg variants` (node dist/src/cli.js, real processes)
 * against real registries that require authentication: Basic credentials on
 * every request, and Docker's token flow (a 401 Bearer challenge, a token from
 * the realm, then `Authorization: Bearer`). Credentials come from --user with
 * --password or --password-stdin, or from a DOCKER_CONFIG config.json. What
 * the registry holds afterwards is read back over HTTP with credentials.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { basic } from '../helpers/auth-http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, run, type RunResult } from '../helpers/tools.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** Passwords with the characters that break naive quoting (`:` included: only the user name may not hold one). */
const ALICE_PW = 'alice: "s3cret", pa$$ wörd';
const BOB_PW = 'bob-only-pulls:42';
const WRONG_PW = 'not-alices-password-7f3a';

const ACCESS: AccessRule[] = [{ repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog'], bob: ['pull'] } }];
/** Every CLI run comes from 127.0.0.1: the wrong passwords here must not hold back the later runs. */
const authConfig = (mode: 'basic' | 'token') => ({
  mode,
  users: { alice: bcrypt.hashSync(ALICE_PW, 4), bob: bcrypt.hashSync(BOB_PW, 4) },
  access: ACCESS,
  failedLogins: { limit: 1000 },
});


/** The `index:` digest of a pack summary. */
function indexOf(r: RunResult): string {
  const m = /^index:\s+(\S+)$/m.exec(r.stdout);
  assert.ok(m?.[1] && DIGEST.test(m[1]), `an index digest in the summary\n${describeRun(r)}`);
  return m[1];
}

/** A failed run: exit 1, nothing on stdout, one line on stderr matching `why`, no secret anywhere. */
function assertFailure(r: RunResult, why: RegExp, secrets: string[]): void {
  const info = describeRun(r);
  assert.equal(r.code, 1, `exit 1\n${info}`);
  assert.equal(r.stdout, '', `nothing on stdout\n${info}`);
  assert.ok(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, `exactly one line on stderr\n${info}`);
  assert.match(r.stderr.trimEnd(), why, info);
  for (const s of secrets) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), `a secret was printed\n${info}`);
}

describe('unireg pack / variants against registries that require credentials', { concurrency: false }, () => {
  let basicSrv: TestServer;
  let tokenSrv: TestServer;
  let work: string;
  let home: string;
  let kernel: string;

  before(async () => {
    [basicSrv, tokenSrv] = await Promise.all([startTestServer({ auth: authConfig('basic') }), startTestServer({ auth: authConfig('token') })]);
    work = await mkdtemp(join(tmpdir(), 'unireg-cli-auth-'));
    home = join(work, 'home');
    await mkdir(home);
    kernel = join(work, 'kernel.bin');
    await writeFile(kernel, randomBytes(256 * 1024 + 3));
  });

  after(async () => {
    await Promise.all([basicSrv?.destroy(), tokenSrv?.destroy()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Runs the CLI; HOME is an empty directory (no docker config) unless `env` says otherwise. */
  const unireg = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    run(process.execPath, [CLI, ...args], {
      allowFailure: true,
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOME: home, ...opts.env },
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  const pack = (srv: TestServer, repoTag: string, ...extra: string[]) =>
    unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', ...extra, `${srv.host}/${repoTag}`]);

  /** HEAD of an index by tag with `authorization`: status and digest. */
  const headIndex = async (srv: TestServer, repo: string, tag: string, authorization?: string) => {
    const res = await fetch(`http://${srv.host}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: INDEX, ...(authorization ? { Authorization: authorization } : {}) },
    });
    return { status: res.status, digest: res.headers.get('docker-content-digest') };
  };
  /** A token from the token server for `scope`, as alice. */
  const tokenFor = async (scope: string) => {
    const res = await fetch(`http://${tokenSrv.host}/auth/token?service=unireg&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic('alice', ALICE_PW) },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return `Bearer ${(JSON.parse(text) as { token: string }).token}`;
  };

  describe('basic mode', () => {
    test('pack with --user/--password succeeds; the index is there for alice and hidden from anonymous callers', async () => {
      const r = await pack(basicSrv, 'team/app:v1', '--user', 'alice', '--password', ALICE_PW);
      assert.equal(r.code, 0, describeRun(r));
      const index = indexOf(r);
      assert.ok(!r.stdout.includes(ALICE_PW) && !r.stderr.includes(ALICE_PW));
      assert.deepEqual(await headIndex(basicSrv, 'team/app', 'v1', basic('alice', ALICE_PW)), { status: 200, digest: index });
      const get = await fetch(`http://${basicSrv.host}/v2/team/app/manifests/${index}`, { headers: { Accept: INDEX, Authorization: basic('alice', ALICE_PW) } });
      const body = (await get.json()) as { manifests: Array<{ platform?: { architecture?: string; os?: string } }> };
      assert.deepEqual(body.manifests.map((m) => `${m.platform?.architecture}/${m.platform?.os}`), ['x86_64/qemu']);
      assert.equal((await headIndex(basicSrv, 'team/app', 'v1')).status, 401, 'anonymous callers get nothing');

      const v = await unireg(['variants', '--user', 'alice', '--password-stdin', `${basicSrv.host}/team/app`], { input: `${ALICE_PW}\n` });
      assert.equal(v.code, 0, describeRun(v));
      assert.match(v.stdout, /^TAG\s+ARCH\s+PLAT/);
      assert.match(v.stdout, /\nv1\s+x86_64\s+qemu\s/);
    });

    test('a wrong password, no credentials, and a pull-only user fail with one clear line and change nothing', async () => {
      const [wrong, none, pullOnly] = await Promise.all([
        pack(basicSrv, 'team/denied:v1', '--user', 'alice', '--password', WRONG_PW),
        pack(basicSrv, 'team/denied:v1'),
        unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', '--user', 'bob', '--password-stdin', `${basicSrv.host}/team/denied:v1`], {
          input: BOB_PW,
        }),
      ]);
      assertFailure(wrong, /^unireg: pack failed: 401 UNAUTHORIZED: invalid username or password$/, [WRONG_PW, ALICE_PW]);
      assertFailure(none, /^unireg: pack failed: 401 UNAUTHORIZED: .*\(the registry wants credentials: use --user or docker login\)$/, [ALICE_PW]);
      assertFailure(pullOnly, /^unireg: pack failed: 403 DENIED: requested access to the resource is denied \(as user bob\)$/, [BOB_PW]);
      assert.equal((await headIndex(basicSrv, 'team/denied', 'v1', basic('alice', ALICE_PW))).status, 404, 'nothing was packed');
    });
  });

  describe('token mode', () => {
    test('pack with --user alice --password-stdin succeeds; the index is readable with a token', async () => {
      const r = await unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', '--user', 'alice', '--password-stdin', `${tokenSrv.host}/tok/app:v1`], {
        input: `${ALICE_PW}\n`,
      });
      assert.equal(r.code, 0, describeRun(r));
      const index = indexOf(r);
      assert.ok(!r.stdout.includes(ALICE_PW) && !r.stderr.includes(ALICE_PW));
      assert.deepEqual(await headIndex(tokenSrv, 'tok/app', 'v1', await tokenFor('repository:tok/app:pull')), { status: 200, digest: index });
      assert.equal((await headIndex(tokenSrv, 'tok/app', 'v1', basic('alice', ALICE_PW))).status, 401, 'this registry takes tokens only');
    });

    test('credentials from a DOCKER_CONFIG config.json work for pack and variants; variants lists the packed variants', async () => {
      const dockerConfig = join(work, 'docker-config');
      await mkdir(dockerConfig, { recursive: true });
      await writeFile(
        join(dockerConfig, 'config.json'),
        JSON.stringify({ auths: { [tokenSrv.host]: { auth: Buffer.from(`alice:${ALICE_PW}`).toString('base64') } } }),
      );
      const env = { DOCKER_CONFIG: dockerConfig };
      const r = await unireg(['pack', '--kernel', kernel, '--arch', 'arm64', '--plat', 'fc', `${tokenSrv.host}/tok/app:v1`], { env });
      assert.equal(r.code, 0, describeRun(r));
      const index = indexOf(r);
      assert.deepEqual(await headIndex(tokenSrv, 'tok/app', 'v1', await tokenFor('repository:tok/app:pull')), { status: 200, digest: index });

      const v = await unireg(['variants', '--json', `${tokenSrv.host}/tok/app`], { env });
      assert.equal(v.code, 0, describeRun(v));
      const listed = JSON.parse(v.stdout) as { repository: string; variants: Array<{ tag: string; arch: string; plat: string; index: string }> };
      assert.equal(listed.repository, 'tok/app');
      assert.deepEqual(listed.variants.map((x) => `${x.tag} ${x.arch}/${x.plat}`).sort(), ['v1 arm64/fc', 'v1 x86_64/qemu']);
      assert.ok(listed.variants.every((x) => x.index === index), 'both variants are in the index pack printed');
      assert.ok(!v.stdout.includes(ALICE_PW) && !v.stderr.includes(ALICE_PW));

      // bob may pull: variants asks for pull only, so it works for him too.
      const b = await unireg(['variants', '--user', 'bob', '--password', BOB_PW, `${tokenSrv.host}/tok/app:v1`]);
      assert.equal(b.code, 0, describeRun(b));
      assert.equal(b.stdout.trimEnd().split('\n').length, 3, b.stdout);
    });

    test('an identitytoken stored by docker login (a refresh token) is traded for an access token', async () => {
      const res = await fetch(`http://${tokenSrv.host}/auth/token?service=unireg&offline_token=true`, {
        headers: { Authorization: basic('alice', ALICE_PW) },
      });
      const { refresh_token: refresh } = (await res.json()) as { refresh_token: string };
      assert.ok(refresh, 'the token service hands out a refresh token');
      const dockerConfig = join(work, 'docker-config-identity');
      await mkdir(dockerConfig, { recursive: true });
      // What docker login writes for a token service: the name with an empty password, and the token.
      await writeFile(
        join(dockerConfig, 'config.json'),
        JSON.stringify({ auths: { [tokenSrv.host]: { auth: Buffer.from('alice:').toString('base64'), identitytoken: refresh } } }),
      );
      const r = await unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'fc', `${tokenSrv.host}/tok/identity:v1`], {
        env: { DOCKER_CONFIG: dockerConfig },
      });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(!r.stderr.includes(refresh));
      assert.deepEqual(await headIndex(tokenSrv, 'tok/identity', 'v1', await tokenFor('repository:tok/identity:pull')), {
        status: 200,
        digest: indexOf(r),
      });
      // A token that no longer holds fails with a message, not a crash.
      await writeFile(
        join(dockerConfig, 'config.json'),
        JSON.stringify({ auths: { [tokenSrv.host]: { auth: Buffer.from('alice:').toString('base64'), identitytoken: `${refresh}x` } } }),
      );
      const stale = await unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', `${tokenSrv.host}/tok/identity:v1`], {
        env: { DOCKER_CONFIG: dockerConfig },
      });
      assert.equal(stale.code, 1, describeRun(stale));
      assert.match(stale.stderr, /cannot get a token from .*401 UNAUTHORIZED/);
    });

    test('a pull-only user, a wrong password and no credentials fail with one clear line and change nothing', async () => {
      const before = await headIndex(tokenSrv, 'tok/app', 'v1', await tokenFor('repository:tok/app:pull'));
      assert.equal(before.status, 200);
      const realm = `http://${tokenSrv.host}/auth/token`.replace(/\./g, '\\.');
      const [bob, wrong, none, noneVariants] = await Promise.all([
        unireg(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'xen', '--user', 'bob', '--password-stdin', `${tokenSrv.host}/tok/app:v1`], { input: BOB_PW }),
        pack(tokenSrv, 'tok/app:v1', '--user', 'alice', '--password', WRONG_PW),
        pack(tokenSrv, 'tok/app:v1'),
        unireg(['variants', `${tokenSrv.host}/tok/app`]),
      ]);
      assertFailure(bob, /^unireg: pack failed: 403 DENIED: requested access to the resource is denied \(as user bob\)$/, [BOB_PW]);
      assertFailure(wrong, new RegExp(`^unireg: pack failed: cannot get a token from ${realm}: 401 UNAUTHORIZED: invalid username or password$`), [WRONG_PW, ALICE_PW]);
      assertFailure(none, /^unireg: pack failed: 401 UNAUTHORIZED: .*\(the registry wants credentials: use --user or docker login\)$/, []);
      assertFailure(noneVariants, /^unireg: variants failed: 401 UNAUTHORIZED: .*\(the registry wants credentials: use --user or docker login\)$/, []);
      assert.deepEqual(await headIndex(tokenSrv, 'tok/app', 'v1', await tokenFor('repository:tok/app:pull')), before, 'the tag is as it was');
    });
  });
});
