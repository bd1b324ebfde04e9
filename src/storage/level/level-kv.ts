/**
 * SortedKv on LevelDB (`level`): one database directory, one process.
 *
 * Failures become storage domain errors (src/storage/io-errors.ts): a full disk
 * is StorageFullError, any other LevelDB or I/O failure StorageUnavailableError.
 *
 * A failed write leaves LevelDB unfit for the next one: its log may end in a torn
 * record (LevelDB then keeps appending after it, and on the next open drops
 * everything from the torn record on, acknowledged writes included), or a failed
 * background compaction has made every later write fail until the database is
 * reopened. So after a failed write the database is reopened before it takes
 * another write; reopening replays the log and drops only the torn record, the
 * write that was refused. Reads keep using the open handle meanwhile. Reopening
 * rewrites the log's content into a table, so it waits until the volume has room
 * for it; until then writes fail fast with StorageFullError.
 *
 * Two things keep LevelDB's memory from following the size of the store: `release()` after a read
 * of the whole store, and `tidy()` every few seconds (both below).
 *
 * One process at a time: LevelDB's LOCK file keeps a second process off the directory, but a reopen
 * lets go of it for a moment, and another process starting on the same root could take it then (one
 * did, in test/e2e/signing-key-race.test.ts, when a reopen followed the start-up count). So the
 * store also holds, from open() to close(), the LOCK of a second, empty LevelDB next to it
 * (`<location>.owner`) that is never reopened: whoever holds that one owns the directory. Both are
 * released by the OS when the process dies.
 */
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import type { Logger } from 'pino';
import { StorageFullError, StorageUnavailableError } from '../../domain/errors.js';
import { asStorageError, storageFailure } from '../io-errors.js';
import { NO_VALUE, type KvOp, type KvRange, type SortedKv } from '../kv.js';

/** Room a reopen needs beyond the log it replays: a new MANIFEST, a new log, LevelDB's info LOG. */
const REOPEN_MARGIN = 1 << 20;
/** How often the directory is checked for table files LevelDB no longer uses (tidy()). */
const TIDY_EVERY_MS = 5_000;
/** Bounds of a manual compaction that covers no key: every key has a kind letter before its first NUL (keys.ts). */
const NO_KEY = '\u0000';

/** What `level` is on Node (classic-level) and its types leave out, being shared with the browser's. */
interface NativeLevel {
  getProperty(property: string): string;
  compactRange(start: string, end: string): Promise<void>;
}

/** The table file numbers LevelDB's current version lists (its `leveldb.sstables` property: lines ` 12:2097152[...]`). */
function liveTables(sstables: string): Set<number> {
  const live = new Set<number>();
  for (const m of sstables.matchAll(/^\s*(\d+):\d+\[/gm)) live.add(Number(m[1]));
  return live;
}

/** The directory of the LevelDB whose LOCK marks the owner of the one at `location` (see the top of this file). */
function ownerLockDir(location: string): string {
  return `${location.replace(/\/+$/, '')}.owner`;
}

export class LevelKv implements SortedKv {
  /**
   * Both created by open(), the store only once the owner's lock is held: a Level opens itself on the
   * tick after it is constructed (abstract-level's deferred open), lock or no lock.
   */
  private handle: Level<string, Buffer> | undefined;
  /** Held open from open() to close(), never reopened: its LOCK keeps other processes off `location` across reopens. */
  private owner: Level<string, string> | undefined;
  /** The failure of the last write, until the database has been reopened. */
  private damaged: unknown;
  private recovering: Promise<void> | undefined;
  /** Operations running on the database, and who waits for there to be none. */
  private inflight = 0;
  private readonly idle: (() => void)[] = [];
  /** close() was called: no reopening. */
  private closed = false;
  private tidyTimer: NodeJS.Timeout | undefined;
  /** Unused table files seen at the last check: the next one cleans up only those still there (tidy()). */
  private unusedSeen = new Set<number>();

  constructor(
    private readonly location: string,
    private readonly log?: Logger,
  ) {}

  private get db(): Level<string, Buffer> {
    if (this.handle === undefined) throw new StorageUnavailableError('LEVEL_DATABASE_NOT_OPEN');
    return this.handle;
  }

  async open(): Promise<void> {
    this.closed = false;
    // The owner's lock first: a second process fails here, before it touches the database.
    this.owner ??= new Level<string, string>(ownerLockDir(this.location));
    if (this.owner.status !== 'open') await this.owner.open();
    try {
      this.handle ??= new Level<string, Buffer>(this.location, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
      await this.handle.open();
    } catch (err) {
      await this.owner.close().catch(() => undefined);
      throw err;
    }
    this.tidyTimer ??= setInterval(() => void this.tidy(true), TIDY_EVERY_MS).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.tidyTimer);
    this.tidyTimer = undefined;
    while (this.recovering) await this.recovering.catch(() => undefined);
    try {
      await this.handle?.close();
    } finally {
      await this.owner?.close();
    }
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.run(false, async () => (await this.db.get(key)) ?? undefined);
  }

  async batch(ops: KvOp[], options: { durable?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    const entries = ops.map((op) => (op.type === 'put' ? op : { type: 'del' as const, key: op.key }));
    await this.run(true, () => this.db.batch(entries, { sync: options.durable ?? true }));
  }

  entries(range: KvRange): Promise<[string, Buffer][]> {
    return this.run(false, () => this.db.iterator({ gt: range.gt, lt: range.lt, limit: range.limit ?? -1 }).all());
  }

  keys(range: KvRange): Promise<string[]> {
    return this.run(false, () => this.db.keys({ gt: range.gt, lt: range.lt, limit: range.limit ?? -1 }).all());
  }

  /**
   * One iterator for the whole range (see SortedKv.scan). A reopen after a failed write closes open
   * iterators; the scan then goes on with a new one from the last key it read.
   */
  async *scan(range: Omit<KvRange, 'limit'>, size: number, withValues: boolean): AsyncGenerator<[string, Buffer][]> {
    let it: ReturnType<typeof this.db.iterator<string, Buffer>> | undefined;
    let gt = range.gt;
    try {
      for (;;) {
        let page: [string, Buffer][];
        try {
          page = await this.run(false, () => {
            it ??= this.db.iterator<string, Buffer>({ gt, lt: range.lt, values: withValues });
            return it.nextv(size);
          });
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'LEVEL_ITERATOR_NOT_OPEN') throw err;
          it = undefined;
          continue;
        }
        // A short page is not the end: nextv also stops at the iterator's byte budget (16 KiB by default).
        if (page.length === 0) return;
        gt = page[page.length - 1]![0];
        yield withValues ? page : page.map(([key]) => [key, NO_VALUE]);
      }
    } finally {
      await it?.close().catch(() => undefined);
    }
  }

  /**
   * Lets go of the table files a read of the whole store left mapped (SortedKv.release). LevelDB maps
   * each table file it reads into the process and keeps it mapped while the table stays open, so one
   * scan of everything leaves the whole store counted in the process's RSS (15-18 MiB at 10,000
   * repositories). Reopening unmaps them all; their pages stay in the OS's page cache, so the reads
   * after it do not go to the disk. Operations wait for it as for any reopen, and the owner's lock
   * keeps the directory this process's throughout. Skipped when the volume has no room for the log
   * the reopen writes out; a failed reopen is retried by the next operation, as after a failed write.
   */
  async release(): Promise<void> {
    while (this.recovering) await this.recovering.catch(() => undefined);
    if (this.closed || this.handle?.status !== 'open') return;
    this.recovering = this.reopen(true).finally(() => (this.recovering = undefined));
    await this.recovering.catch(() => undefined);
  }

  /**
   * When a compaction ends, LevelDB deletes its input tables, except those an iterator is still
   * reading; those stay open, and memory-mapped (resident, since the compaction read them through),
   * until LevelDB's next cleanup, which only a later compaction or a reopen brings. On a store that
   * is read and not written that is never: 16 MiB at 10,000 repositories after the read-triggered
   * compaction LevelDB runs soon after start-up (docs/benchmarks.md, "Memory at scale"). So when
   * the directory holds table files the current version does not list, a manual compaction of a
   * range with no keys makes LevelDB clean up now: it flushes the memtable (usually empty) and
   * deletes what no iterator reads any more. `confirmed`: only files already unused at the last
   * check (a running compaction's new files are unlisted until it ends). Skipped when the volume is
   * short of room, as a reopen is (the flush starts a new log), and when LevelDB lists no table at
   * all (a property it no longer answers the same way must not make every table look unused).
   * True when it cleaned up; never fails.
   */
  async tidy(confirmed = false): Promise<boolean> {
    try {
      if (this.closed || this.recovering || this.db.status !== 'open') return false;
      const native = this.db as unknown as NativeLevel;
      const live = liveTables(native.getProperty('leveldb.sstables'));
      if (live.size === 0) return false;
      const unused = (await readdir(this.location)).filter((name) => name.endsWith('.ldb')).map((name) => Number.parseInt(name, 10)).filter((n) => !live.has(n));
      const due = confirmed ? unused.filter((n) => this.unusedSeen.has(n)) : unused;
      this.unusedSeen = new Set(unused);
      if (due.length === 0 || (await this.freeBytes()) < (await this.logBytes()) + REOPEN_MARGIN) return false;
      await this.run(false, () => native.compactRange(NO_KEY, NO_KEY));
      this.log?.debug({ location: this.location, tables: due.length }, 'LevelDB cleaned up table files a compaction left');
      return true;
    } catch (err) {
      this.log?.debug({ err }, 'LevelDB table clean-up skipped');
      return false;
    }
  }

  /** Runs one operation on the database, failures as storage errors; a failed write marks the database for reopening. */
  private async run<T>(write: boolean, op: () => Promise<T>): Promise<T> {
    await this.enter(write);
    try {
      return await op();
    } catch (err) {
      const failure = storageFailure(err);
      if (failure === undefined) throw err;
      if (write && !this.closed && this.damaged === undefined) {
        this.damaged = err;
        this.log?.error({ err, reason: failure.reason }, 'metadata write failed: LevelDB is reopened before the next write');
      }
      throw failure;
    } finally {
      if (--this.inflight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /**
   * Waits out a reopen in progress; reopens first when the database is closed, or
   * damaged and about to be written; then counts the caller as in flight.
   */
  private async enter(write: boolean): Promise<void> {
    for (;;) {
      while (this.recovering) await this.recovering.catch(() => undefined);
      if (this.closed) throw new StorageUnavailableError('LEVEL_DATABASE_NOT_OPEN');
      if (this.db.status === 'open' && !(write && this.damaged !== undefined)) {
        this.inflight++;
        return;
      }
      this.recovering ??= this.reopen().finally(() => (this.recovering = undefined));
      await this.recovering;
    }
  }

  private async reopen(release = false): Promise<void> {
    const needed = (await this.logBytes()) + REOPEN_MARGIN;
    const available = await this.freeBytes();
    if (available < needed) {
      if (release) return;
      // Reopening now would fail half-way and leave reads without a database too.
      throw new StorageFullError('ENOSPC', { cause: this.damaged });
    }
    // New operations wait for this reopen; the ones already running finish first.
    while (this.inflight > 0) await new Promise<void>((wake) => this.idle.push(wake));
    const started = performance.now();
    try {
      if (this.db.status === 'open') await this.db.close();
      await this.db.open();
    } catch (err) {
      this.log?.error({ err }, 'reopening LevelDB failed; the next request tries again');
      throw asStorageError(err);
    }
    if (release) {
      this.log?.info({ location: this.location, ms: Math.round(performance.now() - started) }, 'LevelDB reopened: the tables a full read mapped are released');
      return;
    }
    this.log?.warn({ location: this.location, after: (this.damaged as Error | undefined)?.message }, 'LevelDB reopened after a failed write');
    this.damaged = undefined;
  }

  /** Bytes in LevelDB's write-ahead logs: what a reopen writes out as a table. */
  private async logBytes(): Promise<number> {
    let total = 0;
    try {
      for (const name of await readdir(this.location)) {
        if (name.endsWith('.log')) total += (await stat(join(this.location, name)).catch(() => ({ size: 0 }))).size;
      }
    } catch (err) {
      throw asStorageError(err);
    }
    return total;
  }

  private async freeBytes(): Promise<number> {
    try {
      const fs = await statfs(this.location);
      return fs.bavail * fs.bsize;
    } catch (err) {
      throw asStorageError(err);
    }
  }
}
