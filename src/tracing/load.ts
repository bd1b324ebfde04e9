/**
 * The one entry point main.ts uses. It imports nothing from OpenTelemetry: with
 * `tracing.enabled: false` (the default) no OpenTelemetry SDK module is ever loaded (prom-client loads the no-op API),
 * no middleware is registered and the stores are not wrapped, so tracing off
 * costs nothing. When on, the SDK is loaded here with a dynamic import.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { BlobStore, MetadataStore } from '../storage/types.js';

export interface Stores {
  meta: MetadataStore;
  blobs: BlobStore;
}

export interface Tracing {
  /** Koa middleware making the server span of each request (registered right after the request log). */
  middleware: Middleware;
  /** The stores wrapped so that each call made while serving a request is a child span of it. */
  wrap(stores: Stores): Stores;
  /** Ends tracing: exports the spans still queued (bounded by OTEL_BSP_EXPORT_TIMEOUT). */
  shutdown(): Promise<void>;
}

/** A tracing setting the OpenTelemetry SDK cannot run with (an exporter or protocol unireg does not ship). */
export class TracingConfigError extends Error {
  override readonly name = 'TracingConfigError';
}

const TRUE = /^(true|1|yes|on)$/i;

/** Tracing as configured, or undefined when it is off (`tracing.enabled` false, or OTEL_SDK_DISABLED=true). */
export async function loadTracing(config: Config['tracing'], log: Logger): Promise<Tracing | undefined> {
  if (!config.enabled) return undefined;
  if (TRUE.test(process.env.OTEL_SDK_DISABLED?.trim() ?? '')) {
    log.info('tracing.enabled is true but OTEL_SDK_DISABLED=true: tracing stays off');
    return undefined;
  }
  const { startTracing } = await import('./sdk.js');
  return startTracing(log);
}
