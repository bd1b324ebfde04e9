/**
 * Byte quotas per repository glob. A repository belongs to the namespace of the
 * most specific quota glob matching it (src/policy/globs.ts), and a namespace's
 * usage is the sum of the sizes of the DISTINCT digests linked as blobs or stored
 * as manifests in any of its repositories: a blob shared by several repositories
 * counts once per namespace; a manifest counts its byte length.
 *
 * Usage is computed once by scanning the links and manifests of each governed
 * repository, then kept current in process from the store's committed batches
 * (`apply`, fed by src/storage/observed-kv.ts), so every writer is counted.
 * `recompute()` scans again (after a GC, or to correct anything); changes made
 * while it scans are replayed onto the fresh figures.
 *
 * Enforcement: `checkBytes` and `checkContent` refuse early, before any byte is
 * stored, when a known length cannot fit (a chunk of unknown digest only when it
 * cannot be a re-upload of counted content); `admit` is the authoritative check, made under the
 * namespace's lock around the write that makes content count (a commit, a mount,
 * a manifest put), so two pushes cannot both take the last bytes.
 *
 * With a shared metadata store (replicas on PostgreSQL), other processes'
 * batches reach `apply` through the change feed (src/storage/metadata/change-feed.ts,
 * every batch of every replica in commit order), and `admit` runs under the
 * namespace's lock in the shared Locks (an advisory lock, so across replicas),
 * after `sync()`: every batch committed before that point, on any replica, has
 * been applied, so the check sees the last admitted write wherever it was made.
 * When the feed was lost and is back, `resync()` scans again.
 */
import { sizeBytes, type QuotaRule } from '../config/schema.js';
import type { Digest } from '../oci/digest.js';
import { GlobRules } from '../policy/globs.js';
import { QuotaExceededError } from '../domain/errors.js';
import type { StoreChange } from '../storage/metadata/changes.js';
import type { MetadataStore, SizedDigest } from '../storage/types.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Locks } from './locks.js';

/** How quotas stay right when other processes write the same store. */
export interface SharedQuotaState {
  /** Locks held across processes. */
  locks: Locks;
  /** Resolves once every batch committed before the call, by any process, has been passed to `apply`. */
  sync(): Promise<void>;
}

/** Page size of the usage scan. */
const PAGE = 1000;

interface Held {
  size: number;
  /** `l<repo>` for a link, `m<repo>` for a manifest record. */
  holders: Set<string>;
}

class NamespaceUsage {
  readonly digests = new Map<string, Held>();
  used = 0;

  constructor(readonly namespace: string, readonly limit: number) {}

  add(holder: string, digest: string, size: number): void {
    const held = this.digests.get(digest);
    if (held) {
      held.holders.add(holder);
      return;
    }
    this.digests.set(digest, { size, holders: new Set([holder]) });
    this.used += size;
  }

  remove(holder: string, digest: string): void {
    const held = this.digests.get(digest);
    if (!held || !held.holders.delete(holder) || held.holders.size > 0) return;
    this.digests.delete(digest);
    this.used -= held.size;
  }

  apply(change: StoreChange): void {
    const holder = `${change.what === 'link' ? 'l' : 'm'}${change.repo}`;
    if (change.op === 'put') this.add(holder, change.digest, change.size);
    else this.remove(holder, change.digest);
  }

  /** Whether a counted digest is at least `bytes` long: content of that length may be one already counted. */
  mayBeCounted(bytes: number): boolean {
    for (const held of this.digests.values()) if (held.size >= bytes) return true;
    return false;
  }

  /** Bytes `items` would add: those whose digest the namespace does not count yet, each once. */
  added(items: readonly SizedDigest[]): number {
    const seen = new Set<string>();
    let bytes = 0;
    for (const { digest, size } of items) {
      if (this.digests.has(digest) || seen.has(digest)) continue;
      seen.add(digest);
      bytes += size;
    }
    return bytes;
  }
}

export interface NamespaceReport {
  /** The quota's repository glob. */
  namespace: string;
  used: number;
  limit: number;
  /** Distinct blobs and manifests counted. */
  digests: number;
}

export class QuotaService {
  private readonly selector: GlobRules<QuotaRule>;
  private usage = new Map<string, NamespaceUsage>();
  /** Changes seen while a recompute scans, replayed onto its result. */
  private replay: StoreChange[] | undefined;
  private computing: Promise<void> | undefined;
  private ready: Promise<void> = Promise.resolve();
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly meta: MetadataStore,
    rules: readonly QuotaRule[],
    private readonly shared?: SharedQuotaState,
  ) {
    this.selector = new GlobRules(rules);
    this.usage = this.empty();
  }

  get enabled(): boolean {
    return this.selector.rules.length > 0;
  }

  private empty(): Map<string, NamespaceUsage> {
    return new Map(this.selector.rules.map((r) => [r.repository, new NamespaceUsage(r.repository, sizeBytes(r.bytes))]));
  }

  /** The quota namespace (its glob) governing `repo`, if any. */
  namespaceOf(repo: string): string | undefined {
    return this.selector.ruleFor(repo)?.repository;
  }

  /** Starts the first computation; checks wait for it (and fail with its error if it fails). */
  start(): void {
    if (!this.enabled) return;
    this.ready = this.recompute();
    this.ready.catch(() => undefined);
  }

  /** Scans again after changes may have been missed (the shared store's change feed was down). */
  resync(): void {
    if (!this.enabled) return;
    this.ready = this.recompute();
    this.ready.catch(() => undefined);
  }

  /** Keeps usage current: called with every committed batch's changes. */
  apply(changes: readonly StoreChange[]): void {
    if (!this.enabled) return;
    for (const change of changes) {
      const namespace = this.namespaceOf(change.repo);
      if (namespace === undefined) continue;
      this.replay?.push(change);
      this.usage.get(namespace)?.apply(change);
    }
  }

  /** Scans the store again and replaces the figures (one scan at a time; a second call waits for it). */
  recompute(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const run = async (): Promise<void> => {
      const replay: StoreChange[] = [];
      this.replay = replay;
      try {
        const fresh = this.empty();
        for (let last: string | undefined; ; ) {
          const repos = await this.meta.listRepositories({ last, limit: PAGE });
          for (const repo of repos) {
            const namespace = this.namespaceOf(repo);
            if (namespace !== undefined) await this.scanRepository(repo, fresh.get(namespace)!);
          }
          if (repos.length < PAGE) break;
          last = repos.at(-1);
        }
        for (const change of replay) fresh.get(this.namespaceOf(change.repo)!)?.apply(change);
        this.usage = fresh;
      } finally {
        this.replay = undefined;
      }
      // The links and manifests of every governed repository were read.
      await this.meta.release();
    };
    const previous = this.computing ?? Promise.resolve();
    const next = previous.then(run, run);
    this.computing = next;
    void next.finally(() => {
      if (this.computing === next) this.computing = undefined;
    }).catch(() => undefined);
    return next;
  }

  private async scanRepository(repo: string, usage: NamespaceUsage): Promise<void> {
    const lists = [
      ['l', (last?: string) => this.meta.listBlobLinks(repo, { last, limit: PAGE })],
      ['m', (last?: string) => this.meta.listManifestSizes(repo, { last, limit: PAGE })],
    ] as const;
    for (const [kind, list] of lists) {
      for (let last: string | undefined; ; ) {
        const page = await list(last);
        for (const { digest, size } of page) usage.add(`${kind}${repo}`, digest, size);
        if (page.length < PAGE) break;
        last = page.at(-1)!.digest;
      }
    }
  }

  async report(): Promise<NamespaceReport[]> {
    await this.ready;
    return [...this.usage.values()].map((u) => ({ namespace: u.namespace, used: u.used, limit: u.limit, digests: u.digests.size }));
  }

  /** Whether `digest` already counts in the namespace governing `repo` (true when no quota governs it). */
  async counts(repo: string, digest: Digest): Promise<boolean> {
    const namespace = this.namespaceOf(repo);
    if (namespace === undefined) return true;
    await this.ready;
    return this.usage.get(namespace)!.digests.has(digest);
  }

  private refuse(usage: NamespaceUsage, requested: number): void {
    if (requested > 0 && usage.used + requested > usage.limit) {
      throw new QuotaExceededError(usage.namespace, usage.used, usage.limit, requested);
    }
  }

  /**
   * Early refusal of `bytes` of content whose digest is not known yet (a chunk):
   * refused when they cannot fit, unless they may be a re-upload of content the
   * namespace already counts (a counted digest at least that long), which costs
   * nothing: then the commit decides.
   */
  async checkBytes(repo: string, bytes: number): Promise<void> {
    const namespace = this.namespaceOf(repo);
    if (namespace === undefined) return;
    await this.ready;
    const usage = this.usage.get(namespace)!;
    if (usage.used + bytes > usage.limit && !usage.mayBeCounted(bytes)) this.refuse(usage, bytes);
  }

  /** Early refusal for content of a known digest (nothing to add if the namespace counts it already). */
  async checkContent(repo: string, items: readonly SizedDigest[]): Promise<void> {
    const namespace = this.namespaceOf(repo);
    if (namespace === undefined) return;
    await this.ready;
    const usage = this.usage.get(namespace)!;
    this.refuse(usage, usage.added(items));
  }

  /**
   * Runs `commit`, which makes `items` count in `repo`'s namespace, under the
   * namespace's lock, after checking that what they add fits.
   */
  async admit<T>(repo: string, items: readonly SizedDigest[], commit: () => Promise<T>): Promise<T> {
    const namespace = this.namespaceOf(repo);
    if (namespace === undefined) return commit();
    await this.ready;
    const shared = this.shared;
    const check = async () => {
      if (shared) {
        await shared.sync();
        await this.ready;
      }
      const usage = this.usage.get(namespace)!;
      this.refuse(usage, usage.added(items));
      return commit();
    };
    const key = `quota:${namespace}`;
    return shared ? shared.locks.run(key, check) : this.locks.run(key, check);
  }
}
