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
}
