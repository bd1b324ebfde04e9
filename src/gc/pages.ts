/** Walks a paged store listing one page at a time, so a large registry is never in memory at once. */
import type { PageRequest } from '../storage/types.js';

export const PAGE = 256;

/** Reads GC keeps in flight at once: enough to not crawl under load, few enough to leave room for requests. */
export const BATCH = 32;

/** Groups an async stream into arrays of up to `size`. */
export async function* batches<T>(items: AsyncIterable<T>, size = BATCH): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Lets queued requests run between pages: GC must not stall serving. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function* pages<T>(
  fetch: (page: PageRequest) => Promise<T[]>,
  keyOf: (item: T) => string,
  limit = PAGE,
): AsyncGenerator<T[]> {
  let last: string | undefined;
  for (;;) {
    const items = await fetch({ last, limit });
    if (items.length > 0) yield items;
    if (items.length < limit) return;
    last = keyOf(items[items.length - 1]!);
    await yieldToLoop();
  }
}

export async function* each<T>(fetch: (page: PageRequest) => Promise<T[]>, keyOf: (item: T) => string, limit = PAGE): AsyncGenerator<T> {
  for await (const page of pages(fetch, keyOf, limit)) yield* page;
}
