/**
 * Size budgets (`unikernel.budgets`): a push or pack of a variant whose kernel layer
 * or whole image is over its repository's budget is refused with 403 DENIED naming
 * the limit and the size (exact JSON); the most specific glob decides (a rule with
 * no limits exempts); the variants listing reports sizes and the budget, and flags
 * variants stored before the budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bytesOf, kraftVariant, pack, packOk, replayBlob, KMT } from '../helpers/kraft.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { sha256 } from '../helpers/oci.js';
import { layerBytes } from '../../src/unikernel/layer.js';
import { KERNEL_PATH } from '../../src/unikernel/names.js';

const budgets = [
  { repository: 'bud/**', maxKernelSize: 4000 },
  { repository: 'bud/free' },
  { repository: 'img/**', maxImageSize: '5000' },
];

describe('size budgets', () => {
  let srv: TestServer;
  let base: string;
  // A 3100-byte kernel: its layer is 512 + 3584 + 1024 = 5120 bytes.
  const v = kraftVariant({ name: 'bud', tag: 'v1', arch: 'x86_64', plat: 'qemu', seed: 'a' });
  const putChild = async (repo: string) => {
    await replayBlob(base, repo, v.layer);
    await replayBlob(base, repo, v.config);
    return fetch(`${base}/v2/${repo}/manifests/${v.manifestDigest}`, { method: 'PUT', headers: { 'Content-Type': KMT.manifest }, body: new Uint8Array(v.manifest) });
  };

  before(async () => {
    srv = await startTestServer({ unikernel: { budgets } });
    base = srv.url;
  });
  after(() => srv.destroy());

  test('a kernel over maxKernelSize: 403 DENIED, exact JSON; nothing stored', async () => {
    assert.equal(v.layer.length, 5120);
    const res = await putChild('bud/a');
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), {
      errors: [
        {
          code: 'DENIED',
          message: `kernel of variant x86_64/qemu ${v.manifestDigest} is 5120 bytes, over the maxKernelSize budget of 4000 bytes for repositories bud/** (unikernel.budgets)`,
          detail: { repository: 'bud/a', limit: 'maxKernelSize', size: 5120, budget: 4000, variant: `x86_64/qemu ${v.manifestDigest}`, rule: 'bud/**' },
        },
      ],
    });
    assert.equal((await fetch(`${base}/v2/bud/a/manifests/${v.manifestDigest}`, { method: 'HEAD' })).status, 404);
  });

  test('a rule without limits exempts its repositories; repositories no rule covers have no budget', async () => {
    assert.equal((await putChild('bud/free')).status, 201);
    assert.equal((await putChild('other/x')).status, 201);
  });

  test('an image over maxImageSize: 403 DENIED naming the image size', async () => {
    const size = v.manifest.length + v.config.length + v.layer.length;
    const res = await putChild('img/a');
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), {
      errors: [
        {
          code: 'DENIED',
          message: `image of variant x86_64/qemu ${v.manifestDigest} is ${size} bytes, over the maxImageSize budget of 5000 bytes for repositories img/** (unikernel.budgets)`,
          detail: { repository: 'img/a', limit: 'maxImageSize', size, budget: 5000, variant: `x86_64/qemu ${v.manifestDigest}`, rule: 'img/**' },
        },
      ],
    });
  });

  test('a pack over budget is refused and leaves the tag as it was; one within is packed and listed with its budget', async () => {
    const big = bytesOf('big', 5000);
    const over = await pack(base, 'bud/p', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: big });
    assert.equal(over.status, 403);
    const size = 512 + 5120 + 1024;
    assert.deepEqual(await over.json(), {
      errors: [
        {
          code: 'DENIED',
          message: `kernel of variant x86_64/qemu (being packed) is ${size} bytes, over the maxKernelSize budget of 4000 bytes for repositories bud/** (unikernel.budgets)`,
          detail: { repository: 'bud/p', limit: 'maxKernelSize', size, budget: 4000, variant: 'x86_64/qemu (being packed)', rule: 'bud/**' },
        },
      ],
    });
    assert.equal((await fetch(`${base}/v2/bud/p/manifests/v1`, { method: 'HEAD' })).status, 404);
    const layer = layerBytes(KERNEL_PATH, big, 0o755);
    assert.equal((await fetch(`${base}/v2/bud/p/blobs/${sha256(layer)}`, { method: 'HEAD' })).status, 404, 'refused before the layer was stored');

    const ok = await packOk(base, 'bud/p', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('small', 100) });
    const manifest = Buffer.from(await (await fetch(`${base}/v2/bud/p/manifests/${ok.manifest}`)).arrayBuffer());
    const json = JSON.parse(manifest.toString()) as { config: { size: number }; layers: { size: number }[] };
    const listing = (await (await fetch(`${base}/v2/bud/p/_unikraft/variants`)).json()) as { budget?: unknown; variants: Record<string, unknown>[] };
    assert.deepEqual(listing.budget, { rule: 'bud/**', maxKernelSize: 4000 });
    const [variant] = listing.variants;
    assert.deepEqual(
      { kernelSize: variant!.kernelSize, kernelLayerSize: variant!.kernelLayerSize, imageSize: variant!.imageSize, overBudget: variant!.overBudget },
      { kernelSize: 100, kernelLayerSize: 2048, imageSize: manifest.length + json.config.size + 2048, overBudget: undefined },
    );
  });
});

describe('size budgets: variants stored before the budget', () => {
  test('are listed with overBudget', async () => {
    let srv = await startTestServer();
    try {
      await packOk(srv.url, 'late/x', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('late', 5000) });
      await srv.stop();
      srv = await startTestServer({ unikernel: { budgets: [{ repository: 'late/**', maxKernelSize: 4096, maxImageSize: 1 << 20 }] } }, srv.root);
      const listing = (await (await fetch(`${srv.url}/v2/late/x/_unikraft/variants`)).json()) as { budget?: unknown; variants: { overBudget?: string[] }[] };
      assert.deepEqual(listing.budget, { rule: 'late/**', maxKernelSize: 4096, maxImageSize: 1 << 20 });
      assert.deepEqual(listing.variants.map((v) => v.overBudget), [['maxKernelSize']]);
    } finally {
      await srv.destroy();
    }
  });
});
