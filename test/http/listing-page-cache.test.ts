/**
 * The listing page cache (src/registry/listing-page-cache.ts): a repeated tags/list or catalog page is
 * served from memory, and every tag write or new repository, by any path, shows in the next listing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { nextLink, prepareImage, pushBlob, putManifest, type Image } from '../helpers/oci.js';

describe('tags/list page cache', () => {
  let srv: TestServer;
  let image: Image;
  const repo = 'cache/tags';

  before(async () => {
    srv = await startTestServer();
    image = await prepareImage(srv.url, repo);
    for (const tag of ['a', 'c', 'e']) assert.equal((await putManifest(srv.url, repo, tag, image.bytes)).status, 201);
  });
  after(async () => {
    await srv.destroy();
  });

  const list = async (query = '') => {
    const res = await fetch(`${srv.url}/v2/${repo}/tags/list${query}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { name: string; tags: string[] };
    assert.equal(body.name, repo);
    return { tags: body.tags, link: nextLink(res) };
  };
  const stats = () => {
    const cache = srv.registry.deps.listingPages;
    assert.ok(cache, 'the server runs with a tag page cache');
    return { ...cache.stats };
  };

  test('a repeated page is answered from the cache, with the same body', async () => {
    const first = await list();
    const before = stats();
    const second = await list();
    assert.deepEqual(second, first);
    assert.deepEqual(first.tags, ['a', 'c', 'e']);
    assert.equal(stats().hits, before.hits + 1);
  });

  test('a pushed tag is in the next listing', async () => {
    await list();
    assert.equal((await putManifest(srv.url, repo, 'b', image.bytes)).status, 201);
    assert.deepEqual((await list()).tags, ['a', 'b', 'c', 'e']);
  });

  test('a tag pushed into a later page shows there (n and last)', async () => {
    assert.deepEqual(await list('?n=2&last=b'), { tags: ['c', 'e'], link: undefined });
    assert.equal((await putManifest(srv.url, repo, 'd', image.bytes)).status, 201);
    const page = await list('?n=2&last=b');
    assert.deepEqual(page.tags, ['c', 'd']);
    assert.ok(page.link, 'a Link to the rest');
  });

  test('a deleted tag is gone from the next listing', async () => {
    await list();
    const res = await fetch(`${srv.url}/v2/${repo}/manifests/b`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    assert.deepEqual((await list()).tags, ['a', 'c', 'd', 'e']);
  });

  test('a tag removed straight in the metadata store (as verify --repair does) is gone too', async () => {
    await list();
    assert.ok(await srv.registry.deps.meta.deleteTag(repo, 'c'));
    assert.deepEqual((await list()).tags, ['a', 'd', 'e']);
  });

  test('deleting the manifest by digest drops all its tags from the next listing', async () => {
    await list();
    const res = await fetch(`${srv.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    assert.deepEqual((await list()).tags, []);
  });
});

describe('catalog page cache', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    for (const repo of ['cat/b', 'cat/d', 'cat/f']) await pushBlob(srv.url, repo, `in ${repo}`);
  });
  after(async () => {
    await srv.destroy();
  });

  const catalog = async (query = '') => {
    const res = await fetch(`${srv.url}/v2/_catalog${query}`);
    assert.equal(res.status, 200);
    return { repositories: ((await res.json()) as { repositories: string[] }).repositories, link: nextLink(res) };
  };
  const hits = () => {
    const cache = srv.registry.deps.listingPages;
    assert.ok(cache, 'the server runs with a listing page cache');
    return cache.stats.hits;
  };

  test('a repeated catalog page is answered from the cache, with the same body', async () => {
    const first = await catalog('?n=2');
    const before = hits();
    assert.deepEqual(await catalog('?n=2'), first);
    assert.deepEqual(first.repositories, ['cat/b', 'cat/d']);
    assert.equal(hits(), before + 1);
  });

  test('a repository created by a blob push is in the next catalog, on whichever page it falls', async () => {
    assert.deepEqual((await catalog('?n=2&last=cat/b')).repositories, ['cat/d', 'cat/f']);
    await pushBlob(srv.url, 'cat/c', 'new');
    assert.deepEqual((await catalog('?n=2&last=cat/b')).repositories, ['cat/c', 'cat/d']);
    assert.deepEqual((await catalog()).repositories, ['cat/b', 'cat/c', 'cat/d', 'cat/f']);
  });

  test('a push into an existing repository keeps the catalog pages', async () => {
    await catalog();
    const before = hits();
    await pushBlob(srv.url, 'cat/d', 'more');
    assert.deepEqual((await catalog()).repositories, ['cat/b', 'cat/c', 'cat/d', 'cat/f']);
    assert.equal(hits(), before + 1, 'no repository record was written, so the page stayed');
  });
});
