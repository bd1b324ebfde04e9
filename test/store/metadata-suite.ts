/**
 * The shared MetadataStore suite: every implementation runs exactly these
 * tests (see level.test.ts and memory.test.ts). New store behaviour goes here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import type { ManifestRecord, MetadataStore, QueuedEvent } from '../../src/storage/types.js';

export interface StoreHandle {
  store: MetadataStore;
  /** Closes and reopens the store on the same data, when the implementation persists. */
  reopen?: () => Promise<MetadataStore>;
  dispose(): Promise<void>;
}

const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;

function manifest(text: string, subject?: Digest): ManifestRecord {
  const record: ManifestRecord = {
    digest: digest(text),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    bytes: Buffer.from(text),
  };
  if (subject) record.subject = subject;
  return record;
}

export function runMetadataStoreSuite(name: string, open: () => Promise<StoreHandle>): void {
  describe(`MetadataStore: ${name}`, () => {
    let handle: StoreHandle;
    let store: MetadataStore;
    before(async () => {
      handle = await open();
      store = handle.store;
    });
    after(() => handle.dispose());

    test('a repository exists once something is linked into it', async () => {
      assert.equal(await store.hasRepository('empty/repo'), false);
      await store.linkBlob('links/a', digest('blob-1'), 11);
      assert.equal(await store.hasRepository('links/a'), true);
      assert.equal(await store.getBlobLink('links/a', digest('blob-1')), 11);
      assert.equal(await store.getBlobLink('links/b', digest('blob-1')), undefined);
    });

    test('unlinking affects only that repository', async () => {
      await store.linkBlob('links/c', digest('blob-2'), 5);
      await store.linkBlob('links/d', digest('blob-2'), 5);
      assert.equal(await store.unlinkBlob('links/c', digest('blob-2')), true);
      assert.equal(await store.unlinkBlob('links/c', digest('blob-2')), false);
      assert.equal(await store.getBlobLink('links/c', digest('blob-2')), undefined);
      assert.equal(await store.getBlobLink('links/d', digest('blob-2')), 5);
      assert.equal(await store.findBlobRepository(digest('blob-2')), 'links/d');
      assert.equal(await store.findBlobRepository(digest('nowhere')), undefined);
    });

    test('manifests keep their exact bytes and media type', async () => {
      const m = manifest('{ "schemaVersion" :2,\n "odd":  true }');
      await store.putManifest('m/exact', { record: m, tag: 'v1' });
      const back = await store.getManifest('m/exact', m.digest);
      assert.ok(back);
      assert.deepEqual(Buffer.from(back.bytes), m.bytes);
      assert.equal(back.mediaType, m.mediaType);
      assert.equal(await store.getTag('m/exact', 'v1'), m.digest);
      assert.equal(await store.getManifest('m/other', m.digest), undefined);
    });

    test('moving a tag leaves the old manifest untagged', async () => {
      const a = manifest('{"a":1}');
      const b = manifest('{"b":2}');
      await store.putManifest('m/move', { record: a, tag: 'latest' });
      await store.putManifest('m/move', { record: b, tag: 'latest' });
      assert.equal(await store.getTag('m/move', 'latest'), b.digest);
      // Deleting the old manifest must not take the moved tag with it.
      assert.deepEqual(await store.deleteManifest('m/move', a.digest), []);
      assert.equal(await store.getTag('m/move', 'latest'), b.digest);
    });

    test('deleting a manifest removes every tag pointing at it and its referrer entry', async () => {
      const subject = digest('subject');
      const m = manifest('{"sig":1}', subject);
      const descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, artifactType: 'x/sig' };
      await store.putManifest('m/del', { record: m, tag: 't1', referrer: descriptor });
      await store.putManifest('m/del', { record: m, tag: 't2' });
      const keep = manifest('{"keep":1}');
      await store.putManifest('m/del', { record: keep, tag: 't3' });
      assert.deepEqual(await store.listReferrers('m/del', subject, { limit: 10 }), [descriptor]);
      const removed = await store.deleteManifest('m/del', m.digest);
      assert.deepEqual(removed?.sort(), ['t1', 't2']);
      assert.equal(await store.getManifest('m/del', m.digest), undefined);
      assert.deepEqual(await store.listTags('m/del', { limit: 10 }), ['t3']);
      assert.deepEqual(await store.listReferrers('m/del', subject, { limit: 10 }), []);
      assert.equal(await store.deleteManifest('m/del', m.digest), undefined);
    });

    test('deleting a tag keeps the manifest', async () => {
      const m = manifest('{"tagged":1}');
      await store.putManifest('m/untag', { record: m, tag: 'gone' });
      assert.equal(await store.deleteTag('m/untag', 'gone'), m.digest);
      assert.equal(await store.deleteTag('m/untag', 'gone'), undefined);
      assert.ok(await store.getManifest('m/untag', m.digest));
    });

    test('tags list in byte order, paged with an exclusive last, never crossing repositories', async () => {
      const m = manifest('{"tags":1}');
      const tags = ['b', 'a', 'C', 'a.1', 'a-1', '_x', '10', '9'];
      for (const tag of tags) await store.putManifest('page/t', { record: m, tag });
      await store.putManifest('page/t/sub', { record: m, tag: 'zzz' });
      await store.putManifest('page/t2', { record: m, tag: 'aaa' });
      const sorted = [...tags].sort();
      assert.deepEqual(await store.listTags('page/t', { limit: 100 }), sorted);
      assert.deepEqual(await store.listTags('page/t', { limit: 3 }), sorted.slice(0, 3));
      assert.deepEqual(await store.listTags('page/t', { limit: 3, last: sorted[2] }), sorted.slice(3, 6));
      assert.deepEqual(await store.listTags('page/t', { limit: 0 }), []);
      assert.deepEqual(await store.listTags('page/t', { limit: 10, last: sorted.at(-1) }), []);
    });

    test('repositories list in order and page', async () => {
      const all = await store.listRepositories({ limit: 1000 });
      assert.deepEqual(all, [...all].sort());
      assert.ok(all.includes('page/t') && all.includes('page/t/sub'));
      const first = await store.listRepositories({ limit: 2 });
      const rest = await store.listRepositories({ limit: 1000, last: first.at(-1) });
      assert.deepEqual([...first, ...rest], all);
    });

    test('referrers page by digest', async () => {
      const subject = digest('paged-subject');
      const digests: string[] = [];
      for (let i = 0; i < 5; i++) {
        const m = manifest(`{"ref":${i}}`, subject);
        digests.push(m.digest);
        await store.putManifest('refs/p', {
          record: m,
          referrer: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length },
        });
      }
      digests.sort();
      const page1 = await store.listReferrers('refs/p', subject, { limit: 2 });
      const page2 = await store.listReferrers('refs/p', subject, { limit: 10, last: page1.at(-1)!.digest });
      assert.deepEqual([...page1, ...page2].map((d) => d.digest), digests);
      assert.deepEqual(await store.listReferrers('refs/other', subject, { limit: 10 }), []);
    });

    test('upload sessions round-trip and complete atomically into a link', async () => {
      const session = { id: '00000000-0000-4000-8000-000000000001', repo: 'up/a', offset: 0, startedAt: 1, updatedAt: 1 };
      await store.putUpload(session);
      await store.putUpload({ ...session, offset: 42, updatedAt: 2 });
      assert.deepEqual(await store.getUpload(session.id), { ...session, offset: 42, updatedAt: 2 });
      assert.ok((await store.listUploads()).some((s) => s.id === session.id));
      await store.completeUpload(session.id, 'up/a', digest('uploaded'), 42);
      assert.equal(await store.getUpload(session.id), undefined);
      assert.equal(await store.getBlobLink('up/a', digest('uploaded')), 42);
      await store.deleteUpload(session.id);
    });

    test('an upload record keeps its hash and area states with the offset, and drops them when a put leaves them out', async () => {
      const session = { id: '00000000-0000-4000-8000-000000000002', repo: 'up/b', offset: 7, startedAt: 1, updatedAt: 1 };
      const withStates = { ...session, hashState: 'aGFzaA==', areaState: '{"u":"x","p":[["e",8388608]]}' };
      await store.putUpload(withStates);
      assert.deepEqual(await store.getUpload(session.id), withStates);
      assert.deepEqual((await store.listUploads()).find((s) => s.id === session.id), withStates);
      await store.putUpload({ ...session, offset: 9 });
      assert.deepEqual(await store.getUpload(session.id), { ...session, offset: 9 });
      await store.deleteUpload(session.id);
    });

    test('links carry linkedAt and touchedAt; a manifest put touches the links it names and records pushedAt', async () => {
      const [a, b] = [digest('gc-link-a'), digest('gc-link-b')];
      const t0 = Date.now();
      await store.linkBlob('gc/links', a, 1);
      await store.linkBlob('gc/links', b, 2);
      const linked = await store.getLink('gc/links', a);
      assert.ok(linked && linked.linkedAt >= t0 && linked.touchedAt === 0, JSON.stringify(linked));
      const m = manifest('{"gc":"touch"}');
      await store.putManifest('gc/links', { record: m, touch: [a, digest('not-linked')] });
      const touched = await store.getLink('gc/links', a);
      assert.ok(touched && touched.touchedAt >= linked.linkedAt);
      assert.equal((await store.getLink('gc/links', b))?.touchedAt, 0);
      assert.equal(await store.getLink('gc/links', digest('not-linked')), undefined, 'a touch never creates a link');
      const stored = await store.getManifest('gc/links', m.digest);
      assert.ok(stored && (stored.pushedAt ?? 0) >= t0);
      // Relinking keeps the touch.
      await store.linkBlob('gc/links', a, 1);
      assert.equal((await store.getLink('gc/links', a))?.touchedAt, touched.touchedAt);
    });

    test('links, manifests and the repositories of a blob list in pages', async () => {
      const ds = Array.from({ length: 5 }, (_, i) => digest(`gc-page-${i}`)).sort();
      for (const d of ds) await store.linkBlob('gc/page', d, 7);
      await store.linkBlob('gc/page-2', ds[0]!, 7);
      const first = await store.listLinks('gc/page', { limit: 2 });
      const rest = await store.listLinks('gc/page', { limit: 10, last: first.at(-1)!.digest });
      assert.deepEqual([...first, ...rest].map((l) => l.digest), ds);
      assert.ok(first.every((l) => l.size === 7));
      assert.deepEqual(await store.listBlobRepositories(ds[0]!, { limit: 10 }), ['gc/page', 'gc/page-2']);
      assert.deepEqual(await store.listBlobRepositories(ds[0]!, { limit: 10, last: 'gc/page' }), ['gc/page-2']);
      const ms = ['{"p":1}', '{"p":2}', '{"p":3}'].map((t) => manifest(t));
      for (const m of ms) await store.putManifest('gc/page', { record: m });
      const p1 = await store.listManifests('gc/page', { limit: 2 });
      const p2 = await store.listManifests('gc/page', { limit: 2, last: p1.at(-1)!.digest });
      assert.deepEqual([...p1, ...p2].map((m) => m.digest), ms.map((m) => m.digest).sort());
      assert.deepEqual(Buffer.from(p1[0]!.bytes), ms.find((m) => m.digest === p1[0]!.digest)!.bytes);
      assert.deepEqual(await store.listManifests('gc/page/sub', { limit: 10 }), [], 'never another repository');
    });

    test('conditional unlink and untagged delete only act on what is idle since the cutoff', async () => {
      const d = digest('gc-cond');
      await store.linkBlob('gc/cond', d, 3);
      const linkedAt = (await store.getLink('gc/cond', d))!.linkedAt;
      const other = digest('gc-cond-other');
      await new Promise((r) => setTimeout(r, 3));
      await store.linkBlob('gc/cond', other, 4);
      await store.putManifest('gc/cond', { record: manifest('{"cond":"touch"}'), touch: [other] });
      const touchedAt = (await store.getLink('gc/cond', other))!.touchedAt;
      assert.deepEqual(await store.unlinkBlobsIfIdle('gc/cond', [d], linkedAt), [], 'linked at the cutoff: kept');
      assert.deepEqual(await store.unlinkBlobsIfIdle('gc/cond', [d, other, digest('never')], touchedAt), [d]);
      assert.equal(await store.getLink('gc/cond', d), undefined);
      assert.ok(await store.getLink('gc/cond', other), 'touched at the cutoff: kept');
      assert.deepEqual(await store.unlinkBlobsIfIdle('gc/cond', [d], Date.now() + 1000), [], 'nothing to unlink');
      assert.deepEqual(await store.listBlobRepositories(d, { limit: 10 }), [], 'the reverse entry goes too');

      const subject = digest('gc-subject');
      const tagged = manifest('{"cond":"tagged"}');
      const loose = manifest('{"cond":"loose"}', subject);
      await store.putManifest('gc/cond', { record: tagged, tag: 'keep' });
      await store.putManifest('gc/cond', {
        record: loose,
        referrer: { mediaType: loose.mediaType, digest: loose.digest, size: loose.bytes.length },
        tag: 'moved',
      });
      await store.putManifest('gc/cond', { record: tagged, tag: 'moved' });
      const later = Date.now() + 1000;
      assert.equal(await store.deleteUntaggedManifest('gc/cond', tagged.digest, later), false, 'tagged: kept');
      const pushedAt = (await store.getManifest('gc/cond', loose.digest))!.pushedAt!;
      assert.equal(await store.deleteUntaggedManifest('gc/cond', loose.digest, pushedAt), false, 'pushed at the cutoff: kept');
      assert.equal(await store.deleteUntaggedManifest('gc/cond', loose.digest, later), true);
      assert.equal(await store.getManifest('gc/cond', loose.digest), undefined);
      assert.deepEqual(await store.listReferrers('gc/cond', subject, { limit: 10 }), []);
      assert.equal(await store.getTag('gc/cond', 'moved'), tagged.digest);
      assert.equal(await store.deleteUntaggedManifest('gc/cond', loose.digest, later), false);
    });

    test('everything survives closing and reopening', { skip: false }, async (t) => {
      if (!handle.reopen) return t.skip(`${name} does not persist`);
      const m = manifest('{"durable":true}');
      await store.putManifest('durable/r', { record: m, tag: 'keep' });
      await store.linkBlob('durable/r', digest('durable-blob'), 3);
      store = await handle.reopen();
      assert.equal(await store.getTag('durable/r', 'keep'), m.digest);
      assert.deepEqual(Buffer.from((await store.getManifest('durable/r', m.digest))!.bytes), m.bytes);
      assert.equal(await store.getBlobLink('durable/r', digest('durable-blob')), 3);
    });

    test('a tag records when it was pushed; a push refreshes it, moving or not', async () => {
      const a = manifest('{"pushed":"a"}');
      const b = manifest('{"pushed":"b"}');
      await store.putManifest('tags/time', { record: a, tag: 'v1', tagPushedAt: 1000 });
      assert.deepEqual(await store.getTagRecord('tags/time', 'v1'), { tag: 'v1', digest: a.digest, pushedAt: 1000 });
      await store.putManifest('tags/time', { record: a, tag: 'v1', tagPushedAt: 2000 });
      assert.deepEqual(await store.getTagRecord('tags/time', 'v1'), { tag: 'v1', digest: a.digest, pushedAt: 2000 });
      await store.putManifest('tags/time', { record: b, tag: 'v1', tagPushedAt: 3000 });
      assert.deepEqual(await store.getTagRecord('tags/time', 'v1'), { tag: 'v1', digest: b.digest, pushedAt: 3000 });
      assert.equal(await store.getTag('tags/time', 'v1'), b.digest);
      assert.equal(await store.getTagRecord('tags/time', 'nope'), undefined);
      // Without an explicit time, the time of the write.
      const before = Date.now();
      await store.putManifest('tags/time', { record: a, tag: 'now' });
      const now = await store.getTagRecord('tags/time', 'now');
      assert.ok(now && now.pushedAt >= before && now.pushedAt <= Date.now(), `pushedAt ${now?.pushedAt}`);
      // A manifest written without a tag leaves the tags' times alone.
      await store.putManifest('tags/time', { record: b });
      assert.equal((await store.getTagRecord('tags/time', 'v1'))?.pushedAt, 3000);
    });

    test('tag records list in tag order with digest and push time, paged, never crossing repositories', async () => {
      const m = manifest('{"records":1}');
      const n = manifest('{"records":2}');
      await store.putManifest('tags/list', { record: m, tag: 'b', tagPushedAt: 20 }, { record: n, tag: 'a', tagPushedAt: 30 });
      await store.putManifest('tags/list', { record: m, tag: 'c', tagPushedAt: 10 });
      await store.putManifest('tags/list/sub', { record: m, tag: 'z', tagPushedAt: 1 });
      const all = await store.listTagRecords('tags/list', { limit: 100 });
      assert.deepEqual(all, [
        { tag: 'a', digest: n.digest, pushedAt: 30 },
        { tag: 'b', digest: m.digest, pushedAt: 20 },
        { tag: 'c', digest: m.digest, pushedAt: 10 },
      ]);
      assert.deepEqual(await store.listTagRecords('tags/list', { limit: 2 }), all.slice(0, 2));
      assert.deepEqual(await store.listTagRecords('tags/list', { limit: 2, last: 'b' }), all.slice(2));
      assert.deepEqual(await store.listTagRecords('tags/list', { limit: 0 }), []);
      assert.deepEqual(await store.listTagRecords('tags/none', { limit: 10 }), []);
    });

    test('the tags pointing at a manifest, following moves and deletes', async () => {
      const m = manifest('{"of":1}');
      const n = manifest('{"of":2}');
      await store.putManifest('tags/of', { record: m, tag: 'x' }, { record: m, tag: 'y' }, { record: n, tag: 'z' });
      assert.deepEqual(await store.tagsOf('tags/of', m.digest), ['x', 'y']);
      await store.putManifest('tags/of', { record: n, tag: 'x' });
      assert.deepEqual(await store.tagsOf('tags/of', m.digest), ['y']);
      assert.deepEqual(await store.tagsOf('tags/of', n.digest), ['x', 'z']);
      await store.deleteTag('tags/of', 'y');
      assert.deepEqual(await store.tagsOf('tags/of', m.digest), []);
      assert.deepEqual(await store.tagsOf('tags/other', n.digest), []);
    });

    test('listBlobLinks and listManifestSizes page one repository by digest', async () => {
      const blobs = ['e1', 'e2', 'e3'].map((s) => digest(`enum-${s}`));
      for (const [i, d] of blobs.entries()) await store.linkBlob('enum/a', d, i + 1);
      await store.linkBlob('enum/a/sub', digest('enum-other'), 9);
      const all = await store.listBlobLinks('enum/a', { limit: 100 });
      const sorted = blobs.map((d, i) => ({ digest: d, size: i + 1 })).sort((x, y) => (x.digest < y.digest ? -1 : 1));
      assert.deepEqual(all, sorted);
      const first = await store.listBlobLinks('enum/a', { limit: 2 });
      const rest = await store.listBlobLinks('enum/a', { limit: 100, last: first.at(-1)!.digest });
      assert.deepEqual([...first, ...rest], sorted);
      const m = manifest('{"enum":1}');
      await store.putManifest('enum/a', { record: m, tag: 'x' });
      assert.deepEqual(await store.listManifestSizes('enum/a', { limit: 10 }), [{ digest: m.digest, size: m.bytes.length }]);
      assert.deepEqual(await store.listManifestSizes('enum/a/sub', { limit: 10 }), []);
    });

    test('listAllRecords decodes every record in key order and pages by key; deleteRecords removes by key', async () => {
      const m = manifest('{"all":1}', digest('all-subject'));
      await store.putManifest('all/r', {
        record: m,
        tag: 't',
        referrer: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length },
      });
      await store.linkBlob('all/r', digest('all-blob'), 4);
      const session = { id: '00000000-0000-4000-8000-0000000000a1', repo: 'all/r', offset: 1, startedAt: 1, updatedAt: 1 };
      await store.putUpload(session);
      // GC's durable-write marker is a record of the store's own, not an unreadable one (verify after a GC is clean).
      await store.flush();
      const entries = [];
      let last: string | undefined;
      for (;;) {
        const page = await store.listAllRecords({ limit: 3, last });
        if (page.length === 0) break;
        entries.push(...page);
        last = page.at(-1)!.key;
      }
      const keys = entries.map((e) => e.key);
      assert.deepEqual(keys, [...keys].sort());
      assert.equal(new Set(keys).size, keys.length);
      const mine = entries.filter((e) => ('repo' in e && e.repo === 'all/r') || (e.kind === 'upload' && e.session.id === session.id));
      const kinds = mine.map((e) => e.kind).sort();
      assert.deepEqual(kinds, ['link', 'manifest', 'referrer', 'repository', 'reverseLink', 'reverseTag', 'tag', 'upload']);
      const link = mine.find((e) => e.kind === 'link');
      assert.deepEqual(link && { digest: link.digest, size: link.size }, { digest: digest('all-blob'), size: 4 });
      const rec = mine.find((e) => e.kind === 'manifest');
      assert.ok(rec && Buffer.from(rec.record.bytes).equals(m.bytes));
      assert.ok(entries.every((e) => e.kind !== 'unreadable'), `nothing unreadable in a sound store: ${JSON.stringify(entries.filter((e) => e.kind === 'unreadable'))}`);
      assert.ok(entries.some((e) => e.kind === 'marker'), 'the flush marker is listed as a marker');
      await store.deleteRecords(mine.filter((e) => e.kind === 'tag' || e.kind === 'upload').map((e) => e.key));
      assert.equal(await store.getTag('all/r', 't'), undefined);
      assert.equal(await store.getUpload(session.id), undefined);
      assert.ok(await store.getManifest('all/r', m.digest));
    });

    // The webhook outbox (src/webhooks/): events ride in the batch of the change they describe.
    const event = (endpoint: string, repo: string, text: string): QueuedEvent => ({ endpoint, repo, body: Buffer.from(JSON.stringify({ id: text })) });
    const bodies = (events: { body: Buffer }[]) => events.map((e) => JSON.parse(e.body.toString()).id as string);

    test('events are queued with the change they describe, per endpoint, in order', async () => {
      const m1 = manifest('{"ev":1}');
      await store.putManifest('ev/a', { record: m1, tag: 'v1', events: [event('ep1', 'ev/a', 'push-1'), event('ep2', 'ev/a', 'push-1')] });
      await store.linkBlob('ev/b', digest('ev-blob'), 3, [event('ep1', 'ev/b', 'mount-1')]);
      await store.deleteTag('ev/a', 'v1', [event('ep1', 'ev/a', 'untag-1')]);
      await store.deleteManifest('ev/a', m1.digest, [event('ep1', 'ev/a', 'delete-1')]);
      // No change, no event: the batch never happens.
      assert.equal(await store.deleteTag('ev/a', 'nothing', [event('ep1', 'ev/a', 'never')]), undefined);
      assert.equal(await store.deleteManifest('ev/a', digest('nothing'), [event('ep1', 'ev/a', 'never')]), undefined);
      await store.enqueueEvents([event('ep1', '', 'gc-1')]);
      const ep1 = await store.listPendingEvents('ep1', { limit: 100 });
      assert.deepEqual(bodies(ep1), ['push-1', 'mount-1', 'untag-1', 'delete-1', 'gc-1']);
      assert.deepEqual(ep1.map((e) => e.repo), ['ev/a', 'ev/b', 'ev/a', 'ev/a', '']);
      assert.deepEqual(bodies(await store.listPendingEvents('ep2', { limit: 100 })), ['push-1']);
      const second = await store.listPendingEvents('ep1', { limit: 2, last: ep1[0]!.key });
      assert.deepEqual(bodies(second), ['mount-1', 'untag-1']);
      await store.deleteEvents([ep1[0]!.key, ep1[1]!.key]);
      assert.deepEqual(bodies(await store.listPendingEvents('ep1', { limit: 100 })), ['untag-1', 'delete-1', 'gc-1']);
      // Outbox records are the store's own bookkeeping: never unreadable for verify.
      const all = await store.listAllRecords({ limit: 100_000 });
      assert.ok(all.every((e) => e.kind !== 'unreadable'), JSON.stringify(all.filter((e) => e.kind === 'unreadable')));
      await store.deleteEvents((await store.listPendingEvents('ep1', { limit: 100 })).map((e) => e.key));
      await store.deleteEvents((await store.listPendingEvents('ep2', { limit: 100 })).map((e) => e.key));
    });

    test('a dead event leaves the queue, is listed, and a replay queues it again at the end', async () => {
      await store.enqueueEvents([event('ep3', 'dl/a', 'd-1'), event('ep3', 'dl/a', 'd-2'), event('ep3', 'dl/b', 'd-3')]);
      const [first] = await store.listPendingEvents('ep3', { limit: 1 });
      assert.equal(await store.deadLetterEvent(first!.key, { attempts: 3, lastError: 'answered 500' }), true);
      assert.equal(await store.deadLetterEvent(first!.key, { attempts: 3, lastError: 'again' }), false);
      assert.deepEqual(bodies(await store.listPendingEvents('ep3', { limit: 100 })), ['d-2', 'd-3']);
      const dead = (await store.listDeadEvents({ limit: 100 })).filter((e) => e.endpoint === 'ep3');
      assert.equal(dead.length, 1);
      assert.deepEqual({ ...dead[0]!, key: '', deadAt: 0, body: bodies(dead) }, { key: '', endpoint: 'ep3', repo: 'dl/a', body: ['d-1'], attempts: 3, lastError: 'answered 500', deadAt: 0 });
      assert.ok(dead[0]!.body.equals(first!.body), 'the exact body is kept');
      assert.equal(await store.replayDeadEvents(dead.map((e) => e.key)), 1);
      assert.equal(await store.replayDeadEvents(dead.map((e) => e.key)), 0);
      assert.deepEqual((await store.listDeadEvents({ limit: 100 })).filter((e) => e.endpoint === 'ep3'), []);
      const again = await store.listPendingEvents('ep3', { limit: 100 });
      assert.deepEqual(bodies(again), ['d-2', 'd-3', 'd-1']);
      assert.ok(again[2]!.body.equals(first!.body));
      await store.deleteEvents(again.map((e) => e.key));
    });

    test('the queue order continues after a reopen: new events sort after every stored one', async (t) => {
      if (!handle.reopen) return t.skip(`${name} does not persist`);
      await store.enqueueEvents([event('ep4', 'r', 'before-1'), event('ep4', 'r', 'before-2')]);
      const [one] = await store.listPendingEvents('ep4', { limit: 1 });
      await store.deadLetterEvent(one!.key, { attempts: 1, lastError: 'x' });
      store = await handle.reopen();
      await store.enqueueEvents([event('ep4', 'r', 'after-1')]);
      await store.replayDeadEvents((await store.listDeadEvents({ limit: 100 })).filter((e) => e.endpoint === 'ep4').map((e) => e.key));
      assert.deepEqual(bodies(await store.listPendingEvents('ep4', { limit: 100 })), ['before-2', 'after-1', 'before-1']);
    });
  });
}
