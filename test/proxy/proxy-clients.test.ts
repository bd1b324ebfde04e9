/**
 * Real upstreams and real clients through the pull-through cache, on loopback:
 *
 *   upstreams  CNCF Distribution (docker-registry) with htpasswd (Basic), prefix `dist`, also the default
 *              upstream; a second unireg in token mode (Docker's token flow), prefix `tok`
 *   clients    skopeo and podman through a prefix; docker through a private dockerd with
 *              `registry-mirrors` (unprefixed library/ names); ctr (dockerd's containerd) with a
 *              hosts.toml mirror (`?ns=`)
 *
 * Every digest a client reports is the upstream's. Then both upstreams are
 * stopped: every tag pulled before still pulls (stale-if-error), one never
 * pulled fails cleanly with 503 UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authConfig, credsArg, makeUsers } from '../helpers/auth.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { PrivateDockerd } from '../helpers/dockerd.js';
import { dockerConvertibleImage, multiArchIndex, type Image, type ImageIndex, type Layout } from '../helpers/images.js';
import { errorCode } from '../helpers/oci.js';
import { makePodmanState, runPodman } from '../helpers/podman.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor({ tools: ['docker-registry', 'skopeo', 'podman', 'dockerd', 'docker', 'ctr'], root: true });
const TIMEOUT = { timeout: 240_000 };
const skopeo = (...args: string[]) => run('skopeo', args, { timeout: 120_000 });

describe('pull-through cache: real upstreams and real clients', { concurrency: false }, () => {
  const users = makeUsers();
  const seed = `proxy-${randomUUID()}`;
  let dist: Distribution;
  let tokenUp: TestServer;
  let cache: TestServer;
  let dockerd: PrivateDockerd | undefined;
  let x: string;
  let podmanState: string | undefined;
  let hello: Layout<Image>;
  let multi: Layout<ImageIndex>;
  let app: Layout<Image>;

  const docker = (...args: string[]) => run('docker', args, { timeout: 150_000, env: dockerd!.env() });
  const ctr = (...args: string[]) => run('ctr', ['--address', dockerd!.containerdSocket, '--namespace', 'unireg-proxy', ...args], { timeout: 150_000 });
  const inspectRaw = async (ref: string) => (await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${cache.host}/${ref}`)).stdout;

  before(async () => {
    if (gate.blocked) return;
    dist = await startDistribution('puller', `p-${randomUUID()}`);
    tokenUp = await startTestServer({ auth: authConfig('token', users) });
    dockerd = await PrivateDockerd.create();
    x = dockerd.dir;
    hello = await dockerConvertibleImage(join(x, 'layouts', 'hello'), seed);
    multi = await multiArchIndex(join(x, 'layouts', 'multi'), seed);
    app = await dockerConvertibleImage(join(x, 'layouts', 'app'), `${seed}-app`);
    const toDist = ['copy', '--quiet', '--all', '--dest-tls-verify=false', '--dest-creds', `${dist.user}:${dist.password}`];
    await skopeo(...toDist, hello.transport, `docker://${dist.host}/library/hello:v1`);
    await skopeo(...toDist, multi.transport, `docker://${dist.host}/team/multi:v1`);
    await skopeo(...toDist, app.transport, `docker://${dist.host}/team/never:v1`);
    await skopeo('copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', credsArg(users.alice), app.transport, `docker://${tokenUp.host}/team/app:v1`);
    cache = await startTestServer({
      proxy: {
        upstreams: [
          { prefix: 'dist', url: dist.url, username: dist.user, password: dist.password, manifestTTL: '1s', default: true },
          { prefix: 'tok', url: tokenUp.url, username: users.alice.user, password: users.alice.password, manifestTTL: '1s' },
        ],
      },
    });
    const notReady = await dockerd.start([], [cache.url]);
    if (notReady) gate.block(notReady);
  });

  after(async () => {
    await dockerd?.stop();
    await removeScratch(podmanState);
    await cache?.destroy();
    await tokenUp?.destroy();
    await dist?.destroy();
  });

  test('skopeo through a prefix: Distribution (htpasswd) and unireg (token) upstreams, digests identical', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const raw = await inspectRaw('dist/team/multi:v1');
    assert.equal(raw, multi.top.bytes.toString(), 'the index bytes are the upstream bytes');
    await skopeo('copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${cache.host}/dist/team/multi:v1`, `oci:${join(x, 'out-multi')}:v1`);
    const tok = await skopeo('inspect', '--tls-verify=false', `docker://${cache.host}/tok/team/app:v1`);
    assert.equal((JSON.parse(tok.stdout) as { Digest: string }).Digest, app.top.digest);
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${cache.host}/tok/team/app:v1`, `oci:${join(x, 'out-app')}:v1`);
    // Tokens are cached until they expire: one token request for the repository's pull scope, however many requests.
    const tokUpstream = cache.proxy!.upstreams.list.find((u) => u.prefix === 'tok')!;
    assert.equal(cache.proxy!.client(tokUpstream).tokens.fetched, 1);
  });

  test('podman pull through a prefix reports the upstream digest', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    podmanState = await makePodmanState('/tmp/pp.');
    await runPodman(podmanState, ['pull', '--quiet', '--tls-verify=false', `${cache.host}/tok/team/app:v1`]);
    const digest = (await runPodman(podmanState, ['image', 'inspect', '--format', '{{.Digest}}', `${cache.host}/tok/team/app:v1`])).stdout.trim();
    assert.equal(digest, app.top.digest);
  });

  test('docker pull of an unprefixed name through registry-mirrors (default upstream, library/)', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const pull = await docker('pull', 'hello:v1');
    const m = /Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout);
    assert.equal(m?.[1], hello.top.digest, `docker pull reports the upstream digest:\n${pull.stdout}`);
    const repos = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(repos.repositories.includes('dist/library/hello'), `cached as dist/library/hello: ${repos.repositories.join(', ')}`);
  });

  test('ctr pull with a hosts.toml mirror (?ns=) reports the upstream index digest', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    const hosts = join(x, 'certs.d');
    await mkdir(join(hosts, dist.host), { recursive: true });
    await writeFile(
      join(hosts, dist.host, 'hosts.toml'),
      `server = "http://${dist.host}"\n\n[host."http://${cache.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    // No credentials: were the mirror not used, Distribution would refuse the pull.
    await ctr('images', 'pull', '--hosts-dir', hosts, `${dist.host}/team/multi:v1`);
    const list = (await ctr('images', 'ls')).stdout;
    assert.match(list, new RegExp(`${dist.host}/team/multi:v1\\s+\\S+\\s+${multi.top.digest}`), list);
  });

  test('upstreams stopped: every pulled tag still pulls (stale), a never-pulled one fails with 503', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await dist.stop();
    await tokenUp.stop();
    await new Promise((r) => setTimeout(r, 1100)); // past manifestTTL: each tag is revalidated, and the upstream is gone
    await skopeo('copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${cache.host}/dist/team/multi:v1`, `oci:${join(x, 'stale-multi')}:v1`);
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${cache.host}/tok/team/app:v1`, `oci:${join(x, 'stale-app')}:v1`);
    await docker('rmi', 'hello:v1');
    const pull = await docker('pull', 'hello:v1');
    assert.match(pull.stdout, new RegExp(`Digest: ${hello.top.digest}`));
    await ctr('images', 'rm', `${dist.host}/team/multi:v1`);
    await ctr('content', 'prune', 'references').catch(() => undefined);
    await ctr('images', 'pull', '--hosts-dir', join(x, 'certs.d'), `${dist.host}/team/multi:v1`);
    const stale = await fetch(`${cache.url}/v2/dist/team/multi/manifests/v1`);
    assert.equal(stale.headers.get('x-unireg-cache'), 'stale');
    const never = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${cache.host}/dist/team/never:v1`).catch((err: Error) => err);
    assert.ok(never instanceof Error, 'a tag never pulled cannot be served');
    const res = await fetch(`${cache.url}/v2/dist/team/never/manifests/v1`);
    assert.equal(res.status, 503);
    assert.equal(errorCode(Buffer.from(await res.arrayBuffer())), 'UNAVAILABLE');
  });
});
