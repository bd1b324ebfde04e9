/**
 * Child spans for store calls. A call made while a request's server span is
 * active becomes its child; a call made outside any request (the upload
 * sweeper, scheduled GC, start-up) makes no span at all, so background work
 * does not flood the trace backend with one-span traces.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import type { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

export class StoreSpans {
  constructor(
    private readonly tracer: Tracer,
    private readonly contexts: AsyncLocalStorageContextManager,
  ) {}

  /** Runs `call` inside a span `name` (a child of the active request span), recording a throw as the span's error. */
  async within<T>(name: string, attributes: Attributes, call: () => Promise<T>): Promise<T> {
    const parent = this.contexts.active();
    if (trace.getSpan(parent) === undefined) return call();
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
    try {
      return await call();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.setAttribute(ATTR_ERROR_TYPE, error.name);
      throw err;
    } finally {
      span.end();
    }
  }

  /** Like within(), for an iteration: the span lasts from the first item asked for until the iteration ends. */
  async *iterate<T>(name: string, attributes: Attributes, items: () => AsyncIterable<T>): AsyncIterable<T> {
    const parent = this.contexts.active();
    if (trace.getSpan(parent) === undefined) {
      yield* items();
      return;
    }
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
    let count = 0;
    try {
      for await (const item of items()) {
        count++;
        yield item;
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      throw err;
    } finally {
      span.setAttribute('unireg.items', count);
      span.end();
    }
  }
}
