/** Walks a paged store listing one page at a time, so a large registry is never in memory at once. */
import type { PageRequest } from '../storage/types.js';

export const PAGE = 256;

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
