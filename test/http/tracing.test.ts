/**
 * Tracing on: unireg exports, over real OTLP/HTTP, to an in-process collector
 * (test/helpers/otlp-collector.ts) what an image push and pull did: one server
 * span per request named after its route template, with the store calls as its
 * children, the request id, the digest, and an incoming traceparent continued.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { attr, startCollector, type Collector, type OtlpSpan } from '../helpers/otlp-collector.js';
import { MT, pushImage, repoName, sha256 } from '../helpers/oci.js';

const OTEL_VARS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_TRACES_EXPORTER', 'OTEL_SDK_DISABLED', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'];
const saved = Object.fromEntries(OTEL_VARS.map((k) => [k, process.env[k]]));
function setOtelEnv(vars: Record<string, string>): void {
  for (const k of OTEL_VARS) delete process.env[k];
  Object.assign(process.env, vars);
}
function restoreOtelEnv(): void {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const SERVER = 2;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

function logCapture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('tracing on, OTLP http/json to a collector', () => {
  let collector: Collector;
  let srv: TestServer;
  let spans: OtlpSpan[];
  let logLines: Record<string, unknown>[];
  const repo = repoName('traced');
  let image: Awaited<ReturnType<typeof pushImage>>;
  let requests = 0;

  before(async () => {
    collector = await startCollector();
    setOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    const capture = logCapture();
    logLines = capture.lines;
    srv = await startTestServer({ tracing: { enabled: true }, log: { level: 'info' } }, undefined, pino({ level: 'info' }, capture.stream));
    try {
      await pushAndPull();
    } finally {
      await srv.destroy(); // flushes the batch processor
    }
    spans = collector.spans();
  });

  async function pushAndPull(): Promise<void> {
    image = await pushImage(srv.url, repo, 'v1'); // 2 × (POST + PUT) upload, 1 PUT manifest
    requests += 5;
    const manifest = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    for (const content of [image.config, ...image.layers]) {
      const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(content)}`);
      assert.equal(blob.status, 200);
      await blob.arrayBuffer();
    }
    const continued = await fetch(`${srv.url}/v2/${repo}/manifests/${image.digest}`, {
      headers: { Accept: MT.ociManifest, traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, 'X-Request-Id': 'trace-test-1' },
    });
    assert.equal(continued.status, 200);
    await continued.arrayBuffer();
    requests += 4;
  }

  after(async () => {
    restoreOtelEnv();
    await collector.close();
  });

  const serverSpans = () => spans.filter((s) => s.kind === SERVER);
  const childrenOf = (parent: OtlpSpan) => spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

  it('sends one server span per request, named after the route template, never the raw URL', () => {
    const names = serverSpans()
      .map((s) => s.name)
      .sort();
    assert.equal(names.length, requests, JSON.stringify(names));
    assert.deepEqual(names, [
      'GET /v2/*name/blobs/:digest',
      'GET /v2/*name/blobs/:digest',
      'GET /v2/*name/manifests/:reference',
      'GET /v2/*name/manifests/:reference',
      'POST /v2/*name/blobs/uploads{/}',
      'POST /v2/*name/blobs/uploads{/}',
      'PUT /v2/*name/blobs/uploads/:id',
      'PUT /v2/*name/blobs/uploads/:id',
      'PUT /v2/*name/manifests/:reference',
    ]);
    for (const s of spans) assert.ok(!s.name.includes(repo), `span name ${s.name} holds the raw path`);
  });

  it('puts method, route, status, repository and request id on each server span', () => {
    const ids = new Set<unknown>();
    for (const s of serverSpans()) {
      const [method, route] = s.name.split(' ');
      assert.equal(attr(s, 'http.request.method'), method);
      assert.equal(attr(s, 'http.route'), route);
      assert.equal(attr(s, 'unireg.repository'), repo);
      const status = attr(s, 'http.response.status_code');
      assert.ok(status === 200 || status === 201 || status === 202, `${s.name}: status ${String(status)}`);
      const id = attr(s, 'unireg.request_id');
      assert.equal(typeof id, 'string', `${s.name} has no request id`);
      ids.add(id);
    }
    assert.equal(ids.size, requests, 'request ids are distinct');
    assert.equal(collector.resources()[0]?.['service.name']?.stringValue, 'unireg');
  });

  it('records the digest the request concerned', () => {
    const put = serverSpans().find((s) => s.name === 'PUT /v2/*name/manifests/:reference')!;
    assert.equal(attr(put, 'unireg.digest'), image.digest);
    const byTag = serverSpans().filter((s) => s.name === 'GET /v2/*name/manifests/:reference');
    for (const s of byTag) assert.equal(attr(s, 'unireg.digest'), image.digest);
    const blobDigests = serverSpans()
      .filter((s) => s.name === 'GET /v2/*name/blobs/:digest')
      .map((s) => attr(s, 'unireg.digest'))
      .sort();
    assert.deepEqual(blobDigests, [image.config, ...image.layers].map(sha256).sort());
  });

  it('makes the metadata and blob store calls children of their request span', () => {
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const internal = spans.filter((s) => s.kind !== SERVER);
    assert.ok(internal.length > 0, 'no child spans');
    for (const s of internal) {
      assert.match(s.name, /^(metadata|blobs)\.\w+$/);
      const parent = byId.get(s.parentSpanId ?? '');
      assert.ok(parent, `${s.name} has no parent among the exported spans`);
      assert.equal(parent.kind, SERVER, `${s.name}'s parent is ${parent.name}`);
      assert.equal(parent.traceId, s.traceId);
    }
    const uploads = serverSpans().filter((s) => s.name === 'PUT /v2/*name/blobs/uploads/:id');
    for (const u of uploads) {
      const names = childrenOf(u).map((c) => c.name);
      assert.ok(names.includes('metadata.completeUpload'), `upload PUT children: ${names.join(', ')}`);
      assert.ok(names.includes('blobs.ingest'), `upload PUT children: ${names.join(', ')}`);
    }
    const manifestPut = serverSpans().find((s) => s.name === 'PUT /v2/*name/manifests/:reference')!;
    const write = childrenOf(manifestPut).find((c) => c.name === 'metadata.putManifest');
    assert.ok(write, 'manifest PUT has a metadata.putManifest child');
    assert.equal(attr(write, 'unireg.repository'), repo);
    assert.equal(attr(write, 'unireg.digest'), image.digest);
    assert.equal(attr(write, 'unireg.tag'), 'v1');
    for (const get of serverSpans().filter((s) => s.name === 'GET /v2/*name/blobs/:digest')) {
      const names = childrenOf(get).map((c) => c.name);
      assert.ok(names.some((n) => n.startsWith('metadata.')), `blob GET children: ${names.join(', ')}`);
      assert.ok(names.some((n) => n.startsWith('blobs.')), `blob GET children: ${names.join(', ')}`);
    }
  });

  it('continues an incoming W3C traceparent and logs the trace id with the request', () => {
    const continued = serverSpans().filter((s) => s.traceId === TRACE_ID);
    assert.equal(continued.length, 1);
    const span = continued[0]!;
    assert.equal(span.parentSpanId, PARENT_ID);
    assert.equal(attr(span, 'unireg.request_id'), 'trace-test-1');
    const others = serverSpans().filter((s) => s !== span);
    assert.equal(new Set(others.map((s) => s.traceId)).size, others.length, 'each other request is its own trace');
    const line = logLines.find((l) => l.msg === 'request' && l.reqId === 'trace-test-1');
    assert.ok(line, 'request log line');
    assert.equal(line.traceId, TRACE_ID);
    const requestLines = logLines.filter((l) => l.msg === 'request');
    assert.equal(requestLines.length, requests);
    for (const l of requestLines) assert.match(String(l.traceId), /^[0-9a-f]{32}$/);
  });
});

describe('tracing on, the OTLP defaults', () => {
  it('sends http/protobuf when no protocol is set', async () => {
    const collector = await startCollector();
    setOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
    try {
      const srv = await startTestServer({ tracing: { enabled: true } });
      try {
        const res = await fetch(`${srv.url}/v2/`);
        assert.equal(res.status, 200);
      } finally {
        await srv.destroy();
      }
      assert.equal(collector.received.length, 1);
      const [got] = collector.received;
      assert.equal(got!.path, '/v1/traces');
      assert.equal(got!.contentType, 'application/x-protobuf');
      assert.ok(got!.body.includes(Buffer.from('GET /v2/')), 'the span name is in the protobuf body');
    } finally {
      restoreOtelEnv();
      await collector.close();
    }
  });

  it('refuses to start with an exporter or protocol it does not ship', async () => {
    const refused: Record<string, string>[] = [{ OTEL_TRACES_EXPORTER: 'zipkin' }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }];
    for (const vars of refused) {
      setOtelEnv(vars);
      try {
        await assert.rejects(
          async () => {
            const started = await startTestServer({ tracing: { enabled: true } });
            await started.destroy();
          },
          { name: 'TracingConfigError' },
        );
      } finally {
        restoreOtelEnv();
      }
    }
  });
});
