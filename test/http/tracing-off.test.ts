/**
 * Tracing off (the default) costs nothing: with the OTLP variables pointing at
 * a live collector, an image push and pull loads no OpenTelemetry module (they
 * are CommonJS, so they would be in the module cache), sends the collector
 * nothing and logs no trace id. The same with tracing.enabled and
 * OTEL_SDK_DISABLED=true. The last test turns tracing on in this same process
 * and sees the modules load and the spans arrive: the checks above can fail.
 * The order of the tests matters (node:test runs them one after the other).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Overrides } from '../helpers/server.js';
import { startTestServer } from '../helpers/server.js';
import { startCollector, type Collector } from '../helpers/otlp-collector.js';
import { MT, pushImage, repoName, sha256 } from '../helpers/oci.js';

const moduleCache = createRequire(import.meta.url).cache;
/**
 * OpenTelemetry modules that do work: the SDK, exporters, context manager, resources. `@opentelemetry/api`
 * alone is left out: prom-client (the metrics) requires it for exemplars, and without an SDK registered
 * it is no-op classes that unireg never calls.
 */
const otelModules = () =>
  Object.keys(moduleCache).filter((path) => path.includes('/node_modules/@opentelemetry/') && !path.includes('/node_modules/@opentelemetry/api/'));

const VARS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_SDK_DISABLED'];
const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));

/** Pushes and pulls an image on a server started with `overrides`; the log lines it wrote. */
async function pushAndPull(overrides: Overrides): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const srv = await startTestServer({ ...overrides, log: { level: 'info' } }, undefined, pino({ level: 'info' }, stream));
  try {
    const repo = repoName('untraced');
    const image = await pushImage(srv.url, repo, 'v1');
    const manifest = await fetch(`${srv.url}/v2/${repo}/manifests/v1`, {
      headers: { Accept: MT.ociManifest, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    const blob = await fetch(`${srv.url}/v2/${repo}/blobs/${sha256(image.layers[0]!)}`);
    assert.equal(blob.status, 200);
    await blob.arrayBuffer();
  } finally {
    await srv.destroy();
  }
  return lines.filter((l) => l.msg === 'request');
}

describe('tracing off', () => {
  let collector: Collector;

  before(async () => {
    collector = await startCollector();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await collector.close();
  });

  it('by default loads no OpenTelemetry module, exports nothing and logs no trace id', async () => {
    const requests = await pushAndPull({});
    assert.equal(requests.length, 7);
    for (const line of requests) assert.ok(!('traceId' in line), `log line with a trace id: ${JSON.stringify(line)}`);
    assert.deepEqual(otelModules(), []);
    assert.equal(collector.received.length, 0);
  });

  it('stays off with tracing.enabled when OTEL_SDK_DISABLED=true', async () => {
    process.env.OTEL_SDK_DISABLED = 'true';
    try {
      const requests = await pushAndPull({ tracing: { enabled: true } });
      for (const line of requests) assert.ok(!('traceId' in line));
    } finally {
      delete process.env.OTEL_SDK_DISABLED;
    }
    assert.deepEqual(otelModules(), []);
    assert.equal(collector.received.length, 0);
  });

  it('(control) turned on in this process, the SDK loads and spans reach the collector', async () => {
    const requests = await pushAndPull({ tracing: { enabled: true } });
    for (const line of requests) assert.match(String(line.traceId), /^[0-9a-f]{32}$/);
    const loaded = otelModules();
    assert.ok(loaded.some((p) => p.includes('/@opentelemetry/sdk-trace-base/')), `loaded: ${loaded.length} modules`);
    assert.ok(collector.received.length > 0);
  });
});
