/**
 * Retention over real HTTP and a real LevelDB: POST /_unireg/retention (dry run
 * and real), each kind of rule, exemptions, immutable tags, unikernel platforms
 * kept by packs, and a push that moves a tag while retention runs.
 * One server serves every test; retention acts on all its repositories, so each
 * test looks only at the entries of its own repositories.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import type { RetentionEntry, RetentionReport } from '../../src/retention/service.js';
import { bytesOf, packOk } from '../helpers/kraft.js';
import { expectError, pushImage, pushManifest, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const RULES = [
  { repository: 'ret/keep/**', keepLast: 2, keepTags: ['stable'] },
  { repository: 'ret/keep/exempt/**' },
  { repository: 'ret/age/**', deleteOlderThan: '1h' },
  { repository: 'ret/uk/**', keepLast: 1, keepOnePerPlatform: true },
  { repository: 'ret/imm/**', keepLast: 0 },
  { repository: 'ret/race/**', deleteOlderThan: '1h' },
];

describe('retention', () => {
  let srv: TestServer;
  let base: string;
  before(async () => {
    srv = await startTestServer({ retention: RULES, immutableTags: [{ repository: 'ret/imm/**', tags: ['v.*'] }] });
    base = srv.url;
  });
  after(() => srv.destroy());

  async function post(query = ''): Promise<RetentionReport> {
    const res = await fetch(`${base}/_unireg/retention${query}`, { method: 'POST' });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return JSON.parse(text) as RetentionReport;
  }
  const of = (entries: RetentionEntry[], repo: string) => entries.filter((e) => e.repository === repo).map((e) => e.tag).sort();
  async function tagsOf(repo: string): Promise<string[]> {
    const res = await fetch(`${base}/v2/${repo}/tags/list`);
    return res.status === 404 ? [] : (((await res.json()) as { tags: string[] }).tags ?? []).sort();
  }
  /** Pushes images tagged in order (oldest first), each with a later push time; returns tag → digest. */
  async function pushTags(repo: string, tags: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const tag of tags) {
      out.set(tag, (await pushImage(base, repo, tag)).digest);
      await new Promise((r) => setTimeout(r, 3)); // distinct push times (ties would order by name)
    }
    return out;
  }

  test('a dry run lists exactly what the run then deletes; manifests stay for GC', async () => {
    const repo = repoName('ret/keep');
    const exempt = repoName('ret/keep/exempt');
    const outside = repoName('other');
    const started = Date.now();
    const digests = await pushTags(repo, ['stable', 't1', 't2', 't3', 't4', 't5']);
    await pushTags(exempt, ['a', 'b', 'c']);
    await pushTags(outside, ['a', 'b', 'c']);

    const dry = await post('?dryRun=true');
    assert.equal(dry.dryRun, true);
    assert.deepEqual(of(dry.deleted, repo), ['t1', 't2', 't3']);
    for (const e of dry.deleted.filter((x) => x.repository === repo)) {
      assert.equal(e.digest, digests.get(e.tag));
      assert.equal(e.rule, 'ret/keep/**');
      const at = Date.parse(e.pushedAt);
      assert.ok(at >= started && at <= Date.now(), `pushedAt ${e.pushedAt}`);
    }
    assert.deepEqual(of(dry.deleted, exempt), [], 'an exempting rule deletes nothing');
    assert.deepEqual(of(dry.deleted, outside), [], 'no rule, no retention');
    assert.equal(dry.counts.deleted, 0);
    assert.deepEqual(await tagsOf(repo), ['stable', 't1', 't2', 't3', 't4', 't5'], 'a dry run deletes nothing');

    const real = await post();
    assert.equal(real.dryRun, false);
    assert.deepEqual(
      real.deleted.filter((e) => e.repository === repo),
      dry.deleted.filter((e) => e.repository === repo),
      'the run deletes exactly what the dry run listed',
    );
    assert.ok(real.counts.deleted >= 3 && real.counts.deleted === real.deleted.length);
    assert.deepEqual(await tagsOf(repo), ['stable', 't4', 't5']);
    assert.deepEqual(await tagsOf(exempt), ['a', 'b', 'c']);
    assert.deepEqual(await tagsOf(outside), ['a', 'b', 'c']);
    // The tag is gone; its manifest stays until garbage collection.
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/t1`)).status, 404);
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/${digests.get('t1')}`)).status, 200);
    // Nothing left to do.
    assert.deepEqual(of((await post()).deleted, repo), []);
  });

  test('deleteOlderThan: nothing is deleted until the tags are older than that', async () => {
    const repo = repoName('ret/age');
    await pushTags(repo, ['a', 'b']);
    const now = Date.now();
    assert.deepEqual(of((await srv.registry.retention.run({ now })).deleted, repo), []);
    assert.deepEqual(of((await srv.registry.retention.run({ now: now + 3_600_000 - 1000 })).deleted, repo), []);
    const later = now + 2 * 3_600_000;
    const dry = await srv.registry.retention.run({ now: later, dryRun: true });
    assert.deepEqual(of(dry.deleted, repo), ['a', 'b']);
    assert.deepEqual(await tagsOf(repo), ['a', 'b']);
    await srv.registry.retention.run({ now: later });
    assert.deepEqual(await tagsOf(repo), []);
  });

  test('immutable tags are never deleted, even by keepLast: 0', async () => {
    const repo = repoName('ret/imm');
    await pushTags(repo, ['v1', 'dev', 'v2-rc']);
    assert.deepEqual(of((await post('?dryRun=true')).deleted, repo), ['dev'], 'not even listed');
    const report = await post();
    assert.deepEqual(of(report.deleted, repo), ['dev']);
    assert.deepEqual(of(report.skipped, repo), []);
    assert.deepEqual(await tagsOf(repo), ['v1', 'v2-rc']);
  });

  test('keepOnePerPlatform keeps the newest tag of each unikernel platform no kept tag holds', async () => {
    const repo = repoName('ret/uk');
    const packed = async (tag: string, arch: string, plat: string) => {
      await packOk(base, repo, { tag, arch, plat, kernel: bytesOf(`${repo}/${tag}`, 4000) });
      await new Promise((r) => setTimeout(r, 3));
    };
    await packed('q-old', 'x86_64', 'qemu');
    await packed('fc', 'arm64', 'fc');
    await packed('q-mid', 'x86_64', 'qemu');
    await pushTags(repo, ['image']); // not a unikernel: holds no platform
    await packed('q-new', 'x86_64', 'qemu');
    // keepLast 1 keeps q-new (x86_64/qemu); arm64/fc survives only through its newest tag.
    const dry = await post('?dryRun=true');
    assert.deepEqual(of(dry.deleted, repo), ['image', 'q-mid', 'q-old']);
    await post();
    assert.deepEqual(await tagsOf(repo), ['fc', 'q-new']);
    // The kept fc tag still serves its variant.
    const variants = (await (await fetch(`${base}/v2/${repo}/_unikraft/variants`)).json()) as { variants: { tag: string; plat: string }[] };
    assert.deepEqual(variants.variants.map((v) => `${v.tag}:${v.plat}`).sort(), ['fc:fc', 'q-new:qemu']);
  });

  test('the tag delete re-checks under the lock: a tag moved or re-pushed since it was read stays', async () => {
    const repo = repoName('ret/race');
    const { deps } = srv.registry;
    const first = await pushImage(base, repo, 'moved');
    await pushManifest(base, repo, 'refreshed', first.bytes);
    const seen = (await deps.meta.getTagRecord(repo, 'moved'))!;
    const seenRefresh = (await deps.meta.getTagRecord(repo, 'refreshed'))!;
    await pushManifest(base, repo, 'moved', (await pushImage(base, repo)).bytes);
    await new Promise((r) => setTimeout(r, 3));
    await pushManifest(base, repo, 'refreshed', first.bytes);
    assert.equal(await srv.registry.manifests.deleteTagIfUnchanged(repo, seen), false, 'moved to another manifest');
    assert.equal(await srv.registry.manifests.deleteTagIfUnchanged(repo, seenRefresh), false, 'same manifest, pushed again');
    assert.deepEqual(await tagsOf(repo), ['moved', 'refreshed']);
    const current = (await deps.meta.getTagRecord(repo, 'moved'))!;
    assert.equal(await srv.registry.manifests.deleteTagIfUnchanged(repo, current), true);
    assert.equal(await srv.registry.manifests.deleteTagIfUnchanged(repo, current), false, 'already gone');
    assert.deepEqual(await tagsOf(repo), ['refreshed']);
  });

  test('a push that moves a tag while the run waits for the repository lock wins', async () => {
    const repo = repoName('ret/race');
    const { deps } = srv.registry;
    const old = await pushImage(base, repo);
    const fresh = await pushImage(base, repo);
    // A tag pushed long ago (as old tags read), which deleteOlderThan: 1h would delete.
    await deps.meta.putManifest(repo, { record: (await deps.meta.getManifest(repo, old.digest as Digest))!, tag: 'busy', tagPushedAt: 0 });
    let release!: () => void;
    let moved!: Promise<void>;
    const held = deps.locks.run(repo, async () => {
      moved = new Promise<void>((resolve) => (release = resolve));
      await moved;
      // As a push does under this lock: the tag now points at another manifest, pushed now.
      await deps.meta.putManifest(repo, { record: (await deps.meta.getManifest(repo, fresh.digest as Digest))!, tag: 'busy' });
      deps.cache.invalidate(repo, { tags: ['busy'] });
    });
    const running = srv.registry.retention.run();
    // Let retention plan and queue for the lock, then let the "push" finish.
    await new Promise((r) => setTimeout(r, 200));
    release();
    const [report] = await Promise.all([running, held]);
    assert.deepEqual(of(report.deleted, repo), [], 'the moved tag was not deleted');
    assert.deepEqual(of(report.skipped, repo), ['busy'], 'it is reported as skipped');
    assert.equal((await fetch(`${base}/v2/${repo}/manifests/busy`)).headers.get('docker-content-digest'), fresh.digest);
  });

  test('dryRun must be a boolean; the endpoint is POST only', async () => {
    await expectError(await fetch(`${base}/_unireg/retention?dryRun=maybe`, { method: 'POST' }), 400, 'BAD_REQUEST');
    await expectError(await fetch(`${base}/_unireg/retention`), 405, 'UNSUPPORTED');
    assert.equal((await post('?dryRun=1')).dryRun, true);
    assert.equal((await post('?dryRun=false')).dryRun, false);
  });
});

describe('retention: counts, and a registry without rules', () => {
  test('counts cover every repository; without rules nothing is governed', async () => {
    const srv = await startTestServer({ retention: [{ repository: 'a/**', keepLast: 1 }] });
    const plain = await startTestServer();
    try {
      for (const tag of ['x', 'y', 'z']) await pushImage(srv.url, 'a/one', tag);
      await pushImage(srv.url, 'b/two', 'x');
      const report = await srv.registry.retention.run({ dryRun: true });
      assert.deepEqual(report.counts, { repositories: 2, governed: 1, tags: 3, kept: 1, deleted: 0, skipped: 0 });
      assert.equal(report.deleted.length, 2);
      assert.equal(typeof report.durationMs, 'number');
      const done = await srv.registry.retention.run();
      assert.deepEqual(done.counts, { repositories: 2, governed: 1, tags: 3, kept: 1, deleted: 2, skipped: 0 });
      assert.equal(srv.registry.retention.configured, true);

      await pushImage(plain.url, 'a/one', 'x');
      const none = await plain.registry.retention.run();
      assert.deepEqual(none.counts, { repositories: 1, governed: 0, tags: 0, kept: 0, deleted: 0, skipped: 0 });
      assert.equal(plain.registry.retention.configured, false);
    } finally {
      await Promise.all([srv.destroy(), plain.destroy()]);
    }
  });

  test('runs queue behind each other on the job lock, which no repository (not even one named "retention") shares', { timeout: 20_000 }, async () => {
    const srv = await startTestServer({ retention: [{ repository: 'retention', keepLast: 1 }] });
    try {
      for (const tag of ['a', 'b', 'c']) {
        await pushImage(srv.url, 'retention', tag);
        await new Promise((r) => setTimeout(r, 3));
      }
      // Were the job lock the repository's, the run would wait for itself when it deletes there.
      const [first, second] = await Promise.all([srv.registry.retention.run(), srv.registry.retention.run()]);
      assert.deepEqual(first.deleted.map((e) => e.tag).sort(), ['a', 'b']);
      assert.deepEqual(second.deleted, [], 'the second run starts after the first has finished');
      const res = await fetch(`${srv.url}/v2/retention/tags/list`);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['c']);
    } finally {
      await srv.destroy();
    }
  });
});
