/**
 * The unikernel and maintenance events: a pack (with its platform and kconfig
 * features), a merge of a second variant into the tag, a retention run (each
 * deleted tag, then the run's result) and a GC run, as a real receiver on
 * 127.0.0.1 gets them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pushImage } from '../helpers/oci.js';
import { bytesOf, dotConfig, packOk } from '../helpers/kraft.js';
import { startTestServer } from '../helpers/server.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

test('pack, merge, retention and GC events', async () => {
  const receiver = await WebhookReceiver.start();
  const server = await startTestServer({
    webhooks: [{ url: receiver.url }],
    webhooksDelivery: { backoff: '10ms', maxBackoff: '50ms' },
    retention: [{ repository: 'ret/*', keepLast: 1 }],
    gc: { grace: '0s' },
  } as never);
  try {
    const base = server.url;
    const qemu = await packOk(base, 'uk/app', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('k1', 4096), kconfig: dotConfig(['CONFIG_HZ=100']) });
    const fc = await packOk(base, 'uk/app', { tag: 'v1', arch: 'arm64', plat: 'fc', kernel: bytesOf('k2', 4096), version: '0.17.0' });
    await receiver.until('both packs', () => receiver.delivered.filter((d) => d.event.type === 'io.unireg.unikernel.packed').length === 2);
    const uk = receiver.deliveredFor('uk/app');
    const packed = uk.filter((d) => d.event.type === 'io.unireg.unikernel.packed').map((d) => d.event.data);
    assert.deepEqual(packed[0], { ...qemu });
    assert.deepEqual(packed[1], { ...fc });
    assert.ok(qemu.platform['os.features']?.includes('CONFIG_HZ=100'), 'the kconfig features ride along');
    const merged = uk.filter((d) => d.event.type === 'io.unireg.unikernel.merged');
    assert.equal(merged.length, 1, 'the second pack merged into the tag');
    const m = merged[0]!.event.data as { tag: string; digest: string; variants: { digest: string; platform: unknown }[] };
    assert.equal(m.tag, 'v1');
    assert.equal(m.digest, fc.index);
    assert.deepEqual(
      m.variants.map((v) => v.digest),
      [qemu.manifest, fc.manifest],
    );
    assert.deepEqual(m.variants[0]!.platform, qemu.platform);
    // Each pack's events, in order: the variant manifest, its provenance referrer, the index by tag (and the merge), the pack.
    assert.deepEqual(
      uk.map((d) => d.event.type.replace('io.unireg.', '')),
      [
        'manifest.pushed', 'manifest.pushed', 'manifest.pushed', 'unikernel.packed',
        'manifest.pushed', 'manifest.pushed', 'manifest.pushed', 'unikernel.merged', 'unikernel.packed',
      ],
    );
    const provenancePushes = uk.filter((d) => d.event.type === 'io.unireg.manifest.pushed' && (d.event.data as { digest: string }).digest === qemu.provenance);
    assert.equal(provenancePushes.length, 1, 'the provenance referrer is pushed like any manifest');

    await pushImage(base, 'ret/x', 'old');
    await pushImage(base, 'ret/x', 'new');
    const retention = await fetch(`${base}/_unireg/retention`, { method: 'POST' });
    assert.equal(retention.status, 200);
    const gc = await fetch(`${base}/_unireg/gc`, { method: 'POST' });
    assert.equal(gc.status, 200);
    const gcReport = (await gc.json()) as { manifestsDeleted: number; blobsDeleted: number };
    await receiver.until('the gc event', () => receiver.delivered.some((d) => d.event.type === 'io.unireg.gc.completed'));
    const deleted = receiver.deliveredFor('ret/x').filter((d) => d.event.type === 'io.unireg.tag.deleted');
    assert.deepEqual(deleted.map((d) => [d.event.data.tag, d.event.data.reason]), [['old', 'retention']]);
    const wide = receiver.delivered.filter((d) => d.event.subject === undefined);
    assert.deepEqual(wide.map((d) => d.event.type), ['io.unireg.retention.completed', 'io.unireg.retention.completed', 'io.unireg.gc.completed']);
    const first = wide[0]!.event.data as { counts: { deleted: number }; deleted: { tag: string }[] };
    assert.equal(first.counts.deleted, 1);
    assert.deepEqual(first.deleted.map((e) => e.tag), ['old']);
    const gcData = wide[2]!.event.data as { dryRun: boolean; manifestsDeleted: number; blobsDeleted: number };
    assert.equal(gcData.dryRun, false);
    assert.equal(gcData.blobsDeleted, gcReport.blobsDeleted);
    assert.equal(gcData.manifestsDeleted, gcReport.manifestsDeleted);
    // A dry run changes nothing and sends nothing.
    const before = receiver.delivered.length;
    assert.equal((await fetch(`${base}/_unireg/gc?dryRun=true`, { method: 'POST' })).status, 200);
    await pushImage(base, 'ret/y', 'marker');
    await receiver.until('the marker push', () => receiver.deliveredFor('ret/y').length === 1);
    assert.equal(receiver.delivered.length, before + 1);
  } finally {
    await server.destroy();
    await receiver.close();
  }
});
