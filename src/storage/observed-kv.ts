/** A SortedKv that tells listeners about each batch once it is committed (quota accounting). */
import type { KvOp, KvRange, SortedKv } from './kv.js';

export type BatchListener = (ops: readonly KvOp[]) => void;

export class ObservedKv implements SortedKv {
  private readonly listeners: BatchListener[] = [];

  readonly scan?: SortedKv['scan'];
  readonly release?: SortedKv['release'];

  constructor(private readonly inner: SortedKv) {
    if (inner.scan) this.scan = inner.scan.bind(inner);
    if (inner.release) this.release = inner.release.bind(inner);
  }

  /** `listener` runs synchronously after every successful batch, before the batch's promise resolves. */
  onBatch(listener: BatchListener): void {
    this.listeners.push(listener);
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.inner.get(key);
  }

  async batch(ops: KvOp[], options?: { durable?: boolean }): Promise<void> {
    await this.inner.batch(ops, options);
    for (const listener of this.listeners) listener(ops);
  }

  entries(range: KvRange): Promise<[string, Buffer][]> {
    return this.inner.entries(range);
  }

  keys(range: KvRange): Promise<string[]> {
    return this.inner.keys(range);
  }
}
