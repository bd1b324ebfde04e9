/**
 * The Docker engine against unireg in `token` mode over TLS: the test starts its
 * own dockerd as test/e2e/docker.test.ts does, but WITHOUT --insecure-registry;
 * the test's CA is installed for it as /etc/docker/certs.d/127.0.0.1:PORT/ca.crt
 * (removed in after()), and the CLI keeps its credentials in a private
 * DOCKER_CONFIG.
 *
 * `docker login --password-stdin` (the daemon fetches a token with offline access
 * and hands the CLI a refresh token, which it stores as identitytoken), then push,
 * rmi and pull of a private repository (digests compared; read back through the
 * API with alice's credentials), `docker logout` (then the private repository is
 * refused), anonymous pull of a public repository while an anonymous push there
 * is refused.
 *
 * If dockerd cannot start here for a reason outside unireg, every test reports
 * that reason: skipped on a developer machine, failed with CI=true.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  credsArg,
  describeResponse,
  expectRefused,
  expectStored,
  grantedActions,
  httpDo,
  startAuthServer,
  type RegistryClient,
  type TestUsers,
  type TokenResponse,
} from '../helpers/auth.js';
import { PrivateDockerd } from '../helpers/dockerd.js';
import { MediaType, dockerConvertibleImage, type Image, type Layout } from '../helpers/images.js';
import type { TestServer } from '../helpers/server.js';
import { installDockerCA, makeTestPKI, type TestPKI } from '../helpers/tls.js';
import { describeRun, gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['dockerd', 'docker', 'skopeo', 'openssl'], root: true });
const TIMEOUT = { timeout: 180_000 };

interface DockerImage {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  credsStore?: string;
}

describe('Docker engine against unireg with token authentication over TLS', { concurrency: false }, () => {
  let pki: TestPKI;
  let srv: TestServer;
  let users: TestUsers;
  let alice: RegistryClient;
  let anonymous: RegistryClient;
  let dockerd: PrivateDockerd | undefined;
  let x: string; // dockerd's short temp dir, which also holds the layout, the archive and the CLI config
  let removeCA: (() => Promise<void>) | undefined;
  let small: Layout<Image>;
  let pushed = { digest: '', size: 0 };
  const seed = `auth-docker-${randomUUID()}`;
  const localName = `local/unireg-auth-e2e-${seed.slice(-8)}:v1`;

  const docker = (args: string[], opts: { input?: string; allowFailure?: boolean } = {}) =>
    run('docker', args, { timeout: 150_000, env: dockerd!.env(), allowFailure: opts.allowFailure ?? false, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  const inspect = async (ref: string): Promise<DockerImage> => {
    const list = JSON.parse((await docker(['image', 'inspect', ref])).stdout) as DockerImage[];
    assert.equal(list.length, 1);
    return list[0]!;
  };
  const name = (repoRef: string) => `${srv.host}/${repoRef}`;
  const cliConfig = async (): Promise<DockerConfigFile> =>
    JSON.parse(await readFile(join(dockerd!.cliConfigDir, 'config.json'), 'utf8').catch(() => '{}')) as DockerConfigFile;

  before(async () => {
    if (gate.blocked) return;
    pki = await makeTestPKI();
    ({ srv, users, alice, anonymous } = await startAuthServer(pki, 'token'));
    dockerd = await PrivateDockerd.create();
    x = dockerd.dir;
    await mkdir(dockerd.cliConfigDir);
    removeCA = await installDockerCA(pki, srv.host);
    small = await dockerConvertibleImage(join(x, 'layouts', 'small'), seed);
    // No --insecure-registry: the daemon must verify unireg's certificate with the installed CA.
    const notReady = await dockerd.start();
    if (notReady) {
      gate.block(notReady);
      return;
    }

    // Docker 20.10 cannot load OCI layouts: make a docker-archive with skopeo.
    // The public repository is seeded by alice with skopeo (digest known exactly).
    const noAuth = join(x, 'no-auth.json');
    await run('skopeo', ['copy', '--quiet', small.transport, `docker-archive:${join(x, 'small.tar')}:${localName}`], { timeout: 90_000 });
    await run(
      'skopeo',
      ['copy', '--quiet', '--authfile', noAuth, '--dest-cert-dir', pki.certDir, '--dest-creds', credsArg(users.alice), small.transport, `docker://${name('public/docker/small:v1')}`],
      { timeout: 90_000, env: { ...process.env, REGISTRY_AUTH_FILE: noAuth } },
    );
  });

  after(async () => {
    await dockerd?.stop();
    await srv?.destroy();
    await removeCA?.();
    await removeScratch(pki?.dir);
  });

  test('docker login with a wrong password fails and stores nothing', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const r = await docker(['login', '-u', 'alice', '--password-stdin', srv.host], { input: 'wrong-password\n', allowFailure: true });
    expectRefused(r, 'docker login with a wrong password');
    assert.equal((await cliConfig()).auths?.[srv.host], undefined, 'no credentials stored for the registry');
  });

  test('docker login --password-stdin stores a refresh token (identitytoken) or the credentials', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const r = await docker(['login', '-u', 'alice', '--password-stdin', srv.host], { input: `${users.alice.password}\n` });
    assert.match(r.stdout, /Login Succeeded/, describeRun(r));
    const config = await cliConfig();
    assert.equal(config.credsStore, undefined, 'the CLI must keep credentials in config.json (no credential helper)');
    const entry = config.auths?.[srv.host];
    assert.ok(entry && (entry.identitytoken || entry.auth), `config.json entry for ${srv.host}: ${JSON.stringify(entry)}`);
    t.diagnostic(`config.json holds ${entry.identitytoken ? 'an identitytoken (refresh token)' : 'the credentials (auth)'} for ${srv.host}`);
    if (entry.identitytoken) {
      // The identity token is the refresh token of the OAuth2 flow: it buys access tokens.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        service: 'unireg',
        client_id: 'docker',
        scope: 'repository:private/docker/small:pull,push',
        refresh_token: entry.identitytoken,
      }).toString();
      const res = await httpDo(`${srv.url}/auth/token`, {
        method: 'POST',
        agent: pki.agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
      assert.equal(res.status, 200, describeResponse('POST /auth/token grant_type=refresh_token', res));
      const body = JSON.parse(res.body.toString('utf8')) as TokenResponse;
      assert.ok(body.access_token, 'access_token');
      assert.deepEqual(grantedActions(body.access_token, 'private/docker/small'), ['pull', 'push']);
    } else {
      assert.equal(Buffer.from(entry.auth!, 'base64').toString('utf8'), credsArg(users.alice));
    }
  });

  test('docker load, tag and push to a private repository', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const loaded = await docker(['load', '-i', join(x, 'small.tar')]);
    assert.match(loaded.stdout, new RegExp(`Loaded image: ${localName}`));
    await docker(['tag', localName, name('private/docker/small:v1')]);
    const push = await docker(['push', name('private/docker/small:v1')]);
    const m = /v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
    assert.ok(m, `no digest in the output of docker push:\n${push.stdout}`);
    pushed = { digest: m[1]!, size: Number(m[2]) };

    const body = await expectStored(alice, 'private/docker/small', 'v1', { digest: pushed.digest, mediaType: MediaType.dockerManifest });
    assert.equal(body.length, pushed.size, 'manifest size reported by docker push');
    const manifest = JSON.parse(body.toString('utf8')) as { config: { digest: string } };
    assert.equal(manifest.config.digest, small.content.config.digest, 'docker pushes the config bytes it loaded');
    const anon = await anonymous.manifest('HEAD', 'private/docker/small', 'v1');
    assert.equal(anon.status, 401, describeResponse('anonymous HEAD of the pushed manifest', anon));
  });

  test('docker rmi, then docker pull: the digest is the one pushed', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(pushed.digest, 'needs the push of the previous test');
    await docker(['rmi', name('private/docker/small:v1'), localName]);
    await assert.rejects(inspect(name('private/docker/small:v1')));
    const pull = await docker(['pull', name('private/docker/small:v1')]);
    const m = /Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout);
    assert.equal(m?.[1], pushed.digest, `digest reported by docker pull:\n${pull.stdout}`);
    const img = await inspect(name('private/docker/small:v1'));
    assert.deepEqual(img.RepoDigests, [`${name('private/docker/small')}@${pushed.digest}`]);
    assert.equal(img.Id, small.content.config.digest, 'image ID is the config digest');
  });

  test('docker logout removes the credentials; the private repository is then refused', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.ok(pushed.digest, 'needs the push of the previous tests');
    await docker(['logout', srv.host]);
    assert.equal((await cliConfig()).auths?.[srv.host], undefined, 'logout removes the entry');
    await docker(['rmi', name('private/docker/small:v1')]);
    const pull = await docker(['pull', name('private/docker/small:v1')], { allowFailure: true });
    expectRefused(pull, 'docker pull of a private repository after logout');
  });

  test('anonymous docker pull of a public repository works; anonymous push there is refused', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    assert.equal((await cliConfig()).auths?.[srv.host], undefined, 'anonymous: no credentials for the registry');
    const pull = await docker(['pull', name('public/docker/small:v1')]);
    const m = /Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout);
    assert.equal(m?.[1], small.top.digest, `digest reported by docker pull:\n${pull.stdout}`);
    const img = await inspect(name('public/docker/small:v1'));
    assert.equal(img.Id, small.content.config.digest, 'image ID is the config digest');

    await docker(['tag', name('public/docker/small:v1'), name('public/docker/anon:v1')]);
    const push = await docker(['push', name('public/docker/anon:v1')], { allowFailure: true });
    expectRefused(push, 'anonymous docker push to public/');
    if (push.ms > 15_000 || /Retrying in/.test(push.stdout)) {
      // dockerd retries an upload refused with a bare 401 UNAUTHORIZED (no detail, no
      // error="insufficient_scope" in the challenge) five times, 5 to 20 s apart.
      t.diagnostic(`docker push was refused only after ${Math.round(push.ms / 1000)} s of retries; last error: ${push.stderr.trim()}`);
    }
    assert.equal((await alice.manifest('HEAD', 'public/docker/anon', 'v1')).status, 404, 'nothing was pushed');
    const tags = await anonymous.tags('public/docker/anon');
    assert.notEqual(tags.status, 200, `no tags list for public/docker/anon: ${tags.tags.join(', ')}`);
  });
});
