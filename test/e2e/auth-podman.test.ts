/**
 * podman (as root, private vfs storage in a temp dir) against unireg with
 * authentication, over TLS with verification on (`--cert-dir` holding the test's
 * CA), in `basic` and in `token` mode: `podman login --password-stdin` into a
 * private auth file, pull and push a private repository with it (read back with
 * alice's credentials, digests compared), `podman logout` (then the private
 * repository is refused), anonymous pull of a public repository while an
 * anonymous push there is refused.
 *
 * Access rules (test/helpers/auth.ts): public/** anonymous pull, authenticated
 * pull+push; ** alice everything, bob pull.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credsArg, expectRefused, expectStored, startAuthServer, type RegistryClient, type TestUsers } from '../helpers/auth.js';
import { hex, multiLayerImage, type Image, type Layout } from '../helpers/images.js';
import { makePodmanState, runPodman } from '../helpers/podman.js';
import type { TestServer } from '../helpers/server.js';
import { makeTestPKI, type TestPKI } from '../helpers/tls.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['podman', 'skopeo', 'openssl'], root: true });
const TIMEOUT = { timeout: 180_000 };

interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
}

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

describe('podman against unireg with authentication over TLS', { concurrency: false }, () => {
  let pki: TestPKI;
  let state: string;

  const podman = (args: string[], opts: { input?: string; allowFailure?: boolean; authfile?: string } = {}) =>
    runPodman(state, args, {
      input: opts.input,
      allowFailure: opts.allowFailure,
      // No ambient credentials: every command names its auth file, and nothing else is read.
      env: { REGISTRY_AUTH_FILE: opts.authfile ?? join(state, 'anonymous.json'), DOCKER_CONFIG: join(state, 'docker-config') },
    });

  before(async () => {
    if (gate.blocked) return;
    pki = await makeTestPKI();
    state = await makePodmanState('/tmp/unireg-auth-podman-');
    await mkdir(join(state, 'docker-config'));
    await writeFile(join(state, 'anonymous.json'), JSON.stringify({ auths: {} }));
  });

  after(async () => {
    await removeScratch(state);
    await removeScratch(pki?.dir);
  });

  for (const mode of ['basic', 'token'] as const) {
    describe(`auth.mode ${mode}`, { concurrency: false }, () => {
      let srv: TestServer;
      let users: TestUsers;
      let small: Layout<Image>;
      let alice: RegistryClient;
      let anonymous: RegistryClient;
      let authfile: string;
      let pushedDigest = '';
      const seed = `auth-podman-${mode}-${randomUUID()}`;

      const name = (repoRef: string) => `${srv.host}/${repoRef}`;
      /** A podman command with the TLS flags and an auth file (alice's, or the empty anonymous one). */
      const withAuth = (cmd: string[], file: string, rest: string[], allowFailure = false) =>
        podman([...cmd, '--cert-dir', pki.certDir, '--authfile', file, ...rest], { allowFailure, authfile: file });
      const anonymousFile = () => join(state, 'anonymous.json');
      const inspect = async (ref: string): Promise<PodmanImage> => {
        const list = JSON.parse((await podman(['image', 'inspect', ref])).stdout) as PodmanImage[];
        assert.equal(list.length, 1);
        return list[0]!;
      };
      const readAuthFile = async (): Promise<AuthFile> => JSON.parse(await readFile(authfile, 'utf8').catch(() => '{}')) as AuthFile;

      before(async () => {
        if (gate.blocked) return;
        ({ srv, users, alice, anonymous } = await startAuthServer(pki, mode));
        authfile = join(state, `auth-${mode}.json`);
        small = await multiLayerImage(join(state, 'layouts', mode, 'small'), seed);
        // Seed the registry with skopeo (alice): the digests are then known exactly.
        const seedCopy = (layout: Layout<Image>, dest: string) =>
          run(
            'skopeo',
            ['copy', '--quiet', '--authfile', anonymousFile(), '--dest-cert-dir', pki.certDir, '--dest-creds', credsArg(users.alice), layout.transport, `docker://${name(dest)}`],
            { timeout: 90_000 },
          );
        await seedCopy(small, 'private/podman/seed:v1');
        await seedCopy(small, 'public/podman/small:v1');
      });

      after(async () => {
        await srv?.destroy();
      });

      test('podman login with a wrong password fails and stores nothing', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const r = await podman(['login', '--cert-dir', pki.certDir, '--authfile', authfile, '-u', 'alice', '--password-stdin', srv.host], {
          input: 'wrong-password\n',
          allowFailure: true,
          authfile,
        });
        expectRefused(r, 'podman login with a wrong password');
        assert.equal((await readAuthFile()).auths?.[srv.host], undefined, 'no credentials stored for the registry');
      });

      test('podman login --password-stdin stores alice\'s credentials in the auth file', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const r = await podman(['login', '--cert-dir', pki.certDir, '--authfile', authfile, '-u', 'alice', '--password-stdin', srv.host], {
          input: `${users.alice.password}\n`,
          authfile,
        });
        assert.match(r.stdout, /Login Succeeded/);
        const entry = (await readAuthFile()).auths?.[srv.host];
        assert.ok(entry?.auth, `auth file entry for ${srv.host}: ${JSON.stringify(entry)}`);
        assert.equal(Buffer.from(entry.auth, 'base64').toString('utf8'), credsArg(users.alice));
      });

      test('pull of a private repository with the login', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        await withAuth(['pull'], authfile, ['--quiet', name('private/podman/seed:v1')]);
        const img = await inspect(name('private/podman/seed:v1'));
        assert.equal(img.Digest, small.top.digest, 'podman image digest');
        assert.equal(img.Id, hex(small.content.config.digest), 'image ID is the config digest');
      });

      test('push to a private repository, rmi, pull back: same digest; alice reads it through the API', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const file = join(state, `digest-${randomUUID()}`);
        await withAuth(['push'], authfile, ['--quiet', '--digestfile', file, name('private/podman/seed:v1'), name('private/podman/pushed:v1')]);
        pushedDigest = (await readFile(file, 'utf8')).trim();
        assert.match(pushedDigest, /^sha256:[0-9a-f]{64}$/);
        const body = await expectStored(alice, 'private/podman/pushed', 'v1', { digest: pushedDigest });
        assert.equal((JSON.parse(body.toString('utf8')) as { config: { digest: string } }).config.digest, small.content.config.digest);
        assert.equal((await anonymous.manifest('HEAD', 'private/podman/pushed', 'v1')).status, 401, 'anonymous HEAD of the pushed manifest');

        await podman(['rmi', '--force', name('private/podman/seed:v1')]);
        await assert.rejects(inspect(name('private/podman/pushed:v1')), 'image is gone from local storage');
        await withAuth(['pull'], authfile, ['--quiet', name('private/podman/pushed:v1')]);
        const img = await inspect(name('private/podman/pushed:v1'));
        assert.equal(img.Digest, pushedDigest, 'digest after the round trip');
        assert.ok(img.RepoDigests.includes(`${name('private/podman/pushed')}@${pushedDigest}`), `RepoDigests: ${img.RepoDigests.join(', ')}`);
      });

      test('podman logout removes the credentials; the private repository is then refused', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        assert.ok(pushedDigest, 'needs the push of the previous test');
        await podman(['logout', '--authfile', authfile, srv.host], { authfile });
        assert.equal((await readAuthFile()).auths?.[srv.host], undefined, 'logout removes the entry');
        const pull = await withAuth(['pull'], authfile, ['--quiet', name('private/podman/pushed:v1')], true);
        expectRefused(pull, 'pull of a private repository after logout');
        const push = await withAuth(['push'], authfile, ['--quiet', name('private/podman/pushed:v1'), name('private/podman/after-logout:v1')], true);
        expectRefused(push, 'push to a private repository after logout');
        assert.equal((await alice.manifest('HEAD', 'private/podman/after-logout', 'v1')).status, 404, 'nothing was pushed');
      });

      test('anonymous pull from public/ works; anonymous push there is refused', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        // Start from empty local storage: the same image (same config) is there under other names.
        await podman(['rmi', '--all', '--force']);
        await withAuth(['pull'], anonymousFile(), ['--quiet', name('public/podman/small:v1')]);
        const img = await inspect(name('public/podman/small:v1'));
        assert.equal(img.Digest, small.top.digest, 'anonymous pull: digest');
        assert.ok(img.RepoDigests.includes(`${name('public/podman/small')}@${small.top.digest}`), `RepoDigests: ${img.RepoDigests.join(', ')}`);

        const push = await withAuth(['push'], anonymousFile(), ['--quiet', name('public/podman/small:v1'), name('public/podman/anon:v1')], true);
        expectRefused(push, 'anonymous push to public/');
        assert.equal((await alice.manifest('HEAD', 'public/podman/anon', 'v1')).status, 404, 'nothing was pushed');
        assert.equal((await anonymous.tags('public/podman/small')).status, 200, 'anonymous may list tags of public/');
      });
    });
  }
});
