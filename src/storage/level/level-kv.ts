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

  async batch(ops: KvOp[], options: { durable?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    await this.db.batch(ops.map((op) => (op.type === 'put' ? op : { type: 'del' as const, key: op.key })), {
      sync: options.durable ?? true,
    });
  }

  entries(range: KvRange): Promise<[string, Buffer][]> {
    return this.db.iterator({ gt: range.gt, lt: range.lt, limit: range.limit ?? -1 }).all();
  }

  keys(range: KvRange): Promise<string[]> {
    return this.db.keys({ gt: range.gt, lt: range.lt, limit: range.limit ?? -1 }).all();
  }
}
