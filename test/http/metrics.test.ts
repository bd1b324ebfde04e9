/**
 * /metrics over real HTTP: exact counter deltas after a known sequence of requests, the stored-content
 * gauges following pushes, deletes and GC, who may scrape, the separate listener, health endpoints and
 * request ids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { HASH, basic } from '../helpers/auth-http.js';
import { gcOverHttp } from '../helpers/gc.js';
import { delta, scrape, series } from '../helpers/metrics.js';
import { MT, buildImage, pushBlob, pushImage, pushManifest, randomBlob, randomConfig, repoName } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MANIFEST_ROUTE = '/v2/*name/manifests/:reference';
const REQ = 'unireg_http_requests_total';

describe('metrics: counters and gauges (auth none)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ gc: { grace: '0s' } });
  });
  after(async () => {
    await srv.destroy();
  });

  test('a push, pulls, a 404 and an unknown path move the request counters by exactly what was sent', async () => {
    const repo = repoName('metrics');
    const config = randomConfig();
    const layer = randomBlob(4096);
    const image = buildImage(config, [layer]);
    const before = await scrape(`${srv.url}/metrics`);

    await pushBlob(srv.url, repo, config); // POST uploads + PUT uploads/:id
    await pushBlob(srv.url, repo, layer);
    await pushManifest(srv.url, repo, 'v1', image.bytes);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${image.manifest.layers ? (image.manifest.layers as { digest: string }[])[0]!.digest : ''}`);
    assert.equal(Buffer.from(await blob.arrayBuffer()).length, 4096);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/nope`)).status, 404);
    assert.equal((await fetch(`${srv.url}/not/a/route`)).status, 404);

    const after = await scrape(`${srv.url}/metrics`);
    const d = (labels: Record<string, string>) => delta(before, after, REQ, labels);
    assert.equal(d({ method: 'POST', route: '/v2/*name/blobs/uploads{/}', status: '202' }), 2);
    assert.equal(d({ method: 'PUT', route: '/v2/*name/blobs/uploads/:id', status: '201' }), 2);
    assert.equal(d({ method: 'PUT', route: MANIFEST_ROUTE, status: '201' }), 1);
    assert.equal(d({ method: 'GET', route: MANIFEST_ROUTE, status: '200' }), 2);
    assert.equal(d({ method: 'GET', route: MANIFEST_ROUTE, status: '404' }), 1);
    assert.equal(d({ method: 'GET', route: '/v2/*name/blobs/:digest', status: '200' }), 1);
    assert.equal(d({ method: 'GET', route: '(unmatched)', status: '404' }), 1);
    // The scrape before this one, and nothing else on /metrics.
    assert.equal(d({ method: 'GET', route: '/metrics', status: '200' }), 1);
    // Never a raw URL as a label.
    for (const key of after.keys()) assert.ok(!key.includes(repo), `a label holds the repository name: ${key}`);

    // Latency: one observation per request, in the histogram's count.
    const count = (labels: Record<string, string>) => delta(before, after, 'unireg_http_request_duration_seconds_count', labels);
    assert.equal(count({ method: 'GET', route: MANIFEST_ROUTE }), 3);
    assert.equal(count({ method: 'PUT', route: '/v2/*name/blobs/uploads/:id' }), 2);
    const bucket = (le: string) => after.get(series('unireg_http_request_duration_seconds_bucket', { method: 'GET', route: MANIFEST_ROUTE, le })) ?? -1;
    assert.equal(bucket('+Inf'), after.get(series('unireg_http_request_duration_seconds_count', { method: 'GET', route: MANIFEST_ROUTE })));
    assert.ok(bucket('0.001') <= bucket('0.1') && bucket('0.1') <= bucket('+Inf'), 'buckets are cumulative');
    // Bytes: at least the bodies, plus heads of a bounded size.
    const received = delta(before, after, 'unireg_http_received_bytes_total', { method: 'PUT', route: '/v2/*name/blobs/uploads/:id' });
    const bodies = config.length + layer.length;
    assert.ok(received >= bodies && received < bodies + 2 * 1024, `received ${received} for ${bodies} body bytes`);
    const sent = delta(before, after, 'unireg_http_sent_bytes_total', { method: 'GET', route: '/v2/*name/blobs/:digest' });
    assert.ok(sent >= 4096 && sent < 4096 + 1024, `sent ${sent} for a 4096-byte blob`);

    // The manifest cache: the PUT filled it, so both GETs by tag found tag and manifest in memory; the 404 missed.
    assert.equal(delta(before, after, 'unireg_manifest_cache_tag_lookups_total', { result: 'hit' }), 2);
    assert.equal(delta(before, after, 'unireg_manifest_cache_tag_lookups_total', { result: 'miss' }), 1);
    // Process metrics from prom-client's defaults.
    assert.ok((after.get('process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(after.has(series('nodejs_eventloop_lag_seconds')));
  });

  test('stored-content gauges match what was pushed and drop after a delete and a GC', async () => {
    const repo = repoName('metrics-stored');
    const config = randomConfig();
    const layer = randomBlob(1000);
    const image = buildImage(config, [layer]);
    const before = await scrape(`${srv.url}/metrics`);
    await pushBlob(srv.url, repo, config);
    await pushBlob(srv.url, repo, layer);
    // The same layer in a second repository: one blob, counted once.
    const other = repoName('metrics-stored-other');
    await pushBlob(srv.url, other, layer);
    const digest = await pushManifest(srv.url, repo, 'v1', image.bytes);
    // An upload left open.
    const open = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(open.status, 202);

    const pushed = await scrape(`${srv.url}/metrics`);
    assert.equal(delta(before, pushed, 'unireg_repositories'), 2);
    assert.equal(delta(before, pushed, 'unireg_blobs'), 2);
    assert.equal(delta(before, pushed, 'unireg_manifests'), 1);
    assert.equal(delta(before, pushed, 'unireg_stored_bytes', { kind: 'blobs' }), config.length + layer.length);
    assert.equal(delta(before, pushed, 'unireg_stored_bytes', { kind: 'manifests' }), image.bytes.length);
    assert.equal(delta(before, pushed, 'unireg_uploads_in_progress'), 1);
    assert.equal((await fetch(`${srv.url}${open.headers.get('location')!}`, { method: 'DELETE' })).status, 204);

    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${srv.url}/v2/${other}/blobs/${(image.manifest.layers as { digest: string }[])[0]!.digest}`, { method: 'DELETE' })).status, 202);
    const report = await gcOverHttp(srv.url);
    const collected = await scrape(`${srv.url}/metrics`);
    assert.equal(delta(before, collected, 'unireg_blobs'), 0);
    assert.equal(delta(before, collected, 'unireg_manifests'), 0);
    assert.equal(delta(before, collected, 'unireg_stored_bytes', { kind: 'blobs' }), 0);
    assert.equal(delta(before, collected, 'unireg_stored_bytes', { kind: 'manifests' }), 0);
    assert.equal(delta(before, collected, 'unireg_uploads_in_progress'), 0);
    assert.equal(delta(pushed, collected, 'unireg_gc_runs_total', { outcome: 'ok', dry_run: 'false' }), 1);
    assert.equal(delta(pushed, collected, 'unireg_gc_freed_bytes_total'), report.bytesFreed);
    assert.ok(report.bytesFreed >= config.length + layer.length);
    assert.equal(delta(pushed, collected, 'unireg_gc_deleted_total', { what: 'blobs' }), report.blobsDeleted);
    assert.ok((collected.get(series('unireg_gc_last_run', { what: 'timestamp_seconds' })) ?? 0) > Date.now() / 1000 - 60);
  });

  test('the start-up count finds what an earlier run stored', async () => {
    const repo = repoName('metrics-restart');
    const blob = randomBlob(777);
    await pushBlob(srv.url, repo, blob);
    // More manifest and link records than one page of the start-up scan (src/metrics/stored.ts reads 100 at a time).
    const images = 130;
    for (let i = 0; i < images; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, images - i) }, (_, k) => pushImage(srv.url, `${repo}-many`, `t${i + k}`)));
    }
    const before = await scrape(`${srv.url}/metrics`);
    assert.ok((before.get('unireg_manifests') ?? 0) >= images);
    await srv.stop();
    srv = await startTestServer({ gc: { grace: '0s' } }, srv.root);
    const after = await scrape(`${srv.url}/metrics`);
    for (const name of ['unireg_repositories', 'unireg_blobs', 'unireg_manifests']) assert.equal(after.get(name), before.get(name), name);
    for (const kind of ['blobs', 'manifests']) {
      assert.equal(after.get(series('unireg_stored_bytes', { kind })), before.get(series('unireg_stored_bytes', { kind })), kind);
    }
  });

  test('/livez and /readyz answer JSON without credentials', async () => {
    const live = await fetch(`${srv.url}/livez`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'live' });
    const ready = await fetch(`${srv.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { metadata: 'ok', blobs: 'ok' } });
  });

  test('request ids: a safe incoming one is echoed, otherwise one is generated, on errors too', async () => {
    const echoed = await fetch(`${srv.url}/v2/`, { headers: { 'X-Request-Id': 'lb-42:abc.DEF_9' } });
    assert.equal(echoed.headers.get('x-request-id'), 'lb-42:abc.DEF_9');
    const generated = await fetch(`${srv.url}/v2/`);
    const id = generated.headers.get('x-request-id') ?? '';
    assert.match(id, /^[\w.:-]{1,64}$/);
    const next = await fetch(`${srv.url}/v2/`);
    assert.notEqual(next.headers.get('x-request-id'), id, 'each request gets its own');
    for (const bad of ['two words', 'x'.repeat(65), '<script>']) {
      const res = await fetch(`${srv.url}/v2/`, { headers: { 'X-Request-Id': bad } });
      const got = res.headers.get('x-request-id') ?? '';
      assert.notEqual(got, bad);
      assert.match(got, /^[\w.:-]{1,64}$/);
    }
    const error = await fetch(`${srv.url}/v2/${repoName('x')}/manifests/missing`, { headers: { 'X-Request-Id': 'err-1' } });
    assert.equal(error.status, 404);
    assert.equal(error.headers.get('x-request-id'), 'err-1');
    const unmatched = await fetch(`${srv.url}/nowhere`, { headers: { 'X-Request-Id': 'err-2' } });
    assert.equal(unmatched.headers.get('x-request-id'), 'err-2');
  });
});

describe('metrics: who may scrape (auth basic)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: {
        mode: 'basic',
        users: { ops: HASH, dev: HASH, team: HASH },
        access: [
          { repository: 'team/**', grants: { team: ['pull', 'metrics'] } },
          { repository: '**', grants: { ops: ['metrics'], dev: ['pull', 'push', 'delete', 'catalog', 'admin'] } },
        ],
      },
    });
  });
  after(async () => {
    await srv.destroy();
  });

  test('401 anonymous, 403 without the metrics action (or with it from a narrower rule), 200 with it; refusals counted by code', async () => {
    const asOps = { Authorization: basic('ops') };
    const before = await scrape(`${srv.url}/metrics`, asOps);
    const anonymous = await fetch(`${srv.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.ok(anonymous.headers.get('www-authenticate'));
    assert.equal((await fetch(`${srv.url}/metrics`, { headers: { Authorization: basic('dev') } })).status, 403);
    assert.equal((await fetch(`${srv.url}/metrics`, { headers: { Authorization: basic('team') } })).status, 403);
    assert.equal((await fetch(`${srv.url}/v2/`)).status, 401);
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('dev', 'wrong') } })).status, 401);
    const after = await scrape(`${srv.url}/metrics`, asOps);
    assert.equal(delta(before, after, 'unireg_http_refusals_total', { status: '401', code: 'UNAUTHORIZED' }), 3);
    assert.equal(delta(before, after, 'unireg_http_refusals_total', { status: '403', code: 'DENIED' }), 2);
    assert.equal(delta(before, after, REQ, { method: 'GET', route: '/metrics', status: '401' }), 1);
    assert.equal(delta(before, after, REQ, { method: 'GET', route: '/v2/', status: '401' }), 2);
    // Health endpoints need no credentials even here.
    assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${srv.url}/livez`)).status, 200);
  });
});

describe('metrics: the separate listener and metrics.enabled', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.destroy();
  });

  test('metrics.addr serves /metrics, /livez and /readyz without credentials, and nothing else', async () => {
    const srv = await startTestServer({ auth: { mode: 'basic', users: { dev: HASH } }, metrics: { addr: '127.0.0.1:0' } });
    servers.push(srv);
    assert.ok(srv.metricsUrl);
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 401, 'the main listener still asks');
    const samples = await scrape(`${srv.metricsUrl}/metrics`);
    assert.ok(samples.has('unireg_blobs'));
    assert.equal((await fetch(`${srv.metricsUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${srv.metricsUrl}/livez`)).status, 200);
    assert.equal((await fetch(`${srv.metricsUrl}/v2/`)).status, 404);
    assert.equal((await fetch(`${srv.metricsUrl}/metrics`, { method: 'POST' })).status, 405);
  });

  test('metrics.enabled: false serves no /metrics, and health stays', async () => {
    const srv = await startTestServer({ metrics: { enabled: false } });
    servers.push(srv);
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 404);
    assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
  });

  test('a non-loopback metrics.addr is refused unless allowNonLoopback', () => {
    const refused = configSchema.safeParse({ metrics: { addr: '0.0.0.0:9090' } });
    assert.equal(refused.success, false);
    assert.match(JSON.stringify(refused.error?.issues), /allowNonLoopback/);
    assert.equal(configSchema.safeParse({ metrics: { addr: '0.0.0.0:9090', allowNonLoopback: true } }).success, true);
    assert.equal(configSchema.safeParse({ metrics: { addr: '127.0.0.1:9090' } }).success, true);
  });
});

describe('metrics: retention runs', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ retention: [{ repository: 'ret-metrics/**', keepLast: 1 }] });
  });
  after(async () => {
    await srv.destroy();
  });

  test('a dry run and a real run are counted, and only the real one counts deleted tags', async () => {
    const repo = `ret-metrics/${repoName('r')}`;
    for (const tag of ['a', 'b', 'c']) await pushImage(srv.url, repo, tag);
    const before = await scrape(`${srv.url}/metrics`);
    assert.equal((await fetch(`${srv.url}/_unireg/retention?dryRun=true`, { method: 'POST' })).status, 200);
    const dry = await scrape(`${srv.url}/metrics`);
    assert.equal(delta(before, dry, 'unireg_retention_runs_total', { outcome: 'ok', dry_run: 'true' }), 1);
    assert.equal(delta(before, dry, 'unireg_retention_deleted_tags_total'), 0);
    assert.equal((await fetch(`${srv.url}/_unireg/retention`, { method: 'POST' })).status, 200);
    const real = await scrape(`${srv.url}/metrics`);
    assert.equal(delta(dry, real, 'unireg_retention_runs_total', { outcome: 'ok', dry_run: 'false' }), 1);
    assert.equal(delta(dry, real, 'unireg_retention_deleted_tags_total'), 2);
  });
});
