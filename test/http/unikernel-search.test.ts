/**
 * kconfig search across repositories (`GET /_unikraft/search`): exact results,
 * both matching rules, arch/plat filters, paging with Link, an index that follows
 * tag moves, tag deletes and manifest deletes, and (with Basic auth and access
 * rules) repositories the caller may not pull are hidden.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { basic } from '../helpers/auth-http.js';
import { makeUsers } from '../helpers/auth.js';
import { bytesOf, dotConfig, packForm, packOk, type PackResult } from '../helpers/kraft.js';
import { expectError, nextLink, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Hit {
  repository: string;
  tag: string;
  index: string;
  manifest: string;
  platform: { architecture: string; os: string; 'os.version'?: string };
  matched: string[];
  kernelSize?: number;
  imageSize: number;
}

/** The hit a packed variant should give, from what the pack answered and the registry serves. */
async function hitOf(base: string, p: PackResult, tag: string, index: string, matched: string[]): Promise<Hit> {
  const res = await fetch(`${base}/v2/${p.repository}/manifests/${p.manifest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const manifest = JSON.parse(bytes.toString()) as { config: { size: number }; layers: { size: number }[] };
  const hit: Hit = {
    repository: p.repository,
    tag,
    index,
    manifest: p.manifest,
    platform: { architecture: p.platform.architecture, os: p.platform.os },
    matched,
    kernelSize: manifest.layers[0]!.size,
    imageSize: bytes.length + manifest.config.size + manifest.layers.reduce((s, l) => s + l.size, 0),
  };
  if (p.platform['os.version'] !== undefined) hit.platform['os.version'] = p.platform['os.version'];
  return hit;
}

const byOrder = (a: Hit, b: Hit) => {
  const k = (h: Hit) => `${h.repository}\u0000${h.tag}\u0000${h.manifest}`;
  return k(a) < k(b) ? -1 : 1;
};

async function search(base: string, query: string, headers: Record<string, string> = {}): Promise<{ res: Response; body: { match: string; results: Hit[] } }> {
  const res = await fetch(`${base}/_unikraft/search${query}`, { headers });
  const text = await res.text();
  assert.equal(res.status, 200, `search ${query}: ${text}`);
  return { res, body: JSON.parse(text) as { match: string; results: Hit[] } };
}

describe('kconfig search', () => {
  let srv: TestServer;
  let base: string;
  const r1 = repoName('uks/one');
  const r2 = repoName('uks/two');
  let A: PackResult; // r1:v1 x86_64/qemu CONFIG_HZ=100
  let B: PackResult; // r1:v1 arm64/fc CONFIG_HZ=1000
  let C: PackResult; // r2:v1 x86_64/qemu CONFIG_HZ=100 CONFIG_LIBUKDEBUG=y
  let D: PackResult; // r2:v2 x86_64/xen CONFIG_HZ=1000 CONFIG_LIBUKDEBUG=n
  const hz = (v: string, extra: string[] = []) => dotConfig([`CONFIG_HZ=${v}`, ...extra]);

  before(async () => {
    srv = await startTestServer();
    base = srv.url;
    A = await packOk(base, r1, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('A', 3000), kconfig: hz('100') });
    B = await packOk(base, r1, { tag: 'v1', arch: 'arm64', plat: 'fc', kernel: bytesOf('B', 5000), kconfig: hz('1000') });
    C = await packOk(base, r2, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('C', 7000), kconfig: hz('100', ['CONFIG_LIBUKDEBUG=y']) });
    D = await packOk(base, r2, { tag: 'v2', arch: 'x86_64', plat: 'xen', kernel: bytesOf('D', 9000), kconfig: hz('1000', ['CONFIG_LIBUKDEBUG=n']) });
  });
  after(() => srv.destroy());

  test('match=exact: the exact result JSON, in repository, tag, digest order', async () => {
    const { res, body } = await search(base, '?kconfig=CONFIG_HZ=100&match=exact');
    assert.equal(res.headers.get('link'), null);
    const expected = [
      await hitOf(base, A, 'v1', B.index, ['CONFIG_HZ=100']),
      await hitOf(base, C, 'v1', C.index, ['CONFIG_HZ=100']),
    ].sort(byOrder);
    assert.deepEqual(body, { match: 'exact', results: expected });
  });

  test("the default is kraft's substring rule; a bare KEY under exact matches any value", async () => {
    const all = async (q: string) => (await search(base, q)).body.results.map((h) => h.manifest).sort();
    const abcd = [A, B, C, D].map((p) => p.manifest).sort();
    assert.deepEqual(await all('?kconfig=CONFIG_HZ=100'), abcd, 'CONFIG_HZ=100 is a substring of CONFIG_HZ=1000');
    assert.deepEqual((await search(base, '?kconfig=CONFIG_HZ=100')).body.match, 'kraft');
    assert.deepEqual(await all('?kconfig=CONFIG_HZ&match=exact'), abcd);
    assert.deepEqual(await all('?kconfig=LIBUKDEBUG'), [C, D].map((p) => p.manifest).sort());
    assert.deepEqual(await all('?kconfig=CONFIG_LIBUKDEBUG=y&match=exact'), [C.manifest]);
    assert.deepEqual(await all('?kconfig=CONFIG_HZ=1000&kconfig=CONFIG_LIBUKDEBUG=n'), [D.manifest]);
    assert.deepEqual(await all('?kconfig=CONFIG_NOPE'), []);
    const { body } = await search(base, '?kconfig=CONFIG_HZ=1000&kconfig=CONFIG_LIBUKDEBUG=n');
    assert.deepEqual(body.results[0]!.matched, ['CONFIG_HZ=1000', 'CONFIG_LIBUKDEBUG=n']);
  });

  test('arch and plat filters (with aliases), and no kconfig term at all', async () => {
    const all = async (q: string) => (await search(base, q)).body.results.map((h) => h.manifest).sort();
    assert.deepEqual(await all('?kconfig=CONFIG_HZ&arch=amd64'), [A, C, D].map((p) => p.manifest).sort());
    assert.deepEqual(await all('?kconfig=CONFIG_HZ&arch=x86_64&plat=kvm'), [A, C].map((p) => p.manifest).sort());
    assert.deepEqual(await all('?kconfig=CONFIG_HZ&plat=firecracker'), [B.manifest]);
    assert.deepEqual(await all('?plat=xen'), [D.manifest]);
    assert.deepEqual(await all(''), [A, B, C, D].map((p) => p.manifest).sort());
  });

  test('pages of n with a Link that keeps the query', async () => {
    const whole = (await search(base, '?kconfig=CONFIG_HZ')).body.results;
    assert.equal(whole.length, 4);
    const seen: Hit[] = [];
    let url: string | undefined = '/_unikraft/search?n=1&kconfig=CONFIG_HZ';
    for (let pages = 0; url !== undefined; pages++) {
      assert.ok(pages < 5, 'too many pages');
      const { res, body } = await search(base, url.slice('/_unikraft/search'.length));
      assert.equal(body.results.length, 1);
      seen.push(...body.results);
      url = nextLink(res);
      if (url !== undefined) assert.match(url, /kconfig=CONFIG_HZ/);
    }
    assert.deepEqual(seen, whole);
  });

  test('bad input: 400s, never a 500', async () => {
    await expectError(await fetch(`${base}/_unikraft/search?kconfig=CONFIG%20X`), 400, 'MANIFEST_INVALID');
    await expectError(await fetch(`${base}/_unikraft/search?kconfig=CONFIG_X&match=nope`), 400, 'MANIFEST_INVALID');
    await expectError(await fetch(`${base}/_unikraft/search?arch=riscv99`), 400, 'MANIFEST_INVALID');
    await expectError(await fetch(`${base}/_unikraft/search?last=nonsense`), 400, 'BAD_REQUEST');
    await expectError(await fetch(`${base}/_unikraft/search?last=a:b@sha256:zz`), 400, 'BAD_REQUEST');
    await expectError(await fetch(`${base}/_unikraft/search?n=x`), 400, 'PAGINATION_NUMBER_INVALID');
  });

  test('the index follows tag moves, tag deletes and manifest deletes', async () => {
    const repo = repoName('uks/moves');
    const debug = async () => (await search(base, '?kconfig=CONFIG_LIBUKDEBUG_PRINTK=y&match=exact')).body.results.map((h) => `${h.repository}:${h.tag}`);
    const E = await packOk(base, repo, { tag: 'a', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('E', 100), kconfig: dotConfig(['CONFIG_LIBUKDEBUG_PRINTK=y']) });
    assert.deepEqual(await debug(), [`${repo}:a`]);
    // Tag b points at the same index; then a moves to a kernel without the feature.
    const index = await (await fetch(`${base}/v2/${repo}/manifests/a`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } })).arrayBuffer();
    const put = await fetch(`${base}/v2/${repo}/manifests/b`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body: Buffer.from(index) });
    assert.equal(put.status, 201);
    assert.deepEqual(await debug(), [`${repo}:a`, `${repo}:b`]);
    await packOk(base, repo, { tag: 'a', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('F', 100), kconfig: dotConfig([]), strategy: 'overwrite' });
    assert.deepEqual(await debug(), [`${repo}:b`], 'a moved away');
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/b`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(await debug(), [], 'b deleted');
    // Re-tag and delete the variant manifest itself: it leaves the index.
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/c`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body: Buffer.from(index) })).status, 201);
    assert.deepEqual(await debug(), [`${repo}:c`]);
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/${E.manifest}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(await debug(), [], 'the variant manifest was deleted');
  });
});

describe('kconfig search with Basic auth hides repositories the caller cannot pull', () => {
  let srv: TestServer;
  const users = makeUsers();
  const access: AccessRule[] = [
    { repository: 'team-a/**', grants: { alice: ['pull', 'push', 'catalog'] } },
    { repository: 'team-b/**', grants: { bob: ['pull', 'push', 'catalog'] } },
  ];
  const a = repoName('team-a/app');
  const b = repoName('team-b/app');

  before(async () => {
    srv = await startTestServer({ auth: { mode: 'basic', users: users.hashes, access, failedLogins: { limit: 1000 } } });
    const as = (who: typeof users.alice) => ({ Authorization: basic(who.user, who.password) });
    for (const [repo, who] of [[a, users.alice], [b, users.bob]] as const) {
      const res = await fetch(`${srv.url}/v2/${repo}/_unikraft/pack`, { method: 'POST', headers: as(who), body: packForm({ tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf(repo, 200), kconfig: dotConfig(['CONFIG_HZ=100']) }) });
      assert.equal(res.status, 201, await res.text());
    }
  });
  after(() => srv.destroy());

  test('each user sees only the repositories the rules let them pull; anonymous callers are refused', async () => {
    const seen = async (who: typeof users.alice) =>
      (await search(srv.url, '?kconfig=CONFIG_HZ=100', { Authorization: basic(who.user, who.password) })).body.results.map((h) => h.repository);
    assert.deepEqual(await seen(users.alice), [a]);
    assert.deepEqual(await seen(users.bob), [b]);
    const anonymous = await fetch(`${srv.url}/_unikraft/search?kconfig=CONFIG_HZ=100`);
    assert.equal(anonymous.status, 401);
  });
});

describe('kconfig search follows retention and GC', () => {
  test('tags retention deletes, and manifests GC collects, leave the results', async () => {
    const srv = await startTestServer({ retention: [{ repository: 'ret/**', keepLast: 1 }], gc: { grace: '0s', untagged: '0s' } });
    try {
      const repo = 'ret/app';
      const found = async () =>
        (await search(srv.url, '?kconfig=CONFIG_RETAINED=y&match=exact')).body.results.map((h) => `${h.repository}:${h.tag}`);
      await packOk(srv.url, repo, { tag: 'old', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('old', 100), kconfig: dotConfig(['CONFIG_RETAINED=y']) });
      await new Promise((ok) => setTimeout(ok, 20));
      await packOk(srv.url, repo, { tag: 'new', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('new', 100), kconfig: dotConfig(['CONFIG_RETAINED=y']) });
      assert.deepEqual(await found(), [`${repo}:new`, `${repo}:old`]);
      const run = await fetch(`${srv.url}/_unireg/retention`, { method: 'POST' });
      assert.equal(run.status, 200, await run.text());
      assert.deepEqual(await found(), [`${repo}:new`], 'retention deleted the older tag');
      const gc = await fetch(`${srv.url}/_unireg/gc`, { method: 'POST' });
      assert.equal(gc.status, 200, await gc.text());
      assert.deepEqual(await found(), [`${repo}:new`], 'GC of the untagged manifests leaves the kept tag indexed');
    } finally {
      await srv.destroy();
    }
  });
});
