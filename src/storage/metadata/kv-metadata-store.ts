/** MetadataStore over any SortedKv, with the key layout of ./keys.ts. */
import { decodeUpload, encodeUpload } from './upload-codec.js';
import type { Digest } from '../../oci/digest.js';
import type { Descriptor } from '../../oci/descriptor.js';
import type { KvOp, SortedKv } from '../kv.js';
import type {
  BootJob,
  BlobLink,
  DeadEvent,
  FeaturePosting,
  IndexedVariant,
  IndexedVariantRecord,
  ManifestRecord,
  ManifestWrite,
  MetadataEntry,
  MetadataStore,
  PageRequest,
  PendingEvent,
  QueuedEvent,
  SizedDigest,
  TagRecord,
  UploadSession,
  VariantKey,
} from '../types.js';
import { keys, type KeyRange } from './keys.js';
import { decodeEntry, decodeLinkSize } from './entry-codec.js';
import { EventOutbox } from './event-outbox.js';
import { BootQueueRecords } from './boot-queue.js';
import { decodeLink, encodeLink } from './link-codec.js';
import { decodeManifest, encodeManifest } from './manifest-codec.js';
import { decodeTag, encodeTag } from './tag-codec.js';
import { decodePosting, decodeVariant, dropManifestOps, reindexTagOps } from './search-index-ops.js';

/** How many repositories holding a blob a mount without `from` looks through for one the caller may read. */
const FIND_SCAN_LIMIT = 1000;

const EMPTY = Buffer.alloc(0);
const put = (key: string, value: Buffer | string): KvOp => ({
  type: 'put',
  key,
  value: typeof value === 'string' ? Buffer.from(value) : value,
});
const del = (key: string): KvOp => ({ type: 'del', key });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

export class KvMetadataStore implements MetadataStore {
  private readonly outbox: EventOutbox;
  private readonly boots: BootQueueRecords;

  constructor(private readonly kv: SortedKv) {
    this.outbox = new EventOutbox(kv);
    this.boots = new BootQueueRecords(kv);
  }

  open(): Promise<void> {
    this.outbox.reset();
    this.boots.reset();
    return this.kv.open();
  }

  close(): Promise<void> {
    return this.kv.close();
  }

  async release(): Promise<void> {
    await this.kv.release?.();
  }

  private async collect<T>(range: KeyRange, limit: number, map: (key: string, value: Buffer) => T): Promise<T[]> {
    if (limit <= 0) return [];
    const entries = await this.kv.entries({ ...range, limit: Number.isFinite(limit) ? limit : undefined });
    return entries.map(([key, value]) => map(key, value));
  }

  private async collectKeys<T>(range: KeyRange, limit: number, map: (key: string) => T): Promise<T[]> {
    if (limit <= 0) return [];
    return (await this.kv.keys({ ...range, limit })).map(map);
  }

  /** The repository record, written with anything that makes a repository exist. */
  private async ensureRepo(repo: string): Promise<KvOp[]> {
    if (await this.kv.get(keys.repo(repo))) return [];
    return [put(keys.repo(repo), json({ created: new Date().toISOString() }))];
  }

  async hasRepository(repo: string): Promise<boolean> {
    return (await this.kv.get(keys.repo(repo))) !== undefined;
  }

  listRepositories(page: PageRequest): Promise<string[]> {
    return this.collectKeys(keys.repos(page.last), page.limit, (key) => keys.repoOf(key));
  }

  async getBlobLink(repo: string, digest: Digest): Promise<number | undefined> {
    return (await this.getLink(repo, digest))?.size;
  }

  async getLink(repo: string, digest: Digest): Promise<BlobLink | undefined> {
    const value = await this.kv.get(keys.link(repo, digest));
    return value === undefined ? undefined : decodeLink(digest, value);
  }

  /** (Re)links with linkedAt = now, keeping the last touch. */
  private async linkOps(repo: string, digest: Digest, size: number): Promise<KvOp[]> {
    const previous = await this.getLink(repo, digest);
    return [
      ...(await this.ensureRepo(repo)),
      put(keys.link(repo, digest), encodeLink({ size, linkedAt: Date.now(), touchedAt: previous?.touchedAt ?? 0 })),
      put(keys.blobRepo(digest, repo), EMPTY),
    ];
  }

  async linkBlob(repo: string, digest: Digest, size: number, events?: readonly QueuedEvent[]): Promise<void> {
    await this.kv.batch([...(await this.linkOps(repo, digest, size)), ...(await this.outbox.ops(events))]);
  }

  async unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    if ((await this.kv.get(keys.link(repo, digest))) === undefined) return false;
    await this.kv.batch([del(keys.link(repo, digest)), del(keys.blobRepo(digest, repo))]);
    return true;
  }

  async findBlobRepository(digest: Digest, accept: (repo: string) => boolean = () => true): Promise<string | undefined> {
    const repos = await this.collectKeys(keys.blobRepos(digest), FIND_SCAN_LIMIT, (key) => keys.repoOfBlobRepoKey(key));
    return repos.find(accept);
  }

  async getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const value = await this.kv.get(keys.manifest(repo, digest));
    return value === undefined ? undefined : decodeManifest(digest, value);
  }

  async putManifest(repo: string, ...writes: ManifestWrite[]): Promise<void> {
    const ops = await this.ensureRepo(repo);
    const now = Date.now();
    for (const { record, tag, tagPushedAt, referrer, touch = [], events, variants, links = [] } of writes) {
      for (const link of links) ops.push(...(await this.linkOps(repo, link.digest, link.size)));
      ops.push(put(keys.manifest(repo, record.digest), encodeManifest({ ...record, pushedAt: now })));
      for (const digest of touch) {
        const link = await this.getLink(repo, digest);
        if (link !== undefined) ops.push(put(keys.link(repo, digest), encodeLink({ ...link, touchedAt: now })));
      }
      if (tag !== undefined) {
        ops.push(...(await this.tagOps(repo, tag, record.digest, tagPushedAt ?? now)));
        ops.push(...(await reindexTagOps(this.kv, repo, tag, { index: record.digest, variants: variants ?? [] })));
      }
      if (referrer !== undefined && record.subject !== undefined) {
        ops.push(put(keys.referrer(repo, record.subject, record.digest), json(referrer)));
      }
      ops.push(...(await this.outbox.ops(events)));
    }
    await this.kv.batch(ops);
  }

  async deleteManifest(repo: string, digest: Digest, events?: readonly QueuedEvent[]): Promise<string[] | undefined> {
    const record = await this.getManifest(repo, digest);
    if (record === undefined) return undefined;
    const ops: KvOp[] = [del(keys.manifest(repo, digest))];
    const tags: string[] = [];
    for (const key of await this.kv.keys(keys.tagRevs(repo, digest))) {
      const tag = keys.tagOf(key);
      ops.push(del(key));
      // The reverse entry may be stale; only remove a tag that still points here.
      if ((await this.getTag(repo, tag)) === digest) {
        ops.push(del(keys.tag(repo, tag)));
        ops.push(...(await reindexTagOps(this.kv, repo, tag)));
        tags.push(tag);
      }
    }
    ops.push(...(await dropManifestOps(this.kv, repo, digest)));
    if (record.subject !== undefined) ops.push(del(keys.referrer(repo, record.subject, digest)));
    ops.push(...(await this.outbox.ops(events)));
    await this.kv.batch(ops);
    return tags;
  }

  async getTag(repo: string, tag: string): Promise<Digest | undefined> {
    return (await this.getTagRecord(repo, tag))?.digest;
  }

  listTags(repo: string, page: PageRequest): Promise<string[]> {
    return this.collectKeys(keys.tags(repo, page.last), page.limit, (key) => keys.tagOf(key));
  }

  async deleteTag(repo: string, tag: string, events?: readonly QueuedEvent[]): Promise<Digest | undefined> {
    const digest = await this.getTag(repo, tag);
    if (digest === undefined) return undefined;
    await this.kv.batch([
      del(keys.tag(repo, tag)),
      del(keys.tagRev(repo, digest, tag)),
      ...(await reindexTagOps(this.kv, repo, tag)),
      ...(await this.outbox.ops(events)),
    ]);
    return digest;
  }

  listReferrers(repo: string, subject: Digest, page: PageRequest): Promise<Descriptor[]> {
    return this.collect(
      keys.referrers(repo, subject, page.last),
      page.limit,
      (_key, value) => JSON.parse(value.toString()) as Descriptor,
    );
  }

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const value = await this.kv.get(keys.upload(id));
    return value === undefined ? undefined : decodeUpload(value, id);
  }

  /** Not durable: a session lost to a power cut only makes its client start the upload again. */
  async putUpload(session: UploadSession): Promise<void> {
    // Offset, hash state and area state in one record: they advance together.
    await this.kv.batch([put(keys.upload(session.id), encodeUpload(session))], { durable: false });
  }

  async deleteUpload(id: string): Promise<void> {
    await this.kv.batch([del(keys.upload(id))]);
  }

  async listUploads(): Promise<UploadSession[]> {
    return this.collect(keys.uploads(), Infinity, (_key, value) => decodeUpload(value));
  }

  async completeUpload(id: string, repo: string, digest: Digest, size: number): Promise<void> {
    await this.kv.batch([del(keys.upload(id)), ...(await this.linkOps(repo, digest, size))]);
  }

  /** The tag (with its push time) and its reverse entry; a moved tag loses its old reverse entry. */
  private async tagOps(repo: string, tag: string, digest: Digest, pushedAt: number): Promise<KvOp[]> {
    const ops: KvOp[] = [];
    const previous = await this.getTag(repo, tag);
    if (previous !== undefined && previous !== digest) ops.push(del(keys.tagRev(repo, previous, tag)));
    ops.push(put(keys.tag(repo, tag), encodeTag({ digest, pushedAt })), put(keys.tagRev(repo, digest, tag), EMPTY));
    return ops;
  }

  async getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined> {
    const value = await this.kv.get(keys.tag(repo, tag));
    return value === undefined ? undefined : { tag, ...decodeTag(value) };
  }

  listTagRecords(repo: string, page: PageRequest): Promise<TagRecord[]> {
    return this.collect(keys.tags(repo, page.last), page.limit, (key, value) => ({ tag: keys.tagOf(key), ...decodeTag(value) }));
  }

  async markTagPulled(repo: string, tag: string, digest: Digest, at: number): Promise<boolean> {
    const current = await this.getTagRecord(repo, tag);
    if (current === undefined || current.digest !== digest) return false;
    await this.kv.batch([put(keys.tag(repo, tag), encodeTag({ digest, pushedAt: current.pushedAt, pulledAt: at }))]);
    return true;
  }

  async tagsOf(repo: string, digest: Digest): Promise<string[]> {
    const tags: string[] = [];
    for (const key of await this.kv.keys(keys.tagRevs(repo, digest))) {
      const tag = keys.tagOf(key);
      // The reverse entry may be stale; only a tag that still points here counts.
      if ((await this.getTag(repo, tag)) === digest) tags.push(tag);
    }
    return tags;
  }

  listBlobLinks(repo: string, page: PageRequest): Promise<SizedDigest[]> {
    return this.collect(keys.links(repo, page.last), page.limit, (key, value) => ({
      digest: keys.parse(key).fields.at(-1) as Digest,
      size: decodeLinkSize(value) ?? 0,
    }));
  }

  listManifestSizes(repo: string, page: PageRequest): Promise<SizedDigest[]> {
    return this.collect(keys.manifests(repo, page.last), page.limit, (key, value) => {
      const digest = keys.parse(key).fields.at(-1) as Digest;
      let size = 0;
      try {
        size = decodeManifest(digest, value).bytes.length;
      } catch {
        // An unreadable record holds no manifest anyone can pull: it counts nothing (verify reports it).
      }
      return { digest, size };
    });
  }

  listAllRecords(page: PageRequest): Promise<MetadataEntry[]> {
    return this.collect(keys.all(page.last), page.limit, decodeEntry);
  }

  async deleteRecords(recordKeys: readonly string[]): Promise<void> {
    await this.kv.batch(recordKeys.map(del));
  }

  listLinks(repo: string, page: PageRequest): Promise<BlobLink[]> {
    return this.collect(keys.links(repo, page.last), page.limit, (key, value) => decodeLink(keys.digestOf(key) as Digest, value));
  }

  listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]> {
    return this.collectKeys(keys.blobRepos(digest, page.last), page.limit, (key) => keys.repoOfBlobRepoKey(key));
  }

  listManifests(repo: string, page: PageRequest): Promise<ManifestRecord[]> {
    return this.collect(keys.manifests(repo, page.last), page.limit, (key, value) =>
      decodeManifest(keys.digestOf(key) as Digest, value),
    );
  }

  async unlinkBlobsIfIdle(repo: string, digests: readonly Digest[], cutoff: number): Promise<Digest[]> {
    const links = await Promise.all(digests.map((d) => this.getLink(repo, d)));
    const idle = links.filter((l): l is BlobLink => l !== undefined && l.linkedAt < cutoff && l.touchedAt < cutoff);
    await this.kv.batch(idle.flatMap((l) => [del(keys.link(repo, l.digest)), del(keys.blobRepo(l.digest, repo))]), { durable: false });
    return idle.map((l) => l.digest);
  }

  async deleteUntaggedManifest(repo: string, digest: Digest, cutoff: number): Promise<boolean> {
    const record = await this.getManifest(repo, digest);
    if (record === undefined || (record.pushedAt ?? 0) >= cutoff) return false;
    const ops: KvOp[] = [del(keys.manifest(repo, digest))];
    for (const key of await this.kv.keys(keys.tagRevs(repo, digest))) {
      if ((await this.getTag(repo, keys.tagOf(key))) === digest) return false;
      ops.push(del(key)); // stale reverse entry of a tag that moved on
    }
    ops.push(...(await dropManifestOps(this.kv, repo, digest)));
    if (record.subject !== undefined) ops.push(del(keys.referrer(repo, record.subject, digest)));
    await this.kv.batch(ops, { durable: false });
    return true;
  }

  async indexTag(repo: string, tag: string, index: Digest, variants: readonly IndexedVariant[]): Promise<boolean> {
    if ((await this.getTag(repo, tag)) !== index) return false;
    await this.kv.batch(await reindexTagOps(this.kv, repo, tag, { index, variants }));
    return true;
  }

  async listIndexedFeatures(page: PageRequest, prefix = ''): Promise<string[]> {
    const found: string[] = [];
    // The range is exclusive at its start: a feature equal to the prefix is looked up on its own.
    if (prefix !== '' && page.last === undefined && (await this.kv.get(keys.feature(prefix))) !== undefined) found.push(prefix);
    const rest = await this.collectKeys(keys.features(prefix, page.last), page.limit - found.length, (key) => key.slice(2));
    return [...found, ...rest];
  }

  listFeatureVariants(feature: string, limit: number, after?: VariantKey): Promise<FeaturePosting[]> {
    return this.collect(keys.postings(feature, after), limit, (key, value) => {
      const [, repo = '', tag = '', digest = ''] = keys.parse(key).fields;
      return decodePosting(feature, repo, tag, digest as Digest, value);
    });
  }

  listIndexedVariants(limit: number, after?: VariantKey): Promise<IndexedVariantRecord[]> {
    return this.collect(keys.variantsAfter(after), limit, (key, value) => {
      const [repo = '', tag = '', digest = ''] = keys.parse(key).fields;
      return decodeVariant(repo, tag, digest as Digest, value);
    });
  }

  async getIndexedVariant(key: VariantKey): Promise<IndexedVariantRecord | undefined> {
    const value = await this.kv.get(keys.variant(key.repo, key.tag, key.digest));
    return value === undefined ? undefined : decodeVariant(key.repo, key.tag, key.digest, value);
  }

  async indexBuilt(): Promise<boolean> {
    return (await this.kv.get(keys.indexMarker())) !== undefined;
  }

  async markIndexBuilt(built: boolean): Promise<void> {
    await this.kv.batch([built ? put(keys.indexMarker(), json({ at: Date.now() })) : del(keys.indexMarker())]);
  }

  /** A durable batch syncs the log, and with it every earlier non-durable batch. */
  async flush(): Promise<void> {
    await this.kv.batch([put(keys.flushMarker(), json({ at: Date.now() }))]);
  }

  async enqueueEvents(events: readonly QueuedEvent[]): Promise<void> {
    const ops = await this.outbox.ops(events);
    if (ops.length > 0) await this.kv.batch(ops);
  }

  listPendingEvents(endpoint: string, page: PageRequest): Promise<PendingEvent[]> {
    return this.outbox.listPending(endpoint, page);
  }

  async deleteEvents(eventKeys: readonly string[]): Promise<void> {
    const ops = eventKeys.filter((key) => keys.isPendingEvent(key)).map(del);
    if (ops.length > 0) await this.kv.batch(ops);
  }

  async deadLetterEvent(key: string, failure: { attempts: number; lastError: string }): Promise<boolean> {
    const ops = await this.outbox.deadLetterOps(key, failure);
    if (ops === undefined) return false;
    await this.kv.batch(ops);
    return true;
  }

  listDeadEvents(page: PageRequest): Promise<DeadEvent[]> {
    return this.outbox.listDead(page);
  }

  async replayDeadEvents(deadKeys: readonly string[]): Promise<number> {
    const ops = await this.outbox.replayOps(deadKeys);
    if (ops.length === 0) return 0;
    await this.kv.batch(ops);
    return ops.filter((op) => op.type === 'del').length;
  }

  listEventQueues(): Promise<string[]> {
    return this.outbox.queues();
  }

  async dropEventQueue(endpoint: string, limit: number): Promise<{ pending: number; dead: number }> {
    const found = await this.outbox.queueKeys(endpoint, limit);
    if (found.length > 0) await this.kv.batch(found.map(del));
    const pending = found.filter((key) => keys.isPendingEvent(key)).length;
    return { pending, dead: found.length - pending };
  }

  async enqueueBootJobs(jobs: readonly { repo: string; manifest: Digest }[]): Promise<void> {
    const ops = await this.boots.enqueueOps(jobs);
    if (ops.length > 0) await this.kv.batch(ops);
  }

  listBootJobs(page: PageRequest): Promise<BootJob[]> {
    return this.boots.list(page);
  }

  async startBootJob(key: string): Promise<BootJob | undefined> {
    const started = await this.boots.startOps(key);
    if (started === undefined) return undefined;
    await this.kv.batch(started.ops);
    return started.job;
  }

  async deleteBootJob(key: string): Promise<void> {
    if (keys.isBootJob(key)) await this.kv.batch([del(key)]);
  }
}
