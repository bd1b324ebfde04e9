/** SortedKv on LevelDB (`level`): one database directory, one process. */
import { Level } from 'level';
import type { KvOp, KvRange, SortedKv } from '../kv.js';

export class LevelKv implements SortedKv {
  private readonly db: Level<string, Buffer>;

  constructor(location: string) {
    this.db = new Level<string, Buffer>(location, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  }

  async open(): Promise<void> {
    await this.db.open();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  async batch(ops: KvOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.db.batch(ops.map((op) => (op.type === 'put' ? op : { type: 'del' as const, key: op.key })), {
      sync: true,
    });
  }

  async *entries(range: KvRange): AsyncIterable<[string, Buffer]> {
    const options = { gt: range.gt, lt: range.lt, limit: range.limit ?? -1 };
    for await (const entry of this.db.iterator(options)) yield entry;
  }
}
