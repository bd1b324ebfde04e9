/**
 * Tag records written before push times were kept hold the plain digest; they
 * must still read (as pushed at 0) on both key-value stores, and a push over one
 * writes the new form.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import type { SortedKv } from '../../src/storage/kv.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { MemoryKv } from '../../src/storage/memory/memory-kv.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';

const A = `sha256:${'a'.repeat(64)}` as Digest;
const B = `sha256:${'b'.repeat(64)}` as Digest;

async function legacyTags(kv: SortedKv): Promise<void> {
  const store = new KvMetadataStore(kv);
  await store.open();
  try {
    // As the store wrote tags before: the plain digest, with its reverse entry.
    await kv.batch([
      { type: 'put', key: keys.tag('old/r', 'v1'), value: Buffer.from(A) },
      { type: 'put', key: keys.tagRev('old/r', A, 'v1'), value: Buffer.alloc(0) },
      { type: 'put', key: keys.tag('old/r', 'v2'), value: Buffer.from(A) },
      { type: 'put', key: keys.tagRev('old/r', A, 'v2'), value: Buffer.alloc(0) },
    ]);
    assert.equal(await store.getTag('old/r', 'v1'), A);
    assert.deepEqual(await store.getTagRecord('old/r', 'v1'), { tag: 'v1', digest: A, pushedAt: 0 });
    assert.deepEqual(await store.listTagRecords('old/r', { limit: 10 }), [
      { tag: 'v1', digest: A, pushedAt: 0 },
      { tag: 'v2', digest: A, pushedAt: 0 },
    ]);
    assert.deepEqual(await store.tagsOf('old/r', A), ['v1', 'v2']);
    // A push over an old tag moves it (and its reverse entry) and records the time.
    const record = { digest: B, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from('{}') };
    await store.putManifest('old/r', { record, tag: 'v1', tagPushedAt: 5 });
    assert.deepEqual(await store.getTagRecord('old/r', 'v1'), { tag: 'v1', digest: B, pushedAt: 5 });
    assert.deepEqual(await store.tagsOf('old/r', A), ['v2']);
    assert.deepEqual(JSON.parse((await kv.get(keys.tag('old/r', 'v1')))!.toString()), { digest: B, pushedAt: 5 });
    // A recorded pull keeps digest and push time; a tag that moved meanwhile is not marked.
    assert.equal(await store.markTagPulled('old/r', 'v1', B, 77), true);
    assert.deepEqual(await store.getTagRecord('old/r', 'v1'), { tag: 'v1', digest: B, pushedAt: 5, pulledAt: 77 });
    assert.equal(await store.markTagPulled('old/r', 'v1', A, 78), false);
    assert.equal(await store.markTagPulled('old/r', 'gone', A, 78), false);
    assert.equal((await store.getTagRecord('old/r', 'v1'))?.pulledAt, 77);
    // A push moves the tag and starts over: no pull recorded for the new manifest.
    await store.putManifest('old/r', { record: { ...record, digest: A, bytes: Buffer.from('{ }') }, tag: 'v1', tagPushedAt: 9 });
    assert.deepEqual(await store.getTagRecord('old/r', 'v1'), { tag: 'v1', digest: A, pushedAt: 9 });
    await store.putManifest('old/r', { record, tag: 'v1', tagPushedAt: 5 });
    // Deleting an old-form tag works as before.
    assert.equal(await store.deleteTag('old/r', 'v2'), A);
    assert.deepEqual(await store.tagsOf('old/r', A), []);
    // A record that is neither form is reported, not misread.
    await kv.batch([{ type: 'put', key: keys.tag('old/r', 'bad'), value: Buffer.from('{"digest":1}') }]);
    await assert.rejects(store.getTagRecord('old/r', 'bad'), /unreadable tag record/);
  } finally {
    await store.close();
  }
}

test('plain-digest tag records read as pushed at 0 (in memory)', () => legacyTags(new MemoryKv()));

test('plain-digest tag records read as pushed at 0 (LevelDB)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-tags-'));
  try {
    await legacyTags(new LevelKv(join(dir, 'meta')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
