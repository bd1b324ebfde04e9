/**
 * A MetadataStore whose calls made while serving a request are child spans of
 * its server span (`metadata.<method>`, with the repository, digest, tag or
 * upload id they concern). Implementing the interface by hand keeps the
 * compiler checking that every method is wrapped when the interface grows.
 */
import type { Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../oci/digest.js';
import type {
  BlobLink,
  FeaturePosting,
  IndexedVariant,
  IndexedVariantRecord,
  VariantKey,
  BootJob,
  ManifestRecord,
  ManifestWrite,
  MetadataEntry,
  MetadataStore,
  PageRequest,
  PendingEvent,
  QueuedEvent,
  DeadEvent,
  SizedDigest,
  TagRecord,
  UploadSession,
} from '../storage/types.js';
import { ATTR_DIGEST, ATTR_REPOSITORY, ATTR_TAG, ATTR_UPLOAD_ID } from './attributes.js';
import type { StoreSpans } from './store-spans.js';

const repo = (name: string) => ({ [ATTR_REPOSITORY]: name });
const repoDigest = (name: string, digest: Digest) => ({ [ATTR_REPOSITORY]: name, [ATTR_DIGEST]: digest });
const repoTag = (name: string, tag: string) => ({ [ATTR_REPOSITORY]: name, [ATTR_TAG]: tag });

export class TracedMetadataStore implements MetadataStore {
  constructor(
    private readonly inner: MetadataStore,
    private readonly spans: StoreSpans,
  ) {}

  open(): Promise<void> {
    return this.inner.open();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  release(): Promise<void> {
    return this.inner.release();
  }

  hasRepository(name: string): Promise<boolean> {
    return this.spans.within('metadata.hasRepository', repo(name), () => this.inner.hasRepository(name));
  }

  listRepositories(page: PageRequest): Promise<string[]> {
    return this.spans.within('metadata.listRepositories', {}, () => this.inner.listRepositories(page));
  }

  getBlobLink(name: string, digest: Digest): Promise<number | undefined> {
    return this.spans.within('metadata.getBlobLink', repoDigest(name, digest), () => this.inner.getBlobLink(name, digest));
  }

  linkBlob(name: string, digest: Digest, size: number, events?: readonly QueuedEvent[]): Promise<void> {
    return this.spans.within('metadata.linkBlob', repoDigest(name, digest), () => this.inner.linkBlob(name, digest, size, events));
  }

  unlinkBlob(name: string, digest: Digest): Promise<boolean> {
    return this.spans.within('metadata.unlinkBlob', repoDigest(name, digest), () => this.inner.unlinkBlob(name, digest));
  }

  findBlobRepository(digest: Digest, accept?: (name: string) => boolean): Promise<string | undefined> {
    return this.spans.within('metadata.findBlobRepository', { [ATTR_DIGEST]: digest }, () => this.inner.findBlobRepository(digest, accept));
  }

  getManifest(name: string, digest: Digest): Promise<ManifestRecord | undefined> {
    return this.spans.within('metadata.getManifest', repoDigest(name, digest), () => this.inner.getManifest(name, digest));
  }

  putManifest(name: string, ...writes: ManifestWrite[]): Promise<void> {
    const first = writes[0];
    const attributes = { ...repo(name), ...(first ? { [ATTR_DIGEST]: first.record.digest } : {}), ...(first?.tag ? { [ATTR_TAG]: first.tag } : {}) };
    return this.spans.within('metadata.putManifest', attributes, () => this.inner.putManifest(name, ...writes));
  }

  deleteManifest(name: string, digest: Digest, events?: readonly QueuedEvent[]): Promise<string[] | undefined> {
    return this.spans.within('metadata.deleteManifest', repoDigest(name, digest), () => this.inner.deleteManifest(name, digest, events));
  }

  getTag(name: string, tag: string): Promise<Digest | undefined> {
    return this.spans.within('metadata.getTag', repoTag(name, tag), () => this.inner.getTag(name, tag));
  }

  listTags(name: string, page: PageRequest): Promise<string[]> {
    return this.spans.within('metadata.listTags', repo(name), () => this.inner.listTags(name, page));
  }

  deleteTag(name: string, tag: string, events?: readonly QueuedEvent[]): Promise<Digest | undefined> {
    return this.spans.within('metadata.deleteTag', repoTag(name, tag), () => this.inner.deleteTag(name, tag, events));
  }

  listReferrers(name: string, subject: Digest, page: PageRequest): Promise<Descriptor[]> {
    return this.spans.within('metadata.listReferrers', repoDigest(name, subject), () => this.inner.listReferrers(name, subject, page));
  }

  getUpload(id: string): Promise<UploadSession | undefined> {
    return this.spans.within('metadata.getUpload', { [ATTR_UPLOAD_ID]: id }, () => this.inner.getUpload(id));
  }

  putUpload(session: UploadSession): Promise<void> {
    return this.spans.within('metadata.putUpload', { ...repo(session.repo), [ATTR_UPLOAD_ID]: session.id }, () => this.inner.putUpload(session));
  }

  deleteUpload(id: string): Promise<void> {
    return this.spans.within('metadata.deleteUpload', { [ATTR_UPLOAD_ID]: id }, () => this.inner.deleteUpload(id));
  }

  listUploads(): Promise<UploadSession[]> {
    return this.spans.within('metadata.listUploads', {}, () => this.inner.listUploads());
  }

  completeUpload(id: string, name: string, digest: Digest, size: number): Promise<void> {
    const attributes = { ...repoDigest(name, digest), [ATTR_UPLOAD_ID]: id };
    return this.spans.within('metadata.completeUpload', attributes, () => this.inner.completeUpload(id, name, digest, size));
  }

  getTagRecord(name: string, tag: string): Promise<TagRecord | undefined> {
    return this.spans.within('metadata.getTagRecord', repoTag(name, tag), () => this.inner.getTagRecord(name, tag));
  }

  listTagRecords(name: string, page: PageRequest): Promise<TagRecord[]> {
    return this.spans.within('metadata.listTagRecords', repo(name), () => this.inner.listTagRecords(name, page));
  }

  markTagPulled(name: string, tag: string, digest: Digest, at: number): Promise<boolean> {
    return this.spans.within('metadata.markTagPulled', repoTag(name, tag), () => this.inner.markTagPulled(name, tag, digest, at));
  }

  tagsOf(name: string, digest: Digest): Promise<string[]> {
    return this.spans.within('metadata.tagsOf', repoDigest(name, digest), () => this.inner.tagsOf(name, digest));
  }

  listBlobLinks(name: string, page: PageRequest): Promise<SizedDigest[]> {
    return this.spans.within('metadata.listBlobLinks', repo(name), () => this.inner.listBlobLinks(name, page));
  }

  listManifestSizes(name: string, page: PageRequest): Promise<SizedDigest[]> {
    return this.spans.within('metadata.listManifestSizes', repo(name), () => this.inner.listManifestSizes(name, page));
  }

  listAllRecords(page: PageRequest): Promise<MetadataEntry[]> {
    return this.spans.within('metadata.listAllRecords', {}, () => this.inner.listAllRecords(page));
  }

  deleteRecords(keys: readonly string[]): Promise<void> {
    return this.spans.within('metadata.deleteRecords', {}, () => this.inner.deleteRecords(keys));
  }

  getLink(name: string, digest: Digest): Promise<BlobLink | undefined> {
    return this.spans.within('metadata.getLink', repoDigest(name, digest), () => this.inner.getLink(name, digest));
  }

  listLinks(name: string, page: PageRequest): Promise<BlobLink[]> {
    return this.spans.within('metadata.listLinks', repo(name), () => this.inner.listLinks(name, page));
  }

  listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]> {
    return this.spans.within('metadata.listBlobRepositories', { [ATTR_DIGEST]: digest }, () => this.inner.listBlobRepositories(digest, page));
  }

  listManifests(name: string, page: PageRequest): Promise<ManifestRecord[]> {
    return this.spans.within('metadata.listManifests', repo(name), () => this.inner.listManifests(name, page));
  }

  unlinkBlobsIfIdle(name: string, digests: readonly Digest[], cutoff: number): Promise<Digest[]> {
    return this.spans.within('metadata.unlinkBlobsIfIdle', repo(name), () => this.inner.unlinkBlobsIfIdle(name, digests, cutoff));
  }

  deleteUntaggedManifest(name: string, digest: Digest, cutoff: number): Promise<boolean> {
    return this.spans.within('metadata.deleteUntaggedManifest', repoDigest(name, digest), () => this.inner.deleteUntaggedManifest(name, digest, cutoff));
  }

  flush(): Promise<void> {
    return this.spans.within('metadata.flush', {}, () => this.inner.flush());
  }

  // The webhook outbox: worker traffic outside requests, so these make spans only inside one.

  enqueueEvents(events: readonly QueuedEvent[]): Promise<void> {
    return this.spans.within('metadata.enqueueEvents', {}, () => this.inner.enqueueEvents(events));
  }

  listPendingEvents(endpoint: string, page: PageRequest): Promise<PendingEvent[]> {
    return this.spans.within('metadata.listPendingEvents', {}, () => this.inner.listPendingEvents(endpoint, page));
  }

  deleteEvents(eventKeys: readonly string[]): Promise<void> {
    return this.spans.within('metadata.deleteEvents', {}, () => this.inner.deleteEvents(eventKeys));
  }

  deadLetterEvent(key: string, failure: { attempts: number; lastError: string }): Promise<boolean> {
    return this.spans.within('metadata.deadLetterEvent', {}, () => this.inner.deadLetterEvent(key, failure));
  }

  listDeadEvents(page: PageRequest): Promise<DeadEvent[]> {
    return this.spans.within('metadata.listDeadEvents', {}, () => this.inner.listDeadEvents(page));
  }

  replayDeadEvents(eventKeys: readonly string[]): Promise<number> {
    return this.spans.within('metadata.replayDeadEvents', {}, () => this.inner.replayDeadEvents(eventKeys));
  }

  indexTag(name: string, tag: string, index: Digest, variants: readonly IndexedVariant[]): Promise<boolean> {
    return this.spans.within('metadata.indexTag', repoTag(name, tag), () => this.inner.indexTag(name, tag, index, variants));
  }

  listIndexedFeatures(page: PageRequest, prefix?: string): Promise<string[]> {
    return this.spans.within('metadata.listIndexedFeatures', {}, () => this.inner.listIndexedFeatures(page, prefix));
  }

  listFeatureVariants(feature: string, limit: number, after?: VariantKey): Promise<FeaturePosting[]> {
    return this.spans.within('metadata.listFeatureVariants', {}, () => this.inner.listFeatureVariants(feature, limit, after));
  }

  listIndexedVariants(limit: number, after?: VariantKey): Promise<IndexedVariantRecord[]> {
    return this.spans.within('metadata.listIndexedVariants', {}, () => this.inner.listIndexedVariants(limit, after));
  }

  getIndexedVariant(key: VariantKey): Promise<IndexedVariantRecord | undefined> {
    return this.spans.within('metadata.getIndexedVariant', repoTag(key.repo, key.tag), () => this.inner.getIndexedVariant(key));
  }

  indexBuilt(): Promise<boolean> {
    return this.spans.within('metadata.indexBuilt', {}, () => this.inner.indexBuilt());
  }

  markIndexBuilt(built: boolean): Promise<void> {
    return this.spans.within('metadata.markIndexBuilt', {}, () => this.inner.markIndexBuilt(built));
  }

  listEventQueues(): Promise<string[]> {
    return this.spans.within('metadata.listEventQueues', {}, () => this.inner.listEventQueues());
  }

  dropEventQueue(endpoint: string, limit: number): Promise<{ pending: number; dead: number }> {
    return this.spans.within('metadata.dropEventQueue', {}, () => this.inner.dropEventQueue(endpoint, limit));
  }

  enqueueBootJobs(jobs: readonly { repo: string; manifest: Digest }[]): Promise<void> {
    return this.spans.within('metadata.enqueueBootJobs', {}, () => this.inner.enqueueBootJobs(jobs));
  }

  listBootJobs(page: PageRequest): Promise<BootJob[]> {
    return this.spans.within('metadata.listBootJobs', {}, () => this.inner.listBootJobs(page));
  }

  startBootJob(key: string): Promise<BootJob | undefined> {
    return this.spans.within('metadata.startBootJob', {}, () => this.inner.startBootJob(key));
  }

  deleteBootJob(key: string): Promise<void> {
    return this.spans.within('metadata.deleteBootJob', {}, () => this.inner.deleteBootJob(key));
  }
}
