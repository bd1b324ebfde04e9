/**
 * The span exporter, chosen by the standard variables: OTEL_TRACES_EXPORTER
 * (`otlp`, the default, or `none`) and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL /
 * OTEL_EXPORTER_OTLP_PROTOCOL (`http/protobuf`, the default, or `http/json`).
 * Endpoint, headers, timeout and compression are read by the exporter itself
 * from OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION.
 */
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { TracingConfigError } from './load.js';

export interface ChosenExporter {
  /** undefined with OTEL_TRACES_EXPORTER=none: spans are made (trace ids in logs and continued) but not sent. */
  exporter: SpanExporter | undefined;
  /** For the start-up log line: what is sent where (the endpoint's origin only). */
  description: string;
}

function endpoint(env: NodeJS.ProcessEnv): string {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url = traces || (base ? `${base.replace(/\/$/, '')}/v1/traces` : 'http://localhost:4318/v1/traces');
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return 'an unparsable endpoint';
  }
}

export function exporterFromEnv(env: NodeJS.ProcessEnv = process.env): ChosenExporter {
  const names = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
  const chosen = names.length === 0 ? ['otlp'] : names;
  if (chosen.length === 1 && chosen[0] === 'none') return { exporter: undefined, description: 'none (OTEL_TRACES_EXPORTER=none)' };
  if (chosen.length !== 1 || chosen[0] !== 'otlp') {
    throw new TracingConfigError(`OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER ?? ''}: unireg exports traces with otlp (or none)`);
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf').toLowerCase();
  if (protocol === 'http/protobuf') return { exporter: new ProtobufExporter(), description: `otlp http/protobuf to ${endpoint(env)}` };
  if (protocol === 'http/json') return { exporter: new JsonExporter(), description: `otlp http/json to ${endpoint(env)}` };
  throw new TracingConfigError(
    `OTLP protocol ${protocol}: unireg sends http/protobuf (the default) or http/json; ` +
      'point OTEL_EXPORTER_OTLP_ENDPOINT at the collector\'s OTLP/HTTP port (4318), not gRPC',
  );
}
