/**
 * Locks: how the registry serialises work that must not interleave.
 *
 * Keys name what is locked: a repository by its name (`team/app`), a blob by
 * `blob:<digest>` (blobKey), a registry-wide job by `job:<name>` (jobKey; repository
 * names cannot contain `:`, so neither can collide with a repository). Several keys
 * are taken with runAll, always repositories first, then blobs, each group
 * sorted, so two holders never wait on each other. Whoever holds blob keys
 * takes no repository key after them.
 *
 *   manifest PUT              repo + blob keys of every referenced digest (reference check, write, touch)
 *   upload commit, mount      blob key around ingest + link
 *   blob DELETE               repo + blob key
 *   GC link sweep             repo + blob key, re-checking the link's times
 *   GC file sweep             blob key, re-checking that nothing links the digest
 *   GC manifest deletion      repo key, re-marking the repository under it
 *   retention run             job key (runs queue behind each other), then repo keys one at a time
 *
 * tryRun is "one at a time, or not now" (one GC at a time). The in-process
 * implementation is below; a scale-out one maps run/runAll to PostgreSQL
 * advisory transaction locks and tryRun to pg_try_advisory_lock.
 */
import type { Digest } from '../oci/digest.js';
import { KeyedMutex } from './keyed-mutex.js';

export type TryRunResult<T> = { acquired: true; value: T } | { acquired: false };

export interface Locks {
  /** Runs `fn` holding `key`; waits for earlier holders. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` holding every key (duplicates ignored), taken in lockOrder. */
  runAll<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` holding `name` if nobody holds it; otherwise does not run it and says so. */
  tryRun<T>(name: string, fn: () => Promise<T>): Promise<TryRunResult<T>>;
}

const BLOB_PREFIX = 'blob:';

/** The lock key of a blob (its file and every link to it). */
export function blobKey(digest: Digest | string): string {
  return `${BLOB_PREFIX}${digest}`;
}

/** The lock key of a registry-wide job that runs one at a time (retention). */
export function jobKey(name: string): string {
  return `job:${name}`;
}

export function isBlobKey(key: string): boolean {
  return key.startsWith(BLOB_PREFIX);
}

/** Distinct keys in the one order every multi-key holder uses: repositories, then blobs, each sorted. */
export function lockOrder(keys: readonly string[]): string[] {
  const unique = [...new Set(keys)];
  const repos = unique.filter((k) => !isBlobKey(k)).sort();
  const blobs = unique.filter(isBlobKey).sort();
  return [...repos, ...blobs];
}

export class InProcessLocks implements Locks {
  private readonly mutex = new KeyedMutex();
  private readonly exclusive = new Set<string>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, fn);
  }

  runAll<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const ordered = lockOrder(keys);
    const take = (i: number): Promise<T> => (i === ordered.length ? fn() : this.mutex.run(ordered[i]!, () => take(i + 1)));
    return take(0);
  }

  async tryRun<T>(name: string, fn: () => Promise<T>): Promise<TryRunResult<T>> {
    if (this.exclusive.has(name)) return { acquired: false };
    this.exclusive.add(name);
    try {
      return { acquired: true, value: await fn() };
    } finally {
      this.exclusive.delete(name);
    }
  }
}
