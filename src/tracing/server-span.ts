/**
 * The server span of each request, made in Koa rather than by patching `http`:
 * it continues an incoming W3C `traceparent`, is named after the route template
 * once the router has matched (`GET /v2/*name/manifests/:reference`, never the
 * raw URL; the bare method when no route matched) and ends when the response
 * is done (after the last byte of a blob, or when the client went away).
 * The store calls made while it is active become its children (./store-spans.ts).
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type TextMapGetter, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import type { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { Context as KoaContext, Middleware } from 'koa';
import { ATTR_DIGEST, ATTR_REPOSITORY, ATTR_REQUEST_ID } from './attributes.js';

const headers: TextMapGetter<KoaContext['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** What @koa/router left on the context: the matched route's template and its parameters. */
function routed(ctx: KoaContext): { route?: string; params: Record<string, unknown> } {
  const route: unknown = Reflect.get(ctx, '_matchedRoute');
  const params: unknown = Reflect.get(ctx, 'params');
  return {
    ...(typeof route === 'string' ? { route } : {}),
    params: typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : {},
  };
}

function digestOf(ctx: KoaContext, params: Record<string, unknown>): string | undefined {
  const answered = ctx.response.get('Docker-Content-Digest');
  if (answered !== '') return answered;
  for (const candidate of [params.digest, params.reference, ctx.query.digest]) {
    if (typeof candidate === 'string' && DIGEST.test(candidate)) return candidate;
  }
  return undefined;
}

function finish(span: Span, ctx: KoaContext): void {
  const { route, params } = routed(ctx);
  if (route !== undefined) {
    span.updateName(`${ctx.method} ${route}`);
    span.setAttribute(ATTR_HTTP_ROUTE, route);
  }
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, ctx.status);
  if (typeof params.name === 'string') span.setAttribute(ATTR_REPOSITORY, params.name);
  const digest = digestOf(ctx, params);
  if (digest !== undefined) span.setAttribute(ATTR_DIGEST, digest);
  if (ctx.status >= 500) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttribute(ATTR_ERROR_TYPE, String(ctx.status));
  } else if (!ctx.res.writableFinished) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was complete' });
    span.setAttribute(ATTR_ERROR_TYPE, 'incomplete_response');
  }
  span.end();
}

export function serverSpans(tracer: Tracer, contexts: AsyncLocalStorageContextManager, propagator: TextMapPropagator): Middleware {
  return (ctx, next) => {
    const parent = propagator.extract(ROOT_CONTEXT, ctx.headers, headers);
    const requestId: unknown = ctx.state.requestId;
    const span = tracer.startSpan(
      ctx.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: ctx.method,
          [ATTR_URL_PATH]: ctx.path,
          ...(typeof requestId === 'string' ? { [ATTR_REQUEST_ID]: requestId } : {}),
        },
      },
      parent,
    );
    // For the request log line (src/http/middleware/request-log.ts).
    ctx.state.traceId = span.spanContext().traceId;
    ctx.res.once('close', () => finish(span, ctx));
    return contexts.with(trace.setSpan(parent, span), next);
  };
}
