/** SortedKv in memory: a sorted key array beside a Map. For tests and tools. */
import type { KvOp, KvRange, SortedKv } from '../kv.js';

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryKv implements SortedKv {
  private readonly values = new Map<string, Buffer>();
  private readonly keys: string[] = [];

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(key: string): Promise<Buffer | undefined> {
    return this.values.get(key);
  }

  async batch(ops: KvOp[]): Promise<void> {
    for (const op of ops) {
      const i = lowerBound(this.keys, op.key);
      const present = this.keys[i] === op.key;
      if (op.type === 'put') {
        if (!present) this.keys.splice(i, 0, op.key);
        this.values.set(op.key, Buffer.from(op.value));
      } else if (present) {
        this.keys.splice(i, 1);
        this.values.delete(op.key);
      }
    }
  }

  async *entries(range: KvRange): AsyncIterable<[string, Buffer]> {
    let i = lowerBound(this.keys, range.gt);
    if (this.keys[i] === range.gt) i++;
    let n = 0;
    const limit = range.limit ?? Infinity;
    while (i < this.keys.length && n < limit) {
      const key = this.keys[i]!;
      if (key >= range.lt) return;
      yield [key, this.values.get(key)!];
      n++;
      i++;
    }
  }
}
