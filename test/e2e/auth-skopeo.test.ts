/**
 * skopeo against unireg with authentication, over TLS with certificate
 * verification on (a CA made by the test, given with --dest-cert-dir /
 * --src-cert-dir), in `basic` and in `token` mode:
 *
 * - the challenges (Basic realm / Bearer realm+service) and, in token mode, what
 *   the token endpoint grants to alice, bob and anonymous callers;
 * - `--dest-creds alice:…` pushes (digest as expected, read back with alice's
 *   credentials), `--src-creds` pulls back byte for byte;
 * - a wrong password, no credentials on a private repository, and bob (pull only)
 *   pushing are refused for an authentication/authorization reason, not TLS;
 * - anyone pulls from public/…, while an anonymous push there is refused.
 *
 * Access rules (test/helpers/auth.ts): public/** anonymous pull, authenticated
 * pull+push; ** alice everything, bob pull.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  RegistryClient,
  credsArg,
  describeResponse,
  errorCode,
  expectRefused,
  expectStored,
  grantedActions,
  httpDo,
  parseChallenge,
  startAuthServer,
  type TestUsers,
} from '../helpers/auth.js';
import { MediaType, makeImage, multiLayerImage, readDirImage, writeOciLayout, type Image, type Layout } from '../helpers/images.js';
import type { TestServer } from '../helpers/server.js';
import { makeTestPKI, type TestPKI } from '../helpers/tls.js';
import { describeRun, gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor(['skopeo', 'openssl']);
const TIMEOUT = { timeout: 120_000 };

describe('skopeo against unireg with authentication over TLS', { concurrency: false }, () => {
  let pki: TestPKI;
  let work: string;

  before(async () => {
    if (gate.blocked) return;
    pki = await makeTestPKI();
    work = await mkdtemp(join(tmpdir(), 'unireg-auth-skopeo-'));
    // No ambient credentials: an auth file that does not exist, an empty Docker config.
    await mkdir(join(work, 'docker-config'));
  });

  after(async () => {
    await removeScratch(work);
    await removeScratch(pki?.dir);
  });

  for (const mode of ['basic', 'token'] as const) {
    describe(`auth.mode ${mode}`, { concurrency: false }, () => {
      let srv: TestServer;
      let users: TestUsers;
      let small: Layout<Image>;
      let other: Layout<Image>;
      let alice: RegistryClient;
      let anonymous: RegistryClient;
      const seed = `auth-skopeo-${mode}-${randomUUID()}`;

      const env = () => ({
        ...process.env,
        REGISTRY_AUTH_FILE: join(work, 'no-auth.json'),
        DOCKER_CONFIG: join(work, 'docker-config'),
      });
      const skopeo = (args: string[], allowFailure = false) => run('skopeo', args, { timeout: 90_000, env: env(), allowFailure });
      const reg = (repoRef: string) => `docker://${srv.host}/${repoRef}`;
      const authfile = () => ['--authfile', join(work, 'no-auth.json')];
      /** Push an oci: layout; returns the run and the digest skopeo wrote (on success). */
      const push = async (layout: Layout<Image>, dest: string, creds: string[], allowFailure = false) => {
        const file = join(work, `digest-${randomUUID()}`);
        const r = await skopeo(
          ['copy', '--quiet', ...authfile(), '--dest-cert-dir', pki.certDir, '--digestfile', file, ...creds, layout.transport, reg(dest)],
          allowFailure,
        );
        return { r, digest: r.code === 0 ? (await readFile(file, 'utf8')).trim() : '' };
      };
      const pull = async (src: string, creds: string[], allowFailure = false) => {
        const out = join(work, `dir-${randomUUID()}`);
        const r = await skopeo(['copy', '--quiet', ...authfile(), '--src-cert-dir', pki.certDir, ...creds, reg(src), `dir:${out}`], allowFailure);
        return { r, out };
      };

      before(async () => {
        if (gate.blocked) return;
        ({ srv, users, alice, anonymous } = await startAuthServer(pki, mode));
        assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'srv.url with TLS');
        small = await multiLayerImage(join(work, mode, 'small'), seed);
        other = await writeOciLayout(join(work, mode, 'other'), 'latest', makeImage(`${seed}/other`));
      });

      after(async () => {
        await srv?.destroy();
      });

      test('the server challenges anonymous callers and accepts alice', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const raw = await httpDo(`${srv.url}/v2/`, { agent: pki.agent });
        assert.equal(raw.status, 401, describeResponse('anonymous GET /v2/', raw));
        const challenge = parseChallenge(String(raw.headers['www-authenticate'] ?? ''));
        if (mode === 'basic') {
          assert.equal(challenge?.scheme, 'basic', describeResponse('anonymous GET /v2/', raw));
          assert.equal(challenge?.params.realm, 'unireg');
        } else {
          assert.equal(challenge?.scheme, 'bearer', describeResponse('anonymous GET /v2/', raw));
          assert.equal(challenge?.params.realm, `${srv.url}/auth/token`);
          assert.equal(challenge?.params.service, 'unireg');
        }
        const ok = await alice.request('GET', '/v2/');
        assert.equal(ok.status, 200, describeResponse('alice GET /v2/', ok));
        const wrong = new RegistryClient(srv.url, pki.agent, { user: 'alice', password: 'not-the-password' });
        const bad = await wrong.request('GET', '/v2/');
        assert.equal(bad.status, 401, describeResponse('alice with a wrong password GET /v2/', bad));
      });

      if (mode === 'token') {
        test('the token endpoint grants what the rules say', TIMEOUT, async (t) => {
          if (!gate.check(t)) return;
          const realm = `${srv.url}/auth/token`;
          const scope = (name: string) => `repository:${name}:pull,push`;
          const a = await alice.token(realm, 'unireg', [scope('private/skopeo/small')]);
          assert.equal(a.status, 200, describeResponse('alice GET /auth/token', a.raw));
          assert.ok(a.body.token, 'token');
          assert.equal(a.body.access_token, a.body.token, 'access_token = token');
          assert.ok((a.body.expires_in ?? 0) > 0, `expires_in ${a.body.expires_in}`);
          assert.ok(a.body.issued_at && !Number.isNaN(Date.parse(a.body.issued_at)), `issued_at ${a.body.issued_at}`);
          assert.deepEqual(grantedActions(a.body.token, 'private/skopeo/small'), ['pull', 'push']);

          const b = await new RegistryClient(srv.url, pki.agent, users.bob).token(realm, 'unireg', [scope('private/skopeo/small')]);
          assert.equal(b.status, 200, describeResponse('bob GET /auth/token', b.raw));
          assert.deepEqual(grantedActions(b.body.token!, 'private/skopeo/small'), ['pull'], 'bob: pull only');

          const anonPublic = await anonymous.token(realm, 'unireg', [scope('public/skopeo/small')]);
          assert.equal(anonPublic.status, 200, describeResponse('anonymous GET /auth/token (public)', anonPublic.raw));
          assert.deepEqual(grantedActions(anonPublic.body.token!, 'public/skopeo/small'), ['pull'], 'anonymous on public/: pull only');

          const anonPrivate = await anonymous.token(realm, 'unireg', [scope('private/skopeo/small')]);
          if (anonPrivate.status === 200) {
            assert.deepEqual(grantedActions(anonPrivate.body.token!, 'private/skopeo/small'), [], 'anonymous on private/: nothing');
          } else {
            assert.equal(anonPrivate.status, 401, describeResponse('anonymous GET /auth/token (private)', anonPrivate.raw));
          }

          const wrong = await new RegistryClient(srv.url, pki.agent, { user: 'alice', password: 'nope' }).token(realm, 'unireg', [scope('private/skopeo/small')]);
          assert.equal(wrong.status, 401, describeResponse('alice with a wrong password GET /auth/token', wrong.raw));
        });
      }

      test('copy with --dest-creds alice pushes the image; the registry serves it to alice only', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const { digest } = await push(small, 'private/skopeo/small:v1', ['--dest-creds', credsArg(users.alice)]);
        assert.equal(digest, small.top.digest, 'skopeo --digestfile: digest of the manifest it pushed');
        await expectStored(alice, 'private/skopeo/small', 'v1', { digest: small.top.digest, mediaType: MediaType.ociManifest, bytes: small.top.bytes });
        const anon = await anonymous.manifest('HEAD', 'private/skopeo/small', 'v1');
        assert.equal(anon.status, 401, describeResponse('anonymous HEAD of a private manifest', anon));
      });

      test('copy back with --src-creds alice gives identical bytes', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const { out } = await pull('private/skopeo/small:v1', ['--src-creds', credsArg(users.alice)]);
        const back = await readDirImage(out);
        assert.ok(back.manifest.equals(small.top.bytes), 'manifest.json differs from the pushed manifest');
        for (const blob of [small.content.config, ...small.content.layers]) {
          assert.ok(back.blobs.get(blob.digest)?.equals(blob.bytes), `blob ${blob.digest} differs`);
        }
      });

      test('certificate verification is on: without the CA the copy fails on TLS', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const empty = join(work, mode, 'no-ca');
        await mkdir(empty, { recursive: true });
        const out = join(work, `dir-${randomUUID()}`);
        const r = await skopeo(
          ['copy', '--quiet', ...authfile(), '--src-cert-dir', empty, '--src-creds', credsArg(users.alice), reg('private/skopeo/small:v1'), `dir:${out}`],
          true,
        );
        assert.notEqual(r.code, 0, `a copy without the CA should fail:\n${describeRun(r)}`);
        assert.match(r.stderr, /x509|certificate/i, `the failure should be the unknown authority:\n${r.stderr}`);
      });

      test('a wrong password is refused, for push and for pull', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const bad = ['alice:wrong-password'];
        const p = await push(other, 'private/skopeo/wrong:v1', ['--dest-creds', ...bad], true);
        expectRefused(p.r, 'push with a wrong password');
        const g = await pull('private/skopeo/small:v1', ['--src-creds', ...bad], true);
        expectRefused(g.r, 'pull with a wrong password');
        assert.equal((await alice.manifest('HEAD', 'private/skopeo/wrong', 'v1')).status, 404, 'nothing was pushed');
      });

      test('without credentials, push and pull of a private repository are refused', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const p = await push(other, 'private/skopeo/anon:v1', [], true);
        expectRefused(p.r, 'anonymous push to private/');
        const g = await pull('private/skopeo/small:v1', [], true);
        expectRefused(g.r, 'anonymous pull from private/');
        assert.equal((await alice.manifest('HEAD', 'private/skopeo/anon', 'v1')).status, 404, 'nothing was pushed');
      });

      test('anyone pulls from public/, while an anonymous push there is refused', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const { digest } = await push(small, 'public/skopeo/small:v1', ['--dest-creds', credsArg(users.alice)]);
        assert.equal(digest, small.top.digest);
        await expectStored(anonymous, 'public/skopeo/small', 'v1', { digest: small.top.digest, bytes: small.top.bytes });

        const { out } = await pull('public/skopeo/small:v1', []);
        const back = await readDirImage(out);
        assert.ok(back.manifest.equals(small.top.bytes), 'anonymous pull: manifest.json differs');
        assert.equal(back.blobs.size, 1 + small.content.layers.length);

        const p = await push(other, 'public/skopeo/anon:v1', [], true);
        expectRefused(p.r, 'anonymous push to public/');
        assert.equal((await alice.manifest('HEAD', 'public/skopeo/anon', 'v1')).status, 404, 'nothing was pushed');
        const probe = await anonymous.request('POST', '/v2/public/skopeo/anon/blobs/uploads/');
        assert.equal(probe.status, 401, describeResponse('anonymous POST upload to public/', probe));
      });

      test('bob (pull only) pulls, but his push to a private repository is denied', TIMEOUT, async (t) => {
        if (!gate.check(t)) return;
        const bob = new RegistryClient(srv.url, pki.agent, users.bob);
        const { out } = await pull('private/skopeo/small:v1', ['--src-creds', credsArg(users.bob)]);
        assert.ok((await readDirImage(out)).manifest.equals(small.top.bytes), 'bob pulls what alice pushed');

        const p = await push(other, 'private/skopeo/bob:v1', ['--dest-creds', credsArg(users.bob)], true);
        expectRefused(p.r, 'bob pushes to private/');
        assert.equal((await alice.manifest('HEAD', 'private/skopeo/bob', 'v1')).status, 404, 'nothing was pushed');

        const probe = await bob.request('POST', '/v2/private/skopeo/bob/blobs/uploads/');
        assert.equal(probe.status, 403, describeResponse('bob POST upload to private/', probe));
        assert.equal(errorCode(probe), 'DENIED', describeResponse('bob POST upload to private/', probe));

        // public/** lets any authenticated user push: bob's credentials are fine there.
        const ok = await push(other, 'public/skopeo/bob:v1', ['--dest-creds', credsArg(users.bob)]);
        assert.equal(ok.digest, other.top.digest);
        await expectStored(anonymous, 'public/skopeo/bob', 'v1', { digest: other.top.digest, bytes: other.top.bytes });
      });
    });
  }
});
