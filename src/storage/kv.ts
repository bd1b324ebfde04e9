/**
 * SortedKv: the ordered key-value store under the metadata store. LevelDB is
 * the real one (src/storage/level/); an in-memory one (src/storage/memory/)
 * runs the same shared test suite and backs fast in-process tests.
 */
export type KvOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

export interface KvRange {
  /** Exclusive lower bound. */
  gt: string;
  /** Exclusive upper bound. */
  lt: string;
  limit?: number;
}

export interface SortedKv {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  /**
   * Applies every operation or none. Durable (the default) means on disk before
   * it resolves; a non-durable batch survives a process crash but not a power cut.
   */
  batch(ops: KvOp[], options?: { durable?: boolean }): Promise<void>;
  /** Entries with gt < key < lt in ascending byte order, fetched in one call. */
  entries(range: KvRange): Promise<[string, Buffer][]>;
  /** Keys only, as entries() (listings that need no values skip decoding them). */
  keys(range: KvRange): Promise<string[]>;
  /**
   * Optional: the range in pages of up to `size` entries all read by one iterator, for scans of
   * the whole store (`scanPages` below falls back to entries()/keys() pages without it). LevelDB
   * keeps the table files an iterator began on until it closes, so a compaction that runs during
   * the scan does not get its new files read (and memory-mapped into the process) by the scan too.
   * Without values, each entry's value is an empty buffer.
   */
  scan?(range: Omit<KvRange, 'limit'>, size: number, withValues: boolean): AsyncIterable<[string, Buffer][]>;
  /**
   * Optional: called after a read of the whole store, to let go of the memory the read left behind
   * in the process (LevelDB: the table files it mapped). Never fails; operations may wait for it.
   */
  release?(): Promise<void>;
}

/** The value of each entry of a keys-only scan. */
export const NO_VALUE = Buffer.alloc(0);

/** `kv.scan` where the store has it, else pages of entries()/keys() from the last key read. */
export async function* scanPages(kv: SortedKv, range: Omit<KvRange, 'limit'>, size: number, withValues: boolean): AsyncIterable<[string, Buffer][]> {
  if (kv.scan) {
    yield* kv.scan(range, size, withValues);
    return;
  }
  for (let gt = range.gt; ; ) {
    const limited = { gt, lt: range.lt, limit: size };
    const page: [string, Buffer][] = withValues ? await kv.entries(limited) : (await kv.keys(limited)).map((key) => [key, NO_VALUE]);
    if (page.length > 0) yield page;
    if (page.length < size) return;
    gt = page[page.length - 1]![0];
  }
}
