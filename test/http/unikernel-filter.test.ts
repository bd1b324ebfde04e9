/**
 * kconfig-feature filtering of manifest pulls (`?arch=&plat=&kconfig=` on an
 * index) and the variants listing (`GET /v2/<name>/_unikraft/variants`), checked
 * against kraft's own selection rule (filter.ts kraftSelect).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kraftSelect } from '../../src/unikernel/filter.js';
import type { IndexJson } from '../../src/unikernel/platform.js';
import type { VariantInfo as Variant } from '../../src/unikernel/variants-service.js';
import { bytesOf, dotConfig, inspect, KMT, kraftVariant, packOk, putTag, replayChildren, tagState, type PackResult, type TagView } from '../helpers/kraft.js';
import { expectError, nextLink, pushImage, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Served {
  status: number;
  digest: string | null;
  applied: string | null;
  type: string | null;
  length: string | null;
  bytes: Buffer;
  index: IndexJson;
}

describe('kconfig filtering and the variants listing', () => {
  let srv: TestServer;
  let base: string;
  const repo = repoName('uk/filter');
  let A: PackResult; // x86_64/qemu CONFIG_HZ=100
  let B: PackResult; // arm64/fc CONFIG_HZ=1000
  let C: PackResult; // x86_64/xen CONFIG_HZ=100
  let D: PackResult; // x86_64/qemu CONFIG_HZ=1000 + CONFIG_LIBUKDEBUG=y
  let E: PackResult; // v2: arm64/qemu, bare kernel + initrd
  let v1: TagView;

  before(async () => {
    srv = await startTestServer();
    base = srv.url;
    const k = (s: string) => bytesOf(s, 3000);
    A = await packOk(base, repo, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: k('A'), kconfig: dotConfig(['CONFIG_HZ=100']), cmd: ['-a'], env: ['X=1'] });
    B = await packOk(base, repo, { tag: 'v1', arch: 'arm64', plat: 'fc', kernel: k('B'), kconfig: dotConfig(['CONFIG_HZ=1000']) });
    C = await packOk(base, repo, { tag: 'v1', arch: 'x86_64', plat: 'xen', kernel: k('C'), kconfig: dotConfig(['CONFIG_HZ=100']) });
    D = await packOk(base, repo, { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: k('D'), kconfig: dotConfig(['CONFIG_HZ=1000', 'CONFIG_LIBUKDEBUG=y']) });
    E = await packOk(base, repo, { tag: 'v2', arch: 'arm64', plat: 'qemu', kernel: k('E'), initrd: bytesOf('initrd', 777) });
    await pushImage(base, repo, 'plain');
    v1 = await inspect(base, repo, 'v1');
  });
  after(() => srv.destroy());

  async function served(ref: string, query: string, method = 'GET'): Promise<Served> {
    const res = await fetch(`${base}/v2/${repo}/manifests/${ref}${query}`, { method, headers: { Accept: KMT.index } });
    const bytes = Buffer.from(await res.arrayBuffer());
    const h = (n: string) => res.headers.get(n);
    const index = method === 'GET' && res.status === 200 ? (JSON.parse(bytes.toString()) as IndexJson) : ({} as IndexJson);
    return { status: res.status, digest: h('docker-content-digest'), applied: h('oci-filters-applied'), type: h('content-type'), length: h('content-length'), bytes, index };
  }

  /** GET and HEAD with the query: same headers, only the matching variants (in stored order). */
  async function expectFiltered(query: string, applied: string, expected: PackResult[], ref = 'v1'): Promise<IndexJson> {
    const get = await served(ref, query);
    assert.equal(get.status, 200, `GET ${query}: ${get.bytes.toString()}`);
    assert.equal(get.applied, applied, `OCI-Filters-Applied for ${query}`);
    assert.equal(get.digest, sha256(get.bytes), 'Docker-Content-Digest is the digest of the bytes served');
    assert.equal(get.type, KMT.index);
    assert.deepEqual(get.index.manifests.map((d) => d.digest), expected.map((r) => r.manifest), query);
    // Descriptors are served as stored; top-level fields are kept.
    const stored = new Map(v1.index.manifests.map((d) => [d.digest, d]));
    for (const d of get.index.manifests) assert.deepEqual(d, stored.get(d.digest));
    assert.deepEqual({ ...get.index, manifests: [] }, { ...v1.index, manifests: [] });
    const head = await served(ref, query, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
    assert.equal(head.digest, get.digest, `HEAD ${query}: digest`);
    assert.equal(head.applied, applied);
    assert.equal(Number(head.length), get.bytes.length, `HEAD ${query}: Content-Length`);
    return get.index;
  }

  test('without parameters the stored bytes are served unchanged', async () => {
    const byDigest = await served(v1.digest, '');
    for (const method of ['GET', 'HEAD']) {
      const s = await served('v1', '', method);
      assert.equal(s.status, 200);
      assert.equal(s.digest, v1.digest);
      assert.equal(s.applied, null, 'no OCI-Filters-Applied without filters');
      assert.equal(Number(s.length), byDigest.bytes.length);
      if (method === 'GET') assert.ok(s.bytes.equals(byDigest.bytes));
    }
    assert.equal(v1.index.manifests.length, 4);
  });

  test('arch and plat filters, with aliases', async () => {
    await expectFiltered('?arch=x86_64', 'arch', [A, C, D]);
    await expectFiltered('?arch=amd64', 'arch', [A, C, D]);
    await expectFiltered('?arch=aarch64', 'arch', [B]);
    await expectFiltered('?plat=kvm', 'plat', [A, D]);
    await expectFiltered('?plat=firecracker', 'plat', [B]);
    await expectFiltered('?arch=amd64&plat=kvm', 'arch,plat', [A, D]);
    await expectFiltered('?plat=xen&arch=x86_64', 'arch,plat', [C]);
    // by digest too
    await expectFiltered('?plat=xen', 'plat', [C], v1.digest);
  });

  test('match=exact: KEY=VALUE equals a feature, bare KEY matches any value, repeated filters all apply', async () => {
    await expectFiltered('?kconfig=CONFIG_HZ=100&match=exact', 'kconfig', [A, C]);
    await expectFiltered('?kconfig=CONFIG_HZ=1000&match=exact', 'kconfig', [B, D]);
    await expectFiltered('?kconfig=CONFIG_LIBUKDEBUG&match=exact', 'kconfig', [D]);
    await expectFiltered('?kconfig=CONFIG_HZ&match=exact', 'kconfig', [A, B, C, D]);
    await expectFiltered('?kconfig=CONFIG_PLAT_KVM=y&match=exact', 'kconfig', [A, B, D]);
    await expectFiltered(`?kconfig=${encodeURIComponent('CONFIG_UK_FULLVERSION=0.18.0~a1b2c3')}&kconfig=CONFIG_ARCH_X86_64=y&match=exact`, 'kconfig', [A, C, D]);
    await expectFiltered('?arch=amd64&kconfig=CONFIG_HZ=1000&kconfig=CONFIG_LIBUKDEBUG=y&match=exact', 'arch,kconfig', [D]);
    await expectFiltered('?arch=x86_64&plat=qemu&kconfig=CONFIG_HZ=100&match=exact', 'arch,plat,kconfig', [A]);
  });

  test("the default is kraft's substring rule (match=kraft says so explicitly); a bad match is a 400", async () => {
    for (const m of ['', '&match=kraft']) {
      await expectFiltered(`?kconfig=CONFIG_HZ=100${m}`, 'kconfig', [A, B, C, D]);
      await expectFiltered(`?kconfig=CONFIG_HZ=1${m}`, 'kconfig', [A, B, C, D]);
      await expectFiltered(`?kconfig=LIBUKDEBUG${m}`, 'kconfig', [D]);
      await expectFiltered(`?kconfig=CONFIG_HZ=1000${m}`, 'kconfig', [B, D]);
    }
    await expectError(await fetch(`${base}/v2/${repo}/manifests/v1?kconfig=CONFIG_HZ&match=fuzzy`), 400, 'MANIFEST_INVALID');
  });

  test('nothing matches: 404 MANIFEST_UNKNOWN whose detail says what was asked', async () => {
    for (const [query, asked] of [
      ['?kconfig=CONFIG_HZ=10&match=exact', ['CONFIG_HZ=10']],
      ['?arch=arm64&plat=xen', ['arm64', 'xen']],
      ['?arch=x86_64&kconfig=CONFIG_NOPE', ['x86_64', 'CONFIG_NOPE']],
    ] as const) {
      const res = await fetch(`${base}/v2/${repo}/manifests/v1${query}`);
      const text = await res.clone().text();
      await expectError(res, 404, 'MANIFEST_UNKNOWN');
      const detail = JSON.stringify((JSON.parse(text) as { errors: { detail?: unknown }[] }).errors[0]!.detail ?? null);
      for (const a of asked) assert.ok(detail.includes(a), `detail ${detail} should mention ${a}`);
      const head = await fetch(`${base}/v2/${repo}/manifests/v1${query}`, { method: 'HEAD' });
      assert.equal(head.status, 404);
    }
  });

  test("kraft's selection rule picks the expected variant from what is served", async () => {
    const unfiltered = v1.index;
    // kraft's substring test cannot tell CONFIG_HZ=100 from CONFIG_HZ=1000 ...
    assert.deepEqual(kraftSelect(unfiltered, { arch: 'amd64', plat: 'kvm', kconfig: ['CONFIG_HZ=100'] }).map((d) => d.digest), [A.manifest, D.manifest]);
    // ... by default the server serves what kraft would pick ...
    await expectFiltered('?arch=amd64&plat=kvm&kconfig=CONFIG_HZ=100', 'arch,plat,kconfig', [A, D]);
    // ... with match=exact the server's filter can tell them apart, and kraft then picks exactly that variant.
    const filtered = await expectFiltered('?arch=amd64&plat=kvm&kconfig=CONFIG_HZ=100&match=exact', 'arch,plat,kconfig', [A]);
    assert.deepEqual(kraftSelect(filtered, { arch: 'amd64', plat: 'kvm', kconfig: ['CONFIG_HZ=100'] }).map((d) => d.digest), [A.manifest]);
    for (const [query, kq, expected] of [
      ['?arch=x86_64&plat=qemu&kconfig=CONFIG_LIBUKDEBUG=y', { arch: 'x86_64', plat: 'qemu', kconfig: ['CONFIG_LIBUKDEBUG=y'] }, D],
      ['?arch=arm64&plat=fc', { arch: 'arm64', plat: 'fc' }, B],
      ['?plat=xen', { arch: 'x86_64', plat: 'xen' }, C],
    ] as const) {
      assert.deepEqual(kraftSelect(unfiltered, kq).map((d) => d.digest), [expected.manifest], `unfiltered ${query}`);
      const index = await expectFiltered(query, query.includes('kconfig') ? 'arch,plat,kconfig' : query.includes('arch') ? 'arch,plat' : 'plat', [expected]);
      const [pick, ...more] = kraftSelect(index, kq);
      assert.equal(more.length, 0);
      assert.equal(pick?.digest, expected.manifest, `filtered ${query}`);
      // kraft then pulls the child by digest: it is there, with the platform on its config descriptor.
      const child = await tagState(base, repo, pick!.digest);
      assert.equal(child.status, 200);
      assert.deepEqual((JSON.parse(child.bytes.toString()) as { config: { platform: unknown } }).config.platform, pick!.platform);
    }
  });

  async function listing(query: string): Promise<{ res: Response; body: { repository: string; variants: Variant[] } }> {
    const res = await fetch(`${base}/v2/${repo}/_unikraft/variants${query}`);
    const text = await res.text();
    assert.equal(res.status, 200, `variants${query}: ${text}`);
    return { res, body: JSON.parse(text) as { repository: string; variants: Variant[] } };
  }

  test('variants listing: every tag, every field', async () => {
    const { body } = await listing('');
    assert.equal(body.repository, repo);
    const v2 = await tagState(base, repo, 'v2');
    assert.deepEqual(
      body.variants.map((v) => [v.tag, v.index, v.manifest, v.arch, v.plat]),
      [
        ['v1', v1.digest, A.manifest, 'x86_64', 'qemu'],
        ['v1', v1.digest, B.manifest, 'arm64', 'fc'],
        ['v1', v1.digest, C.manifest, 'x86_64', 'xen'],
        ['v1', v1.digest, D.manifest, 'x86_64', 'qemu'],
        ['v2', v2.digest, E.manifest, 'arm64', 'qemu'],
      ],
      'the non-unikernel tag lists no variants',
    );
    const [a, , , , e] = body.variants;
    assert.deepEqual(a!.features, A.platform['os.features']);
    assert.equal(a!.version, '0.18.0~a1b2c3');
    assert.deepEqual([a!.cmd, a!.env], [['-a'], ['X=1']]);
    assert.equal(a!.kernelSize, 3000, 'kernelSize: the size of the kernel file');
    assert.equal(a!.initrdSize, undefined);
    assert.equal(a!.created, v1.variants[0]!.manifest.annotations?.['org.opencontainers.image.created']);
    assert.deepEqual([e!.version, e!.cmd, e!.env], [undefined, [], []]);
    assert.deepEqual(e!.features, ['CONFIG_ARCH_ARM_64=y', 'CONFIG_KVM_VMM_QEMU=y', 'CONFIG_PLAT_KVM=y']);
    assert.equal(e!.initrdSize, 777, 'initrdSize: the size of the initrd file');
  });

  test('variants listing filters: tag, arch, plat (aliases), kconfig', async () => {
    const pick = async (q: string) => (await listing(q)).body.variants.map((v) => v.manifest);
    assert.deepEqual(await pick('?tag=v2'), [E.manifest]);
    assert.deepEqual(await pick('?tag=v1&arch=amd64&plat=kvm'), [A.manifest, D.manifest]);
    assert.deepEqual(await pick('?arch=arm64'), [B.manifest, E.manifest]);
    assert.deepEqual(await pick('?plat=qemu'), [A.manifest, D.manifest, E.manifest]);
    assert.deepEqual(await pick('?kconfig=CONFIG_HZ=1000'), [B.manifest, D.manifest]);
    assert.deepEqual(await pick('?kconfig=CONFIG_LIBUKDEBUG'), [D.manifest]);
    assert.deepEqual(await pick('?tag=v1&kconfig=CONFIG_HZ=100&kconfig=CONFIG_PLAT_XEN=y'), [C.manifest]);
    assert.deepEqual(await pick('?tag=nonexistent'), []);
  });

  test('variants listing pages over tags with Link, keeping the filters', async () => {
    for (const [query, expected] of [
      ['', [A, B, C, D, E]],
      ['&arch=arm64', [B, E]],
      ['&kconfig=CONFIG_HZ=1000', [B, D]],
      ['&plat=kvm&kconfig=CONFIG_PLAT_KVM', [A, D, E]],
    ] as const) {
      const seen: string[] = [];
      let url: string | undefined = `/v2/${repo}/_unikraft/variants?n=1${query}`;
      let pages = 0;
      while (url !== undefined) {
        const { res, body } = await listing(url.slice(`/v2/${repo}/_unikraft/variants`.length));
        seen.push(...body.variants.map((v) => v.manifest));
        url = nextLink(res);
        assert.ok(++pages <= 4, 'too many pages');
        if (url) for (const p of new URLSearchParams(query).keys()) assert.ok(new URL(url, base).searchParams.has(p), `Link ${url} keeps ${p}`);
      }
      assert.deepEqual(seen, expected.map((r) => r.manifest), `paged${query}`);
    }
  });

  test('variants listing counts a tag that holds a single unikernel manifest as one variant', async () => {
    const other = repoName('uk/lone-listing');
    const v = kraftVariant({ name: `${srv.host}/${other}`, tag: 'one', arch: 'arm64', plat: 'fc', seed: `lone/${Math.random()}` });
    await replayChildren(base, other, [v]);
    assert.equal((await putTag(base, other, 'one', v.manifest, KMT.manifest)).status, 201);
    const res = await fetch(`${base}/v2/${other}/_unikraft/variants`);
    const body = (await res.json()) as { variants: Variant[] };
    assert.deepEqual(
      body.variants.map((x) => [x.tag, x.index, x.manifest, x.arch, x.plat]),
      [['one', v.manifestDigest, v.manifestDigest, 'arm64', 'fc']],
    );
  });

  test('variants listing of an unknown repository is NAME_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/uk/nothing-here/_unikraft/variants`), 404, 'NAME_UNKNOWN');
  });
});
