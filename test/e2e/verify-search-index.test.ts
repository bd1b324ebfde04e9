/**
 * `unireg verify` and the kconfig search index: stale index records are found
 * (exact findings), `--repair` removes them and clears the index's built mark, and
 * the next start-up rebuilds the index from the tags (the backfill that also
 * indexes a registry whose data predates the index).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { encodePosting } from '../../src/storage/metadata/search-index-ops.js';
import { runCli } from '../helpers/cli.js';
import { bytesOf, dotConfig, packOk, type PackResult } from '../helpers/kraft.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Json {
  clean: boolean;
  findings: Record<string, unknown>[];
  repair?: { actions: { action: string; finding: Record<string, unknown> }[]; remaining: unknown[] };
}

describe('verify and the search index', () => {
  let srv: TestServer;
  let root: string;
  let packed: PackResult;

  const search = async () => {
    const res = await fetch(`${srv.url}/_unikraft/search?kconfig=CONFIG_HZ=250&match=exact`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { results: { repository: string; tag: string; manifest: string }[] }).results;
  };

  before(async () => {
    srv = await startTestServer();
    root = srv.root;
    packed = await packOk(srv.url, 'ix/a', { tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: bytesOf('ix', 500), kconfig: dotConfig(['CONFIG_HZ=250']) });
  });
  after(() => srv.destroy());

  const verify = (...args: string[]) => runCli(['verify', '--root', root, ...args]);

  test('stale records are found exactly; --repair removes them; the next start rebuilds the index', async () => {
    assert.deepEqual((await search()).map((h) => `${h.repository}:${h.tag}`), ['ix/a:v1']);
    await srv.stop();
    assert.equal((await verify()).code, 0, 'clean before any damage');

    const layout = new Layout(root);
    const kv = new LevelKv(layout.metaDir);
    const meta = new KvMetadataStore(kv);
    await meta.open();
    assert.equal(await meta.indexBuilt(), true, 'the start-up marked the index built');
    const m = parseDigest(packed.manifest);
    const index = parseDigest(packed.index);
    // The tag's real entries go (a consistent state verify cannot see: only a rebuild restores them) ...
    assert.equal(await meta.indexTag('ix/a', 'v1', index, []), true);
    // ... and damage verify does see: a variant of a tag that does not exist, a posting its variant does not list,
    // a feature nothing lists.
    const value = JSON.stringify({ index, architecture: 'x86_64', os: 'qemu', features: ['CONFIG_HZ=250'], imageSize: 1 });
    await kv.batch([
      { type: 'put', key: keys.variant('ix/a', 'gone', m), value: Buffer.from(value) },
      { type: 'put', key: keys.posting('CONFIG_STALE=y', 'ix/a', 'gone', m), value: encodePosting(index, { digest: m, architecture: 'x86_64', os: 'qemu', features: [], imageSize: 1 }) },
      { type: 'put', key: keys.feature('CONFIG_UNUSED=y'), value: Buffer.alloc(0) },
    ]);
    await meta.close();

    const res = await verify('--json');
    assert.equal(res.code, 1, res.stderr);
    const report = JSON.parse(res.stdout) as Json;
    const byJson = (x: unknown, y: unknown) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1);
    assert.deepEqual(report.findings.filter((f) => f.kind !== 'unusedFeature').sort(byJson), [
      { kind: 'staleIndexEntry', record: `feature posting CONFIG_STALE=y ix/a:gone ${m}`, reason: 'the indexed variant does not list CONFIG_STALE=y' },
      { kind: 'staleIndexEntry', record: `indexed variant ix/a:gone ${m}`, reason: `tag gone no longer points at ${index}` },
    ].sort(byJson));
    // Notices: the feature nothing lists, and those the real variant listed (its entries were dropped above).
    const unused = report.findings.filter((f) => f.kind === 'unusedFeature').map((f) => f.feature);
    assert.ok(unused.includes('CONFIG_UNUSED=y'));
    assert.ok(unused.includes('CONFIG_PLAT_KVM=y'));
    const text = await verify();
    assert.match(text.stdout, /stale search index record \[indexed variant ix\/a:gone/);

    const repaired = await verify('--repair', '--json');
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    const { repair } = JSON.parse(repaired.stdout) as Json;
    assert.deepEqual(repair?.remaining, []);
    assert.ok((repair?.actions.filter((a) => a.action === 'removed record').length ?? 0) >= 3);
    const again = JSON.parse((await verify('--json')).stdout) as Json;
    assert.deepEqual(again.findings, []);

    const check = new KvMetadataStore(new LevelKv(layout.metaDir));
    await check.open();
    assert.equal(await check.indexBuilt(), false, 'the repair cleared the built mark');
    await check.close();

    srv = await startTestServer({}, root);
    assert.deepEqual((await search()).map((h) => `${h.repository}:${h.tag}@${h.manifest}`), [`ix/a:v1@${packed.manifest}`], 'rebuilt at start-up');
  });
});
