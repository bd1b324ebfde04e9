/**
 * A tiny OTLP/HTTP trace collector for tests: a real HTTP server on 127.0.0.1
 * that accepts POST /v1/traces, answers as a collector does, and keeps every
 * request it received. JSON bodies (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) are
 * decoded into spans; protobuf bodies are kept as bytes.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's numbering: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
  status?: { code?: number; message?: string };
}

interface OtlpJsonRequest {
  resourceSpans?: { resource?: { attributes?: { key: string; value: OtlpValue }[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

export interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

export interface Collector {
  /** `http://127.0.0.1:PORT`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  received: Received[];
  /** Every span of every JSON request received so far. */
  spans(): OtlpSpan[];
  /** The resource attributes of the JSON requests received so far. */
  resources(): Record<string, OtlpValue>[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

export async function startCollector(): Promise<Collector> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        const contentType = req.headers['content-type'] ?? '';
        received.push({ path: req.url ?? '', contentType, body });
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        // An empty ExportTraceServiceResponse in the request's encoding.
        if (contentType.startsWith('application/json')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
        else res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  const json = () =>
    received.filter((r) => r.contentType.startsWith('application/json')).map((r) => JSON.parse(r.body.toString('utf8')) as OtlpJsonRequest);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    spans: () => json().flatMap((r) => (r.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []))),
    resources: () =>
      json().flatMap((r) =>
        (r.resourceSpans ?? []).map((rs) => Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, a.value]))),
      ),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** The attribute's value as a string or number, or undefined when the span lacks it. */
export function attr(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.boolValue ?? v.doubleValue;
}
