/**
 * The OpenTelemetry SDK as unireg runs it, loaded only when tracing is on
 * (./load.ts imports this file dynamically). Minimal on purpose: a tracer
 * provider, a batch processor and an OTLP/HTTP exporter configured by the
 * standard OTEL_* variables, W3C trace context, and an AsyncLocalStorage context
 * manager of our own. Nothing global is registered and nothing is monkey-patched:
 * the server span is made by a Koa middleware and the child spans by store
 * decorators (./server-span.ts, ./traced-*.ts).
 */
import { readFileSync } from 'node:fs';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from 'pino';
import { exporterFromEnv } from './exporter.js';
import type { Tracing } from './load.js';
import { serverSpans } from './server-span.js';
import { StoreSpans } from './store-spans.js';
import { TracedBlobStore } from './traced-blob-store.js';
import { TracedMetadataStore } from './traced-metadata-store.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** OpenTelemetry's own complaints (an export that failed, a bad OTEL_* value) go to the process log. */
function diagnosticsTo(log: Logger): void {
  const warn = (message: string, ...args: unknown[]) => log.warn({ otel: args.length ? args.map(String) : undefined }, `opentelemetry: ${message}`);
  const ignore = () => undefined;
  diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN);
}

export function startTracing(log: Logger): Tracing {
  diagnosticsTo(log);
  const { exporter, description } = exporterFromEnv();
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over these defaults.
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'unireg', [ATTR_SERVICE_VERSION]: packageVersion() }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  // Sampler (OTEL_TRACES_SAMPLER, default parentbased_always_on), limits and OTEL_BSP_* come from the environment.
  const provider = new BasicTracerProvider({ resource, spanProcessors: exporter ? [new BatchSpanProcessor(exporter)] : [] });
  const tracer = provider.getTracer('unireg', packageVersion());
  const contexts = new AsyncLocalStorageContextManager().enable();
  const spans = new StoreSpans(tracer, contexts);
  log.info({ exporter: description }, 'tracing on');
  return {
    middleware: serverSpans(tracer, contexts, new W3CTraceContextPropagator()),
    wrap: ({ meta, blobs }) => ({ meta: new TracedMetadataStore(meta, spans), blobs: new TracedBlobStore(blobs, spans) }),
    shutdown: async () => {
      await provider.shutdown();
      contexts.disable();
    },
  };
}
