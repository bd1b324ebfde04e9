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
  private readonly sorted: string[] = [];

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(key: string): Promise<Buffer | undefined> {
    return this.values.get(key);
  }

  async batch(ops: KvOp[]): Promise<void> {
    for (const op of ops) {
      const i = lowerBound(this.sorted, op.key);
      const present = this.sorted[i] === op.key;
      if (op.type === 'put') {
        if (!present) this.sorted.splice(i, 0, op.key);
        this.values.set(op.key, Buffer.from(op.value));
      } else if (present) {
        this.sorted.splice(i, 1);
        this.values.delete(op.key);
      }
    }
  }

  async entries(range: KvRange): Promise<[string, Buffer][]> {
    return (await this.keys(range)).map((key) => [key, this.values.get(key)!]);
  }

  async keys(range: KvRange): Promise<string[]> {
    const out: string[] = [];
    let i = lowerBound(this.sorted, range.gt);
    if (this.sorted[i] === range.gt) i++;
    const limit = range.limit ?? Infinity;
    while (i < this.sorted.length && out.length < limit) {
      const key = this.sorted[i]!;
      if (key >= range.lt) break;
      out.push(key);
      i++;
    }
    return out;
  }
}
