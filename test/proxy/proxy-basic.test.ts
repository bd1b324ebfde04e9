/**
 * The pull-through cache against a real upstream (a second unireg, no auth):
 * pulls by tag and digest through a prefix with identical digests and bytes,
 * cached repositories listed like any other, pushes refused, containerd's
 * `?ns=` and Docker's unprefixed default-upstream names, stale-if-error once
 * the upstream is stopped, a clean 503 for what was never pulled, recorded
 * pulls and retention's deleteNotPulledFor, metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorCode, pushImage, sha256, type Image } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { verify } from '../../src/maintenance/verify.js';
import { Upstreams } from '../../src/proxy/upstreams.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

describe('pull-through cache: unireg upstream', () => {
  let upstream: TestServer;
  let cache: TestServer;
  let image: Image;
  let other: Image;

  before(async () => {
    upstream = await startTestServer();
    image = await pushImage(upstream.url, 'team/app', 'v1');
    other = await pushImage(upstream.url, 'team/other', 'v1');
    await pushImage(upstream.url, 'library/alpine', '3');
    cache = await startTestServer({
      proxy: { upstreams: [{ prefix: 'up', url: upstream.url, manifestTTL: '1s', exclude: ['secret/**'], default: true }] },
      retention: [{ repository: 'up/**', deleteNotPulledFor: '1d' }],
    });
  });

  after(async () => {
    await cache?.destroy();
    await upstream?.destroy();
  });

  it('serves a tag, its manifest by digest and its blobs with the upstream digests and bytes', async () => {
    const res = await fetch(`${cache.url}/v2/up/team/app/manifests/v1`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.bytes);
    const byDigest = await fetch(`${cache.url}/v2/up/team/app/manifests/${image.digest}`);
    assert.equal(byDigest.status, 200);
    for (const blob of [image.config, ...image.layers]) {
      const head = await fetch(`${cache.url}/v2/up/team/app/blobs/${sha256(blob)}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(blob.length));
      const got = await fetch(`${cache.url}/v2/up/team/app/blobs/${sha256(blob)}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), blob);
      // Second time: from the store.
      const again = await fetch(`${cache.url}/v2/up/team/app/blobs/${sha256(blob)}`);
      assert.deepEqual(Buffer.from(await again.arrayBuffer()), blob);
    }
    const catalog = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['up/team/app']);
    const tags = (await (await fetch(`${cache.url}/v2/up/team/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
  });

  it('answers 404 MANIFEST_UNKNOWN for what the upstream does not have, and leaves excluded names local', async () => {
    const missing = await fetch(`${cache.url}/v2/up/team/app/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.equal(errorCode(Buffer.from(await missing.arrayBuffer())), 'MANIFEST_UNKNOWN');
    const excluded = await fetch(`${cache.url}/v2/up/secret/x/manifests/v1`);
    assert.equal(excluded.status, 404);
  });

  it('refuses pushes into the proxied prefix with 403 DENIED and a message', async () => {
    const post = await fetch(`${cache.url}/v2/up/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 403);
    const body = (await post.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'DENIED');
    assert.match(body.errors[0]?.message ?? '', /pull-through cache.*proxy\.allowPush/);
    const put = await fetch(`${cache.url}/v2/up/team/app/manifests/v2`, { method: 'PUT', headers: { 'content-type': ACCEPT.split(',')[0]! }, body: '{}' });
    assert.equal(put.status, 403);
    // Elsewhere pushes work as ever.
    await pushImage(cache.url, 'local/thing', 'v1');
  });

  it('maps ?ns= (containerd mirrors) and unprefixed names (Docker registry-mirrors, library/) to the upstream', async () => {
    const ns = await fetch(`${cache.url}/v2/team/other/manifests/v1?ns=${new URL(upstream.url).host}`);
    assert.equal(ns.status, 200, await ns.clone().text());
    assert.equal(ns.headers.get('docker-content-digest'), other.digest);
    const unprefixed = await fetch(`${cache.url}/v2/library/alpine/manifests/3`);
    assert.equal(unprefixed.status, 200);
    // A local repository keeps its name.
    const local = await fetch(`${cache.url}/v2/local/thing/manifests/v1`);
    assert.equal(local.status, 200);
    const catalog = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['local/thing', 'up/library/alpine', 'up/team/app', 'up/team/other']);
  });

  it('records pulls of cached tags, and retention keeps recently pulled tags', async () => {
    const record = await cache.registry.deps.meta.getTagRecord('up/team/app', 'v1');
    assert.ok(record?.pulledAt !== undefined && Date.now() - record.pulledAt < 60_000, `pulledAt recorded: ${JSON.stringify(record)}`);
    const now = await cache.registry.retention.run({ dryRun: true });
    assert.equal(now.deleted.length, 0);
    const later = await cache.registry.retention.run({ dryRun: true, now: Date.now() + 2 * 86_400_000 });
    assert.deepEqual(later.deleted.map((e) => e.repository).sort(), ['up/library/alpine', 'up/team/app', 'up/team/other']);
  });

  it('unireg verify: manifests of cached repositories may reference blobs not fetched yet', async () => {
    const stores = { layout: cache.registry.deps.layout, meta: cache.registry.deps.meta, blobs: cache.registry.deps.blobs };
    const upstreams = new Upstreams(cache.config.proxy.upstreams);
    const strict = await verify(stores, { uploadExpiryMs: 86_400_000 });
    // up/team/other: only its manifest was pulled (by ?ns=), none of its blobs.
    assert.ok(strict.findings.some((f) => f.kind === 'missingReference' && f.repo === 'up/team/other'));
    const aware = await verify(stores, { uploadExpiryMs: 86_400_000, lazyReferences: (repo) => upstreams.prefixOf(repo) !== undefined });
    assert.deepEqual(aware.findings.filter((f) => f.kind === 'missingReference'), []);
  });

  it('counts hits, misses and upstream bytes in /metrics', async () => {
    const text = await (await fetch(`${cache.url}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    // A blob asked for again right after its first pull may still be being stored: it then joins that fetch.
    const hits = value(/^unireg_proxy_requests_total\{result="hit"\} (\d+)/m);
    assert.ok(hits + value(/^unireg_proxy_requests_total\{result="joined"\} (\d+)/m) >= 3, text);
    assert.ok(hits >= 1, text);
    assert.ok(value(/^unireg_proxy_requests_total\{result="miss"\} (\d+)/m) >= 5);
    assert.ok(value(/^unireg_proxy_upstream_bytes_total (\d+)/m) > 200);
  });

  it('serves pulled tags stale when the upstream is down (Warning 110), and a clean 503 for what was never pulled', async () => {
    await upstream.stop();
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s manifestTTL: the tag must be revalidated
    const res = await fetch(`${cache.url}/v2/up/team/app/manifests/v1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.equal(res.headers.get('x-unireg-cache'), 'stale');
    assert.match(res.headers.get('warning') ?? '', /^110 /);
    const blob = await fetch(`${cache.url}/v2/up/team/app/blobs/${sha256(image.layers[0]!)}`);
    assert.equal(blob.status, 200);
    const never = await fetch(`${cache.url}/v2/up/team/never/manifests/v1`);
    assert.equal(never.status, 503);
    assert.equal(errorCode(Buffer.from(await never.arrayBuffer())), 'UNAVAILABLE');
    const neverBlob = await fetch(`${cache.url}/v2/up/team/app/blobs/sha256:${'0'.repeat(64)}`);
    assert.equal(neverBlob.status, 503);
    const text = await (await fetch(`${cache.url}/metrics`)).text();
    assert.match(text, /^unireg_proxy_requests_total\{result="stale"\} [1-9]/m);
  });
});
