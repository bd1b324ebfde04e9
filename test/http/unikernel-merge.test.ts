/**
 * Merging on push: a replay of `kraft pkg push` from two build machines (the
 * second one carrying over a variant with kraft's `"size": 32`), single manifests
 * pushed by tag, strategies, concurrent pushes, and standard OCI semantics for
 * everything that is not a unikernel.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { kraftSelect } from '../../src/unikernel/filter.js';
import {
  assertKraftCompatible,
  carriedOver,
  inspect,
  KMT,
  kraftIndex,
  kraftVariant,
  putTag,
  replayChildren,
  tagState,
  type KraftVariant,
} from '../helpers/kraft.js';
import { buildIndex, expectError, MT, pushImage, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('merging unikernel pushes', () => {
  let srv: TestServer;
  let base: string;
  before(async () => {
    srv = await startTestServer();
    base = srv.url;
  });
  after(() => srv.destroy());

  function machine(repo: string, tag: string, arch: string, plat: string, seed = `${repo}/${arch}/${plat}/${Math.random()}`): KraftVariant {
    return kraftVariant({ name: `${srv.host}/${repo}`, tag, arch, plat, seed, kconfig: 'CONFIG_UK_FULLVERSION="0.18.0"\nCONFIG_HZ=100\n', version: '0.18.0' });
  }
  const naming = (repo: string, tag: string) => ({ name: `${srv.host}/${repo}`, tag });

  /** PUT by tag: asserts 201 and Docker-Content-Digest of the exact bytes; returns Unireg-Index-Digest. */
  async function push(repo: string, tag: string, bytes: Buffer, contentType: string = KMT.index, strategy?: string): Promise<string | null> {
    const res = await putTag(base, repo, tag, bytes, contentType, strategy);
    assert.equal(res.status, 201, `PUT ${repo}:${tag}: ${await res.text()}`);
    assert.equal(res.headers.get('docker-content-digest'), sha256(bytes), 'Docker-Content-Digest is the digest of the bytes pushed');
    assert.equal(res.headers.get('location'), `/v2/${repo}/manifests/${sha256(bytes)}`);
    return res.headers.get('unireg-index-digest');
  }

  async function expectExact(repo: string, ref: string, bytes: Buffer): Promise<void> {
    const s = await tagState(base, repo, ref);
    assert.equal(s.status, 200);
    assert.equal(s.digest, sha256(bytes), `${ref} resolves to the pushed bytes`);
    assert.ok(s.bytes.equals(bytes), `${ref}: exact bytes`);
  }

  test('kraft replay: two build machines, the second carrying a variant over with "size": 32', async () => {
    const repo = repoName('uk/kraft');
    // Machine 1 packs x86_64/qemu and x86_64/xen and pushes.
    const qemu = machine(repo, 'v1', 'x86_64', 'qemu');
    const xen = machine(repo, 'v1', 'x86_64', 'xen');
    await replayChildren(base, repo, [qemu, xen]);
    const first = kraftIndex([qemu.descriptor, xen.descriptor], naming(repo, 'v1'));
    assert.equal(await push(repo, 'v1', first), null, 'a fresh tag holds exactly what was pushed');
    await expectExact(repo, 'v1', first);

    // Machine 2 pulled the tag's qemu variant earlier (kraft rewrites it with size 32), builds arm64/fc.
    const fc = machine(repo, 'v1', 'arm64', 'fc');
    await replayChildren(base, repo, [fc]);
    const second = kraftIndex([carriedOver(qemu.descriptor), fc.descriptor], naming(repo, 'v1'));
    const merged = await push(repo, 'v1', second);
    assert.ok(merged, 'Unireg-Index-Digest names the merged index');
    assert.notEqual(merged, sha256(second));

    const view = await inspect(base, repo, 'v1');
    assert.equal(view.digest, merged);
    assert.deepEqual(view.index.manifests.map((d) => d.digest), [qemu.manifestDigest, xen.manifestDigest, fc.manifestDigest]);
    assert.deepEqual(view.index.manifests.map((d) => d.size), [qemu.manifest.length, xen.manifest.length, fc.manifest.length], 'true sizes');
    assertKraftCompatible(view, naming(repo, 'v1'));
    // The pushed bytes are kept under their own digest, size 32 and all.
    await expectExact(repo, sha256(second), second);
    await expectExact(repo, merged, view.bytes);
    const head = await fetch(`${base}/v2/${repo}/manifests/v1`, { method: 'HEAD' });
    assert.deepEqual([head.headers.get('docker-content-digest'), Number(head.headers.get('content-length'))], [merged, view.bytes.length]);
    // kraft on any machine finds every variant.
    assert.deepEqual(kraftSelect(view.index, { arch: 'arm64', plat: 'fc', kconfig: ['CONFIG_HZ=100'] }).map((d) => d.digest), [fc.manifestDigest]);
    assert.deepEqual(kraftSelect(view.index, { arch: 'amd64', plat: 'kvm' }).map((d) => d.digest), [qemu.manifestDigest]);

    // Machine 1 rebuilds qemu: same platform, replaced in place.
    const qemu2 = machine(repo, 'v1', 'x86_64', 'qemu');
    await replayChildren(base, repo, [qemu2]);
    const third = kraftIndex([qemu2.descriptor, carriedOver(xen.descriptor)], naming(repo, 'v1'));
    const merged3 = await push(repo, 'v1', third);
    const view3 = await inspect(base, repo, 'v1');
    assert.equal(view3.digest, merged3);
    assert.deepEqual(view3.index.manifests.map((d) => d.digest), [qemu2.manifestDigest, xen.manifestDigest, fc.manifestDigest]);
    assertKraftCompatible(view3);
  });

  test('an index with "size": 32 children is accepted on a fresh tag; the tag gets true sizes', async () => {
    const repo = repoName('uk/size32');
    const a = machine(repo, 't', 'arm64', 'qemu');
    await replayChildren(base, repo, [a]);
    const bytes = kraftIndex([carriedOver(a.descriptor)], naming(repo, 't'));
    const merged = await push(repo, 't', bytes);
    assert.ok(merged);
    const view = await inspect(base, repo, 't');
    assert.equal(view.digest, merged);
    assert.equal(view.index.manifests[0]!.size, a.manifest.length);
    assertKraftCompatible(view);
    await expectExact(repo, sha256(bytes), bytes);
    // Children that do not exist are still refused.
    const ghost = machine(repo, 't', 'x86_64', 'fc');
    const before = await tagState(base, repo, 't');
    const res = await putTag(base, repo, 't', kraftIndex([carriedOver(ghost.descriptor)], naming(repo, 't')));
    await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    const after = await tagState(base, repo, 't');
    assert.equal(after.digest, before.digest);
  });

  test('a single unikernel manifest pushed by tag merges into the index the tag holds', async () => {
    const repo = repoName('uk/single');
    const qemu = machine(repo, 'v1', 'x86_64', 'qemu');
    const fc = machine(repo, 'v1', 'arm64', 'fc');
    await replayChildren(base, repo, [qemu]);
    await push(repo, 'v1', kraftIndex([qemu.descriptor], naming(repo, 'v1')));
    await replayChildren(base, repo, [fc]);
    const merged = await push(repo, 'v1', fc.manifest, KMT.manifest);
    assert.ok(merged);
    const view = await inspect(base, repo, 'v1');
    assert.equal(view.digest, merged);
    assert.deepEqual(view.index.manifests.map((d) => d.digest), [qemu.manifestDigest, fc.manifestDigest]);
    assertKraftCompatible(view);
    await expectExact(repo, fc.manifestDigest, fc.manifest);
    // The same platform again by manifest: replaced in place.
    const qemu2 = machine(repo, 'v1', 'amd64', 'kvm');
    await replayChildren(base, repo, [qemu2]);
    await push(repo, 'v1', qemu2.manifest, KMT.manifest);
    assert.deepEqual((await inspect(base, repo, 'v1')).index.manifests.map((d) => d.digest), [qemu2.manifestDigest, fc.manifestDigest]);
  });

  test('a tag holding a single unikernel manifest holds a variant: later pushes merge with it', async () => {
    const repo = repoName('uk/lone');
    const [a, b, c] = [machine(repo, 'v1', 'x86_64', 'qemu'), machine(repo, 'v1', 'arm64', 'fc'), machine(repo, 'v1', 'x86_64', 'xen')];
    await replayChildren(base, repo, [a, b, c]);
    // manifest onto manifest
    assert.equal(await push(repo, 'm', a.manifest, KMT.manifest), null);
    const merged = await push(repo, 'm', b.manifest, KMT.manifest);
    const view = await inspect(base, repo, 'm');
    assert.deepEqual(view.index.manifests.map((d) => d.digest), [a.manifestDigest, b.manifestDigest], 'both variants are in the tag');
    assert.equal(merged, view.digest, 'Unireg-Index-Digest names the merged index');
    assertKraftCompatible(view);
    // index onto manifest
    assert.equal(await push(repo, 'i', a.manifest, KMT.manifest), null);
    await push(repo, 'i', kraftIndex([b.descriptor, c.descriptor], naming(repo, 'i')));
    assert.deepEqual((await inspect(base, repo, 'i')).index.manifests.map((d) => d.digest), [a.manifestDigest, b.manifestDigest, c.manifestDigest]);
  });

  test('a unikernel manifest without a platform on its config descriptor merges by its config blob', async () => {
    const repo = repoName('uk/noplat');
    const [a, b] = [machine(repo, 'v1', 'x86_64', 'qemu'), machine(repo, 'v1', 'arm64', 'fc')];
    await replayChildren(base, repo, [a, b]);
    await push(repo, 'v1', kraftIndex([a.descriptor], naming(repo, 'v1')));
    const bare = JSON.parse(b.manifest.toString()) as { config: Record<string, unknown> };
    delete bare.config.platform;
    const bytes = Buffer.from(JSON.stringify(bare));
    const merged = await push(repo, 'v1', bytes, KMT.manifest);
    const s = await tagState(base, repo, 'v1');
    const index = JSON.parse(s.bytes.toString()) as { manifests?: { digest: string; platform?: { architecture: string; os: string } }[] };
    assert.ok(index.manifests, `the tag must still hold an index with ${a.manifestDigest}, got ${s.bytes.toString().slice(0, 120)}...`);
    assert.deepEqual(index.manifests.map((d) => d.digest), [a.manifestDigest, sha256(bytes)]);
    assert.deepEqual([index.manifests[1]!.platform?.architecture, index.manifests[1]!.platform?.os], ['arm64', 'fc']);
    assert.equal(merged, s.digest);
  });

  test('a merged tag survives a restart', async () => {
    const own = await startTestServer();
    let stopped = false;
    try {
      const repo = repoName('uk/restart');
      const n = { name: `${own.host}/${repo}`, tag: 'v1' };
      const [a, b] = ['qemu', 'fc'].map((plat) => kraftVariant({ ...n, arch: 'x86_64', plat, seed: `${plat}/${Math.random()}` }));
      await replayChildren(own.url, repo, [a!, b!]);
      assert.equal((await putTag(own.url, repo, 'v1', kraftIndex([a!.descriptor], n))).status, 201);
      const res = await putTag(own.url, repo, 'v1', kraftIndex([carriedOver(a!.descriptor), b!.descriptor], n));
      const merged = res.headers.get('unireg-index-digest');
      assert.ok(merged);
      await own.stop();
      stopped = true;
      const again = await startTestServer({}, own.root);
      try {
        const view = await inspect(again.url, repo, 'v1');
        assert.equal(view.digest, merged);
        assert.deepEqual(view.index.manifests.map((d) => [d.digest, d.size]), [[a!.manifestDigest, a!.manifest.length], [b!.manifestDigest, b!.manifest.length]]);
      } finally {
        await again.stop();
      }
    } finally {
      if (stopped) await rm(own.root, { recursive: true, force: true });
      else await own.destroy();
    }
  });

  test('?strategy=abort refuses an existing tag; ?strategy=overwrite replaces the whole index', async () => {
    const repo = repoName('uk/strategy');
    const qemu = machine(repo, 'v1', 'x86_64', 'qemu');
    const fc = machine(repo, 'v1', 'arm64', 'fc');
    const xen = machine(repo, 'v1', 'x86_64', 'xen');
    await replayChildren(base, repo, [qemu, fc, xen]);
    const first = kraftIndex([qemu.descriptor, fc.descriptor], naming(repo, 'v1'));
    assert.equal(await push(repo, 'v1', first, KMT.index, 'abort'), null, 'abort on a fresh tag is a normal push');
    const before = await tagState(base, repo, 'v1');
    for (const [bytes, type] of [[kraftIndex([xen.descriptor], naming(repo, 'v1')), KMT.index], [xen.manifest, KMT.manifest]] as const) {
      for (const strategy of ['abort', 'exit']) {
        await expectError(await putTag(base, repo, 'v1', bytes, type, strategy), 409, 'TAG_EXISTS');
        const now = await tagState(base, repo, 'v1');
        assert.equal(now.digest, before.digest);
        assert.ok(now.bytes.equals(before.bytes), 'abort leaves the tag byte-identical');
      }
    }
    await expectError(await putTag(base, repo, 'v1', first, KMT.index, 'bogus'), 400);
    assert.equal((await tagState(base, repo, 'v1')).digest, before.digest);

    const only = kraftIndex([xen.descriptor], naming(repo, 'v1'));
    assert.equal(await push(repo, 'v1', only, KMT.index, 'overwrite'), null);
    await expectExact(repo, 'v1', only);
    // overwrite with a size-32 descriptor: the pushed variants only, sizes repaired
    const over = kraftIndex([carriedOver(fc.descriptor)], naming(repo, 'v1'));
    assert.ok(await push(repo, 'v1', over, KMT.index, 'overwrite'));
    const view = await inspect(base, repo, 'v1');
    assert.deepEqual(view.index.manifests.map((d) => [d.digest, d.size]), [[fc.manifestDigest, fc.manifest.length]]);
  });

  test('the default strategy comes from unikernel.defaultStrategy', async () => {
    const strict = await startTestServer({ unikernel: { defaultStrategy: 'abort' } });
    try {
      const repo = repoName('uk/default');
      const mk = (arch: string, plat: string) =>
        kraftVariant({ name: `${strict.host}/${repo}`, tag: 'v1', arch, plat, seed: `${arch}/${plat}/${Math.random()}` });
      const [a, b] = [mk('x86_64', 'qemu'), mk('arm64', 'fc')];
      await replayChildren(strict.url, repo, [a, b]);
      const n = { name: `${strict.host}/${repo}`, tag: 'v1' };
      assert.equal((await putTag(strict.url, repo, 'v1', kraftIndex([a.descriptor], n))).status, 201);
      await expectError(await putTag(strict.url, repo, 'v1', kraftIndex([b.descriptor], n)), 409, 'TAG_EXISTS');
      const res = await putTag(strict.url, repo, 'v1', kraftIndex([b.descriptor], n), KMT.index, 'merge');
      assert.equal(res.status, 201);
      const view = await inspect(strict.url, repo, 'v1');
      assert.equal(view.digest, res.headers.get('unireg-index-digest'));
      assert.deepEqual(view.index.manifests.map((d) => d.digest), [a.manifestDigest, b.manifestDigest]);
    } finally {
      await strict.destroy();
    }
  });

  test('build machines pushing one tag concurrently all end up in the index', async () => {
    const repo = repoName('uk/race');
    const platforms = [['x86_64', 'qemu'], ['arm64', 'fc'], ['x86_64', 'xen'], ['arm64', 'qemu'], ['x86_64', 'fc'], ['arm', 'qemu']] as const;
    const variants = platforms.map(([arch, plat]) => machine(repo, 'v1', arch, plat));
    await Promise.all(variants.map((v) => replayChildren(base, repo, [v])));
    const pushed = await Promise.all(variants.map((v) => putTag(base, repo, 'v1', kraftIndex([v.descriptor], naming(repo, 'v1')))));
    for (const res of pushed) assert.equal(res.status, 201, await res.text());
    const view = await inspect(base, repo, 'v1');
    assert.deepEqual(view.index.manifests.map((d) => d.digest).sort(), variants.map((v) => v.manifestDigest).sort());
    assertKraftCompatible(view);
    const named = pushed.map((r) => r.headers.get('unireg-index-digest')).filter((d) => d !== null);
    assert.equal(named.length, platforms.length - 1, 'every push after the first merged');
    assert.ok(named.includes(view.digest), 'the last merge is what the tag resolves to');
  });

  test('non-unikernel content keeps standard OCI semantics', async () => {
    const repo = repoName('uk/plain');
    const [i1, i2, i3] = [await pushImage(base, repo), await pushImage(base, repo), await pushImage(base, repo)];
    const plat = (architecture: string) => ({ platform: { architecture, os: 'linux' } });
    const idx1 = buildIndex([{ ...i1.descriptor, ...plat('amd64') }, { ...i2.descriptor, ...plat('arm64') }]);
    const idx2 = buildIndex([{ ...i3.descriptor, ...plat('amd64') }]);
    assert.equal(await push(repo, 'multi', idx1), null);
    assert.equal(await push(repo, 'multi', idx2), null);
    await expectExact(repo, 'multi', idx2);
    assert.equal(await push(repo, 'img', i1.bytes, MT.ociManifest), null);
    assert.equal(await push(repo, 'img', i2.bytes, MT.ociManifest), null);
    await expectExact(repo, 'img', i2.bytes);
    const list = buildIndex([{ ...i1.descriptor, ...plat('amd64') }], {}, MT.dockerList);
    assert.equal(await push(repo, 'multi', list, MT.dockerList), null);
    await expectExact(repo, 'multi', list);
    // ?strategy= means nothing to standard content.
    assert.equal(await push(repo, 'multi', idx1, MT.ociIndex, 'merge'), null);
    await expectExact(repo, 'multi', idx1);

    // Plain content over a unikernel tag replaces it; a unikernel index over plain content is stored as pushed.
    const uk = machine(repo, 'mixed', 'x86_64', 'qemu');
    await replayChildren(base, repo, [uk]);
    const ukIndex = kraftIndex([uk.descriptor], naming(repo, 'mixed'));
    assert.equal(await push(repo, 'mixed', ukIndex), null);
    assert.equal(await push(repo, 'mixed', idx2), null);
    await expectExact(repo, 'mixed', idx2);
    assert.equal(await push(repo, 'mixed', i3.bytes, MT.ociManifest), null);
    await expectExact(repo, 'mixed', i3.bytes);
    assert.equal(await push(repo, 'mixed', ukIndex), null);
    await expectExact(repo, 'mixed', ukIndex);
    // A single unikernel manifest on a fresh tag is stored as pushed.
    assert.equal(await push(repo, 'lone', uk.manifest, KMT.manifest), null);
    await expectExact(repo, 'lone', uk.manifest);
  });
});
