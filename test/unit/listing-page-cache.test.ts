/** ListingPageCache on its own: which batches invalidate, a racing read is not kept, the bounds hold, pages are kept compact. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOG, encodeOwned, ListingPageCache } from '../../src/registry/listing-page-cache.js';
import { TagPage } from '../../src/registry/listings.js';
import { keys } from '../../src/storage/metadata/keys.js';

const page = (...items: string[]) => ({ body: encodeOwned(items) });
const putKey = (key: string) => ({ type: 'put' as const, key, value: Buffer.from('{}') });

test('a page read while a tag was written is not kept', () => {
  const cache = new ListingPageCache();
  const version = cache.version();
  cache.apply([putKey(keys.tag('a', 'v2'))]);
  cache.set('a', 10, undefined, page('v1'), version);
  assert.equal(cache.get('a', 10, undefined), undefined);
  cache.set('a', 10, undefined, page('v1', 'v2'), cache.version());
  assert.deepEqual(cache.get('a', 10, undefined), page('v1', 'v2'));
});

test('tag and repository writes drop only that repository; other keys drop nothing', () => {
  const cache = new ListingPageCache();
  for (const repo of ['a', 'a/b', 'c']) cache.set(repo, 10, undefined, page('x'), cache.version());
  cache.apply([putKey(keys.link('a', 'sha256:00')), putKey(keys.manifest('c', 'sha256:00'))]);
  assert.ok(cache.get('a', 10, undefined) && cache.get('c', 10, undefined));
  cache.apply([{ type: 'del', key: keys.tag('a', 'x') }]);
  assert.equal(cache.get('a', 10, undefined), undefined);
  assert.ok(cache.get('a/b', 10, undefined), 'a nested repository keeps its pages');
  cache.apply([putKey(keys.repo('c'))]);
  assert.equal(cache.get('c', 10, undefined), undefined);
});

test('pages are told apart by n and last', () => {
  const cache = new ListingPageCache();
  cache.set('a', 2, undefined, page('1', '2'), cache.version());
  cache.set('a', 2, '2', page('3'), cache.version());
  assert.deepEqual(cache.get('a', 2, '2'), page('3'));
  assert.deepEqual(cache.get('a', 2, undefined), page('1', '2'));
  assert.equal(cache.get('a', 3, undefined), undefined);
});

test('the number of pages is bounded, least recently used out first', () => {
  const cache = new ListingPageCache(1 << 20, 3);
  for (const repo of ['a', 'b', 'c']) cache.set(repo, 1, undefined, page(repo), cache.version());
  assert.ok(cache.get('a', 1, undefined));
  cache.set('d', 1, undefined, page('d'), cache.version());
  assert.equal(cache.get('b', 1, undefined), undefined);
  for (const repo of ['a', 'c', 'd']) assert.ok(cache.get(repo, 1, undefined), repo);
});

test('the bytes are bounded', () => {
  const cache = new ListingPageCache(16 * 1024, 1000);
  const tags = Array.from({ length: 20 }, (_, i) => `tag-${i}`.padEnd(20, 'x'));
  for (let i = 0; i < 50; i++) cache.set(`r${i}`, 20, undefined, page(...tags), cache.version());
  let kept = 0;
  for (let i = 0; i < 50; i++) if (cache.get(`r${i}`, 20, undefined)) kept++;
  assert.ok(kept > 0 && kept < 50, `kept ${kept}`);
  assert.ok(cache.get('r49', 20, undefined), 'the newest is kept');
});

test('a repository record written drops the catalog pages; tags and links do not', () => {
  const cache = new ListingPageCache();
  cache.set(CATALOG, 1000, undefined, page('a', 'c'), cache.version());
  cache.apply([putKey(keys.tag('a', 'v1')), putKey(keys.link('c', 'sha256:00'))]);
  assert.deepEqual(cache.get(CATALOG, 1000, undefined), page('a', 'c'));
  cache.apply([putKey(keys.repo('b'))]);
  assert.equal(cache.get(CATALOG, 1000, undefined), undefined);
});

test('pages encoded for the cache own their bytes: a short body is not a slice of a shared pool buffer', () => {
  assert.ok(Buffer.from('["v1"]').buffer.byteLength > 6, 'Buffer.from pools short strings (what this guards against)');
  const catalogBody = encodeOwned(['v1']);
  assert.deepEqual(JSON.parse(catalogBody.toString()), ['v1']);
  assert.equal(catalogBody.buffer.byteLength, catalogBody.length, 'a catalog page is the whole of its ArrayBuffer');
  const tagsBody = TagPage.of('a', { items: ['v1'] }).body;
  assert.equal(tagsBody.buffer.byteLength, tagsBody.length, 'a tags/list body is the whole of its ArrayBuffer');
});

test('a tag page carries its tags/list body and decodes its tags from it', () => {
  const tp = TagPage.of('a/b', { items: ['v1', 'v2'], next: 'v2' });
  assert.deepEqual(JSON.parse(tp.body.toString()), { name: 'a/b', tags: ['v1', 'v2'] });
  assert.deepEqual(tp.items, ['v1', 'v2']);
  assert.equal(tp.next, 'v2');
  const cache = new ListingPageCache();
  cache.set('a/b', 2, undefined, tp, cache.version());
  const kept = cache.get('a/b', 2, undefined)!;
  assert.deepEqual(new TagPage(kept.body, kept.next).items, ['v1', 'v2']);
  assert.equal(kept.next, 'v2');
});

/** A read the test finishes by hand, counting how often it was started. */
function gatedRead(result: () => { body: Buffer; next?: string }) {
  const gate = { reads: 0, open: () => {}, fail: (_err: Error) => {} };
  const read = () => {
    gate.reads++;
    return new Promise<{ body: Buffer; next?: string }>((ok, fail) => {
      gate.open = () => ok(result());
      gate.fail = fail;
    });
  };
  return { gate, read };
}

test('concurrent misses of one page share one read, and the page is then cached', async () => {
  const cache = new ListingPageCache();
  const { gate, read } = gatedRead(() => page('v1', 'v2'));
  const waiting = Array.from({ length: 16 }, () => cache.load('a', 10, undefined, read));
  assert.equal(gate.reads, 1, 'one read for sixteen callers');
  assert.equal(cache.stats.joined, 15);
  gate.open();
  const pages = await Promise.all(waiting);
  for (const p of pages) assert.deepEqual(JSON.parse(p.body.toString()), ['v1', 'v2']);
  const again = await cache.load('a', 10, undefined, read);
  assert.equal(gate.reads, 1, 'the next caller is answered from the cache');
  assert.deepEqual(again, page('v1', 'v2'));
  const other = cache.load('a', 20, undefined, read);
  assert.equal(gate.reads, 2, 'another n is another page');
  gate.open();
  await other;
});

test('a caller arriving after a tag write does not join a read that began before it', async () => {
  const cache = new ListingPageCache();
  let tags = ['v1'];
  const { gate, read } = gatedRead(() => page(...tags));
  const before = cache.load('a', 10, undefined, read);
  const firstGate = gate.open;
  tags = ['v1', 'v2'];
  cache.apply([putKey(keys.tag('a', 'v2'))]);
  const after = cache.load('a', 10, undefined, read);
  assert.equal(gate.reads, 2, 'the later caller starts a read of its own');
  gate.open();
  firstGate();
  assert.deepEqual(await after, page('v1', 'v2'));
  assert.deepEqual(await before, page('v1', 'v2'), 'both reads resolve (the first read sees what is there when it runs)');
  assert.ok(cache.get('a', 10, undefined), 'the read that began after the write is kept');
});

test('a failed read fails every caller that joined it and leaves nothing cached or in flight', async () => {
  const cache = new ListingPageCache();
  const { gate, read } = gatedRead(() => page('v1'));
  const a = cache.load('a', 10, undefined, read);
  const b = cache.load('a', 10, undefined, read);
  gate.fail(new Error('no such repository'));
  await assert.rejects(a, /no such repository/);
  await assert.rejects(b, /no such repository/);
  assert.equal(cache.get('a', 10, undefined), undefined);
  const c = cache.load('a', 10, undefined, read);
  assert.equal(gate.reads, 2, 'the next caller reads again');
  gate.open();
  assert.deepEqual(await c, page('v1'));
});
