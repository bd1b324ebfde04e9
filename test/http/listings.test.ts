/** Tags list and catalog: order, n, last, Link paging, errors. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { abs, expectError, nextLink, prepareImage, pushBlob, putManifest, randomBlob } from '../helpers/oci.js';

const TAGS = ['z', 'v1.0', 'latest', '1.0', '10', '2', 'v1-rc', 'v1_0', 'alpha', 'beta', '1.1', 'a'];
const SORTED = [...TAGS].sort();
const REPOS = ['lib', 'lib/a', 'lib-x', 'lib.y', 'zeta', 'alpha/beta/gamma', 'alpha', 'm0'];
const SORTED_REPOS = [...REPOS].sort();

describe('tags list', () => {
  let srv: TestServer;
  const repo = 'listing/tags';
  before(async () => {
    srv = await startTestServer();
    const image = await prepareImage(srv.url, repo);
    for (const tag of TAGS) assert.equal((await putManifest(srv.url, repo, tag, image.bytes)).status, 201);
    // A repository whose name extends this one must not leak into its listing.
    const nested = await prepareImage(srv.url, `${repo}/sub`);
    assert.equal((await putManifest(srv.url, `${repo}/sub`, 'nested-only', nested.bytes)).status, 201);
  });
  after(async () => {
    await srv.destroy();
  });

  const tags = async (query = '', r = repo) => {
    const res = await fetch(`${srv.url}/v2/${r}/tags/list${query}`);
    assert.equal(res.status, 200, `${query}: ${res.status}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { name: string; tags: string[] | null };
    assert.equal(body.name, r);
    return { tags: body.tags ?? [], link: nextLink(res) };
  };

  test('the full list, in lexical order, without a Link', async () => {
    const { tags: all, link } = await tags();
    assert.deepEqual(all, SORTED);
    assert.equal(link, undefined);
  });

  test('n is honoured exactly, with a Link when more remain', async () => {
    for (const n of [1, 2, 5, SORTED.length - 1]) {
      const { tags: page, link } = await tags(`?n=${n}`);
      assert.deepEqual(page, SORTED.slice(0, n), `n=${n}`);
      assert.ok(link, `n=${n}: Link expected`);
    }
  });

  test('n equal to or above the count gives everything and no Link', async () => {
    for (const n of [SORTED.length, SORTED.length + 1, 1000]) {
      const { tags: page, link } = await tags(`?n=${n}`);
      assert.deepEqual(page, SORTED);
      assert.equal(link, undefined, `n=${n}`);
    }
  });

  test('following Link yields the remaining entries exactly', async () => {
    for (const n of [1, 3, 5]) {
      const seen: string[] = [];
      let url: string | undefined = `/v2/${repo}/tags/list?n=${n}`;
      let pages = 0;
      while (url !== undefined) {
        const res: Response = await fetch(abs(srv.url, url));
        assert.equal(res.status, 200);
        const link = nextLink(res);
        const body = (await res.json()) as { tags: string[] };
        if (link !== undefined) assert.equal(body.tags.length, n);
        seen.push(...body.tags);
        url = link;
        assert.ok(++pages <= SORTED.length + 1);
      }
      assert.deepEqual(seen, SORTED, `n=${n}`);
      assert.equal(pages, Math.ceil(SORTED.length / n));
    }
  });

  test('last is exclusive', async () => {
    const i = SORTED.indexOf('beta');
    assert.deepEqual((await tags('?last=beta')).tags, SORTED.slice(i + 1));
    assert.deepEqual((await tags('?n=2&last=beta')).tags, SORTED.slice(i + 1, i + 3));
    assert.deepEqual((await tags(`?last=${SORTED[SORTED.length - 1]}`)).tags, []);
    // A last that is not a tag: the entries after it.
    assert.deepEqual((await tags('?last=b')).tags, SORTED.filter((t) => t > 'b'));
    assert.deepEqual((await tags('?n=3&last=0')).tags, SORTED.slice(0, 3));
  });

  test('n=0 gives an empty list and no Link', async () => {
    const { tags: page, link } = await tags('?n=0');
    assert.deepEqual(page, []);
    assert.equal(link, undefined);
    const withLast = await tags('?n=0&last=a');
    assert.deepEqual(withLast.tags, []);
    assert.equal(withLast.link, undefined);
  });

  test('a nested repository has its own tags', async () => {
    assert.deepEqual((await tags('', `${repo}/sub`)).tags, ['nested-only']);
  });

  test('an unknown repository: 404 NAME_UNKNOWN', async () => {
    await expectError(await fetch(`${srv.url}/v2/listing/ghost/tags/list`), 404, 'NAME_UNKNOWN');
    await expectError(await fetch(`${srv.url}/v2/listing/ghost/tags/list?n=5`), 404, 'NAME_UNKNOWN');
  });

  test('a repository holding only blobs lists no tags', async () => {
    await pushBlob(srv.url, 'listing/blobonly', randomBlob(3));
    assert.deepEqual((await tags('', 'listing/blobonly')).tags, []);
  });

  test('a non-numeric or negative n: 400', async () => {
    for (const n of ['abc', '-1', '1.5', '1e3', '0x10']) {
      await expectError(await fetch(`${srv.url}/v2/${repo}/tags/list?n=${n}`), 400);
    }
  });

  test('an invalid repository name: 400 NAME_INVALID', async () => {
    await expectError(await fetch(`${srv.url}/v2/Listing/tags/list`), 400, 'NAME_INVALID');
  });
});

describe('catalog', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    for (const r of REPOS) await pushBlob(srv.url, r, randomBlob(4));
  });
  after(async () => {
    await srv.destroy();
  });

  const catalog = async (query = '') => {
    const res = await fetch(`${srv.url}/v2/_catalog${query}`);
    assert.equal(res.status, 200, query);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { repositories: string[] | null };
    return { repos: body.repositories ?? [], link: nextLink(res) };
  };

  test('every repository, in lexical order, without a Link', async () => {
    const { repos, link } = await catalog();
    assert.deepEqual(repos, SORTED_REPOS);
    assert.equal(link, undefined);
  });

  test('n exactly, last exclusive, Link when more remain', async () => {
    const first = await catalog('?n=3');
    assert.deepEqual(first.repos, SORTED_REPOS.slice(0, 3));
    assert.ok(first.link);
    const i = SORTED_REPOS.indexOf('lib');
    assert.deepEqual((await catalog('?n=2&last=lib')).repos, SORTED_REPOS.slice(i + 1, i + 3));
    const all = await catalog(`?n=${SORTED_REPOS.length}`);
    assert.deepEqual(all.repos, SORTED_REPOS);
    assert.equal(all.link, undefined);
  });

  test('following Link yields the rest exactly (names with slashes)', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=3';
    let pages = 0;
    while (url !== undefined) {
      const res: Response = await fetch(abs(srv.url, url));
      assert.equal(res.status, 200);
      url = nextLink(res);
      seen.push(...((await res.json()) as { repositories: string[] }).repositories);
      assert.ok(++pages <= 10);
    }
    assert.deepEqual(seen, SORTED_REPOS);
  });

  test('n=0: empty and no Link', async () => {
    const { repos, link } = await catalog('?n=0');
    assert.deepEqual(repos, []);
    assert.equal(link, undefined);
  });

  test('n=abc: 400', async () => {
    await expectError(await fetch(`${srv.url}/v2/_catalog?n=abc`), 400);
  });
});
