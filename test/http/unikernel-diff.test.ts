/**
 * `GET /v2/<name>/_unikraft/diff?from=&to=`: the exact JSON of a diff between two
 * tags (features added, removed and changed; kernel, layer and image sizes), by tag
 * or digest, with arch/plat picking the variant on a side that holds several, and
 * the errors for a side that matches none or too many.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kraftIndex, kraftVariant, putTag, replayChildren, type KraftVariant } from '../helpers/kraft.js';
import { expectError } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('unikernel diff', () => {
  let srv: TestServer;
  let base: string;
  const repo = 'uk/diff';
  const naming = (tag: string) => ({ name: repo, tag });
  const v1 = kraftVariant({ name: repo, tag: 'v1', arch: 'x86_64', plat: 'qemu', seed: 'a', version: '0.17.0', kconfig: 'CONFIG_HZ=100\nCONFIG_A=y\n' });
  const v2 = kraftVariant({ name: repo, tag: 'v2', arch: 'x86_64', plat: 'qemu', seed: 'bbbbbb', version: '0.18.0', kconfig: 'CONFIG_HZ=1000\nCONFIG_B=y\n' });
  const v2arm = kraftVariant({ name: repo, tag: 'v2', arch: 'arm64', plat: 'qemu', seed: 'cc', kconfig: 'CONFIG_HZ=1000\n' });
  const tagDigest: Record<string, string> = {};

  const push = async (tag: string, variants: KraftVariant[]) => {
    await replayChildren(base, repo, variants);
    const res = await putTag(base, repo, tag, kraftIndex(variants.map((v) => v.descriptor), naming(tag)));
    assert.equal(res.status, 201, await res.text());
    tagDigest[tag] = (await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'HEAD' })).headers.get('docker-content-digest')!;
  };
  const diff = (query: string) => fetch(`${base}/v2/${repo}/_unikraft/diff${query}`);

  before(async () => {
    srv = await startTestServer();
    base = srv.url;
    await push('v1', [v1]);
    await push('v2', [v2, v2arm]);
  });
  after(() => srv.destroy());

  test('two tags, the x86_64 variant of each: exact JSON', async () => {
    const res = await diff('?from=v1&to=v2&arch=x86_64');
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const image = (v: KraftVariant) => v.manifest.length + v.config.length + v.layer.length;
    assert.deepEqual(JSON.parse(text), {
      repository: repo,
      from: { reference: 'v1', index: tagDigest.v1, manifest: v1.manifestDigest, platform: { architecture: 'x86_64', os: 'qemu', 'os.version': '0.17.0' } },
      to: { reference: 'v2', index: tagDigest.v2, manifest: v2.manifestDigest, platform: { architecture: 'x86_64', os: 'qemu', 'os.version': '0.18.0' } },
      features: { added: ['CONFIG_B=y'], removed: ['CONFIG_A=y'], changed: [{ key: 'CONFIG_HZ', from: '100', to: '1000' }] },
      kernel: { from: v1.layer.length, to: v2.layer.length, delta: v2.layer.length - v1.layer.length },
      image: { from: image(v1), to: image(v2), delta: image(v2) - image(v1) },
      parts: [
        {
          role: 'kernel',
          changed: true,
          delta: v2.layer.length - v1.layer.length,
          from: { digest: v1.layerDigest, size: v1.layer.length },
          to: { digest: v2.layerDigest, size: v2.layer.length },
        },
        {
          role: 'config',
          changed: true,
          delta: v2.config.length - v1.config.length,
          from: { digest: v1.configDigest, size: v1.config.length },
          to: { digest: v2.configDigest, size: v2.config.length },
        },
      ],
    });
    assert.ok(v2.layer.length > v1.layer.length, 'the kernels differ in size');
  });

  test('by digest: a variant manifest is that variant; the same variant on both sides diffs to nothing', async () => {
    const res = await diff(`?from=${v2arm.manifestDigest}&to=v2&plat=kvm&arch=aarch64`);
    const body = (await res.json()) as { features: unknown; kernel: unknown; parts: { changed: boolean }[] };
    assert.equal(res.status, 200);
    assert.deepEqual(body.features, { added: [], removed: [], changed: [] });
    assert.deepEqual(body.kernel, { from: v2arm.layer.length, to: v2arm.layer.length, delta: 0 });
    assert.deepEqual(body.parts.map((p) => p.changed), [false, false]);
  });

  test('a side with several matching variants is a 400 naming them; none matching a 404; missing parameters a 400', async () => {
    const many = await diff('?from=v1&to=v2');
    const text = await many.clone().text();
    await expectError(many, 400, 'MANIFEST_INVALID');
    assert.match(text, /to \(v2\) holds 2 matching variants \(x86_64\/qemu, arm64\/qemu\)/);
    await expectError(await diff('?from=v1&to=v2&arch=arm64'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await diff('?from=v1&to=nope&arch=x86_64'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await diff('?from=v1'), 400, 'BAD_REQUEST');
    await expectError(await diff('?from=v1&to=v2&arch=riscv99'), 400, 'MANIFEST_INVALID');
  });
});
