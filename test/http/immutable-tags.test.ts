/**
 * Immutable tags over real HTTP: overwriting, deleting (by tag and by the digest
 * a tag points at), merging unikernel variants into and packing into an
 * immutable tag are refused with 409 DENIED and a detail naming the tag and the
 * rule; identical re-pushes, new tags, other tags and exempted repositories
 * behave as usual.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { layerBytes } from '../../src/unikernel/layer.js';
import { KERNEL_MODE, KERNEL_PATH } from '../../src/unikernel/names.js';
import { assertUnchanged, bytesOf, inspect, kraftIndex, kraftVariant, pack, packOk, putTag, replayChildren, tagState } from '../helpers/kraft.js';
import { expectError, MT, pushImage, pushManifest, putManifest, repoName, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Detail {
  repository: string;
  tag: string;
  digest: string;
  action: string;
  rule: { repository: string; tags: string[] };
}

/** Asserts 409 DENIED and returns the error's message and detail. */
async function expectImmutable(res: Response, tag: string, action: string): Promise<{ message: string; detail: Detail }> {
  const copy = res.clone();
  await expectError(res, 409, 'DENIED');
  const body = (await copy.json()) as { errors: { message: string; detail: Detail }[] };
  const error = body.errors[0]!;
  assert.equal(error.detail.tag, tag);
  assert.equal(error.detail.action, action);
  assert.deepEqual(error.detail.rule, { repository: 'imm/**', tags: ['v\\d+(\\.\\d+)*', 'stable'] });
  assert.match(error.message, new RegExp(`immutable tag ${tag} |tag ${tag} of `));
  assert.match(error.message, /immutableTags rule for "imm\/\*\*"/);
  return error;
}

describe('immutable tags', () => {
  let srv: TestServer;
  let base: string;
  before(async () => {
    srv = await startTestServer({
      immutableTags: [
        { repository: 'imm/**', tags: ['v\\d+(\\.\\d+)*', 'stable'] },
        { repository: 'imm/free/**', tags: [] },
      ],
    });
    base = srv.url;
  });
  after(() => srv.destroy());

  test('a different manifest cannot be pushed to an existing immutable tag; the identical one can', async () => {
    const repo = repoName('imm');
    const first = await pushImage(base, repo, 'v1.2');
    const other = await pushImage(base, repo);
    const before = await tagState(base, repo, 'v1.2');

    const refused = await expectImmutable(await putManifest(base, repo, 'v1.2', other.bytes), 'v1.2', 'overwrite');
    assert.equal(refused.detail.digest, first.digest, 'the detail names what the tag holds');
    assert.equal(refused.detail.repository, repo);
    await assertUnchanged(base, repo, 'v1.2', before, 'a refused overwrite');

    // CI re-pushing the same bytes succeeds, as often as it likes.
    await pushManifest(base, repo, 'v1.2', first.bytes);
    await pushManifest(base, repo, 'v1.2', first.bytes);
    await assertUnchanged(base, repo, 'v1.2', before, 'an identical re-push');

    // A new immutable tag may be created; patterns match whole tags; other tags move freely.
    await pushManifest(base, repo, 'stable', other.bytes);
    await pushManifest(base, repo, 'v1.2-rc', other.bytes);
    await pushManifest(base, repo, 'v1.2-rc', first.bytes);
    await pushManifest(base, repo, 'dev', first.bytes);
    await pushManifest(base, repo, 'dev', other.bytes);
    await expectImmutable(await putManifest(base, repo, 'stable', first.bytes), 'stable', 'overwrite');
    // Pushes by digest never touch a tag.
    const third = await pushImage(base, repo);
    assert.equal((await tagState(base, repo, third.digest)).status, 200);
  });

  test('an immutable tag cannot be deleted, by tag or by the digest it points at', async () => {
    const repo = repoName('imm');
    const image = await pushImage(base, repo, 'v2');
    const loose = await pushImage(base, repo, 'dev');
    const before = await tagState(base, repo, 'v2');

    const byTag = await expectImmutable(await fetch(`${base}/v2/${repo}/manifests/v2`, { method: 'DELETE' }), 'v2', 'delete');
    assert.equal(byTag.detail.digest, image.digest);
    const byDigest = await expectImmutable(await fetch(`${base}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' }), 'v2', 'delete-manifest');
    assert.equal(byDigest.detail.digest, image.digest);
    assert.match(byDigest.message, new RegExp(`manifest ${image.digest} of ${repo} is the target of immutable tag v2`));
    await assertUnchanged(base, repo, 'v2', before, 'refused deletes');

    // A manifest that an immutable tag also points at is protected through any of its tags.
    await pushManifest(base, repo, 'also', image.bytes);
    await expectImmutable(await fetch(`${base}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' }), 'v2', 'delete-manifest');
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/also`, { method: 'DELETE' })).status, 202, 'its mutable tag may go');

    // Mutable tags and their manifests delete as usual; a missing immutable tag is simply unknown.
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/dev`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/${loose.digest}`, { method: 'DELETE' })).status, 202);
    await expectError(await fetch(`${base}/v2/${repo}/manifests/v9`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('a more specific rule with no patterns exempts its repositories', async () => {
    const repo = repoName('imm/free');
    const a = await pushImage(base, repo, 'v1');
    const b = await pushImage(base, repo);
    await pushManifest(base, repo, 'v1', b.bytes);
    assert.equal((await tagState(base, repo, 'v1')).digest, b.digest);
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/v1`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/${a.digest}`, { method: 'DELETE' })).status, 202);
    // Outside every rule nothing is immutable.
    const open = repoName('mutable');
    await pushImage(base, open, 'v1');
    await pushManifest(base, open, 'v1', (await pushImage(base, open)).bytes);
  });

  test('unikernel variants are not merged into an immutable tag, whatever the strategy', async () => {
    const repo = repoName('imm/uk');
    const naming = { name: `${srv.host}/${repo}`, tag: 'v3' };
    const qemu = kraftVariant({ ...naming, arch: 'x86_64', plat: 'qemu', seed: `${repo}/qemu` });
    const fc = kraftVariant({ ...naming, arch: 'arm64', plat: 'fc', seed: `${repo}/fc` });
    await replayChildren(base, repo, [qemu, fc]);
    const first = kraftIndex([qemu.descriptor], naming);
    const put = await putTag(base, repo, 'v3', first);
    assert.equal(put.status, 201, await put.text());
    const before = await tagState(base, repo, 'v3');
    assert.equal(before.digest, sha256(first));

    // A second build machine's index (another platform) would merge: refused.
    const second = kraftIndex([fc.descriptor], naming);
    const refused = await expectImmutable(await putTag(base, repo, 'v3', second), 'v3', 'overwrite');
    assert.equal(refused.detail.digest, sha256(first));
    await expectImmutable(await putTag(base, repo, 'v3', second, MT.ociIndex, 'overwrite'), 'v3', 'overwrite');
    // A single variant pushed by tag would merge too.
    await expectImmutable(await putTag(base, repo, 'v3', fc.manifest, MT.ociManifest), 'v3', 'overwrite');
    await assertUnchanged(base, repo, 'v3', before, 'refused merges');
    assert.deepEqual((await inspect(base, repo, 'v3')).index.manifests.map((d) => d.digest), [qemu.manifestDigest]);

    // Re-pushing the same index is idempotent: no merge, the tag stays (even with strategy abort).
    const again = await putTag(base, repo, 'v3', first, MT.ociIndex, 'abort');
    assert.equal(again.status, 201, await again.text());
    await assertUnchanged(base, repo, 'v3', before, 'an identical re-push');
    // The same variants merge freely into a mutable tag.
    assert.equal((await putTag(base, repo, 'edge', first)).status, 201);
    const merged = await putTag(base, repo, 'edge', second);
    assert.equal(merged.status, 201);
    assert.ok(merged.headers.get('unireg-index-digest'));
  });

  test('packing into an existing immutable tag is refused before anything is stored', async () => {
    const repo = repoName('imm/pack');
    const packed = await packOk(base, repo, { tag: 'v4', arch: 'x86_64', plat: 'qemu', kernel: bytesOf(`${repo}/qemu`, 4000) });
    const before = await tagState(base, repo, 'v4');
    assert.equal(before.digest, packed.index);

    const kernel = bytesOf(`${repo}/fc`, 4100);
    const res = await pack(base, repo, { tag: 'v4', arch: 'arm64', plat: 'fc', kernel });
    const refused = await expectImmutable(res, 'v4', 'overwrite');
    assert.equal(refused.detail.digest, packed.index);
    await assertUnchanged(base, repo, 'v4', before, 'a refused pack');
    const layer = sha256(layerBytes(KERNEL_PATH, kernel, KERNEL_MODE));
    assert.equal((await fetch(`${base}/v2/${repo}/blobs/${layer}`, { method: 'HEAD' })).status, 404, 'the refused kernel layer was not stored');
    // The same kernel packs into a mutable tag of the repository.
    const ok = await packOk(base, repo, { tag: 'nightly', arch: 'arm64', plat: 'fc', kernel });
    assert.equal(ok.layers[0]!.digest, layer);
  });
});
