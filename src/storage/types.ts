/** The storage roles the registry layer is written against. */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  /** The exact bytes that were pushed. */
  bytes: Buffer;
  /** The `subject` digest, when the manifest is a referrer. */
  subject?: Digest;
  /** When it was last put (ms since the epoch), set by the store; 0 for records older than the field. */
  pushedAt?: number;
}

/** A blob linked to a repository, with the times GC's grace period looks at. */
export interface BlobLink {
  digest: Digest;
  size: number;
  /** When the link was last written (upload commit, mount): ms since the epoch; 0 for links older than the field. */
  linkedAt: number;
  /** When a manifest PUT that references the blob last checked it (ms since the epoch; 0 if never). */
  touchedAt: number;
}

export interface UploadSession {
  id: string;
  repo: string;
  /** Bytes durably received so far. */
  offset: number;
  startedAt: number;
  updatedAt: number;
  /**
   * The running sha256 at `offset`, serialised (hash-wasm's save(), base64), when uploads
   * persist their hash (S3 or shared metadata: any process can take the next chunk).
   */
  hashState?: string;
  /** The upload area's own state at `offset`, opaque to everyone else (S3: UploadId, parts, tail). */
  areaState?: string;
}

export interface PageRequest {
  /** Exclusive: listing starts after this entry. */
  last?: string;
  limit: number;
}

export interface ManifestWrite {
  record: ManifestRecord;
  tag?: string;
  /** When `tag` was pushed, in ms since the epoch (default: now). */
  tagPushedAt?: number;
  /** How the manifest is listed under its subject's referrers. */
  referrer?: Descriptor;
  /** Links of the repository to mark as touched (`touchedAt` = now) in the same batch: the blobs it references. */
  touch?: Digest[];
  /** Webhook events describing this write, queued in the same batch. */
  events?: readonly QueuedEvent[];
  /**
   * With `tag`: the unikernel variants the tag holds once written, for the kconfig search
   * index (replacing the tag's entries in the same batch); absent: the tag holds none.
   */
  variants?: readonly IndexedVariant[];
  /** Blobs the registry holds to link into the repository in the same batch (a base shared across repositories). */
  links?: readonly SizedDigest[];
}

/** One unikernel variant a tag holds, as the kconfig search index keeps it. */
export interface IndexedVariant {
  /** The variant's image manifest. */
  digest: Digest;
  architecture: string;
  os: string;
  version?: string;
  /** os.features, as the tag's index lists them. */
  features: string[];
  /** Bytes of the kernel layer blob. */
  kernelSize?: number;
  /** Bytes of the variant: manifest, config blob and every layer. */
  imageSize: number;
}

/** An indexed variant with where it was found: `index` is what the tag pointed at when it was indexed. */
export interface IndexedVariantRecord extends IndexedVariant {
  repo: string;
  tag: string;
  index: Digest;
}

/** A feature's posting: the variant (without its feature list) and the one feature it is listed under. */
export interface FeaturePosting extends Omit<IndexedVariantRecord, 'features'> {
  feature: string;
}

/** A variant's place in the search index, in the order postings are listed (repository, tag, manifest digest). */
export interface VariantKey {
  repo: string;
  tag: string;
  digest: Digest;
}

/** A webhook event to queue for one endpoint (src/webhooks/): the exact body that will be POSTed. */
export interface QueuedEvent {
  /** The endpoint's id (src/webhooks/endpoints.ts). */
  endpoint: string;
  /** The repository it is about; '' for registry-wide events. Events of one repository are delivered in queue order. */
  repo: string;
  body: Buffer;
}

/** An event waiting for delivery; `key` is opaque (paging, deletion). */
export interface PendingEvent {
  key: string;
  endpoint: string;
  repo: string;
  body: Buffer;
}

/** An event that failed every attempt, kept until it is replayed. */
export interface DeadEvent extends PendingEvent {
  attempts: number;
  lastError: string;
  /** When it was given up on (ms since the epoch). */
  deadAt: number;
}

/** A variant manifest waiting for its boot check (src/unikernel/boot/); `key` is opaque (paging, deletion). */
export interface BootJob {
  key: string;
  repo: string;
  /** The variant's image manifest. */
  manifest: Digest;
  /** When it was queued (ms since the epoch). */
  enqueuedAt: number;
  /** How many boots of it were started; one more than finished means a boot was cut short (a restart). */
  attempts: number;
}

/** A tag, what it points at, and when it was last pushed. */
export interface TagRecord {
  tag: string;
  digest: Digest;
  /** ms since the epoch of the last push to the tag; 0 for tags written before push times were recorded. */
  pushedAt: number;
  /** ms since the epoch of the last recorded pull (pull-through cache repositories, src/proxy/); absent: none recorded. */
  pulledAt?: number;
}

/**
 * Repository metadata: what each repository holds. Every mutating method is
 * one atomic batch. Callers serialise writes to one repository (the registry
 * layer holds a per-repository lock), since tag moves read before they write.
 */
export interface MetadataStore {
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Called after a read of the whole store (GC, a quota recount): lets go of the memory the read
   * left in the process (LevelDB: the table files it mapped, src/storage/level/level-kv.ts). Never fails.
   */
  release(): Promise<void>;

  hasRepository(repo: string): Promise<boolean>;
  listRepositories(page: PageRequest): Promise<string[]>;

  /** Size of the blob if it is linked to the repository. */
  getBlobLink(repo: string, digest: Digest): Promise<number | undefined>;
  linkBlob(repo: string, digest: Digest, size: number, events?: readonly QueuedEvent[]): Promise<void>;
  /** False when the blob was not linked. */
  unlinkBlob(repo: string, digest: Digest): Promise<boolean>;
  /** Some repository that links the blob and passes `accept`, if any. */
  findBlobRepository(digest: Digest, accept?: (repo: string) => boolean): Promise<string | undefined>;

  getManifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined>;
  /** Stores manifests (and their tags and referrer entries) in one batch. */
  putManifest(repo: string, ...writes: ManifestWrite[]): Promise<void>;
  /** Removes the manifest, every tag pointing at it and its referrer entry; the removed tags. */
  deleteManifest(repo: string, digest: Digest, events?: readonly QueuedEvent[]): Promise<string[] | undefined>;

  getTag(repo: string, tag: string): Promise<Digest | undefined>;
  listTags(repo: string, page: PageRequest): Promise<string[]>;
  /** The digest the tag pointed at, or undefined when there was no such tag. */
  deleteTag(repo: string, tag: string, events?: readonly QueuedEvent[]): Promise<Digest | undefined>;

  /** Referrers of `subject`, ordered by referrer digest. */
  listReferrers(repo: string, subject: Digest, page: PageRequest): Promise<Descriptor[]>;

  getUpload(id: string): Promise<UploadSession | undefined>;
  putUpload(session: UploadSession): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  listUploads(): Promise<UploadSession[]>;
  /** Atomically ends an upload session and links its blob. */
  completeUpload(id: string, repo: string, digest: Digest, size: number): Promise<void>;

  /** The tag with its digest and push time. */
  getTagRecord(repo: string, tag: string): Promise<TagRecord | undefined>;
  /** The repository's tags with digest and push time, in tag byte order, paged like listTags. */
  listTagRecords(repo: string, page: PageRequest): Promise<TagRecord[]>;
  /** The tags of the repository that point at `digest`, in byte order. */
  tagsOf(repo: string, digest: Digest): Promise<string[]>;
  /** Records a pull of the tag at `at` if it still points at `digest` (push time unchanged); false otherwise. */
  markTagPulled(repo: string, tag: string, digest: Digest, at: number): Promise<boolean>;
  /** The blob links of one repository with their sizes, ordered by digest; `last` is a digest (quotas, verify). */
  listBlobLinks(repo: string, page: PageRequest): Promise<SizedDigest[]>;
  /** The digests and byte lengths of one repository's manifests, ordered by digest; `last` is a digest (quotas). */
  listManifestSizes(repo: string, page: PageRequest): Promise<SizedDigest[]>;
  /**
   * Every record of the store in key order, decoded, or `unreadable` with the reason
   * (offline verification); `last` is an entry's `key`.
   */
  listAllRecords(page: PageRequest): Promise<MetadataEntry[]>;
  /** Deletes records by the `key` listAllRecords gave them (verify --repair of unreadable or dangling records). */
  deleteRecords(keys: readonly string[]): Promise<void>;
  // Enumeration and conditional removal for garbage collection (src/gc/). Pages keep memory flat.

  /** The link with its times, if the repository links the blob. */
  getLink(repo: string, digest: Digest): Promise<BlobLink | undefined>;
  /** Links of a repository ordered by digest; `last` is a digest. */
  listLinks(repo: string, page: PageRequest): Promise<BlobLink[]>;
  /** Repositories that link the blob, in name order; `last` is a repository name. */
  listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]>;
  /** Manifests of a repository (with bytes and pushedAt) ordered by digest; `last` is a digest. */
  listManifests(repo: string, page: PageRequest): Promise<ManifestRecord[]>;
  /**
   * Unlinks, in one batch, each of the blobs whose linkedAt and touchedAt are both
   * before `cutoff` (ms since the epoch); returns those it unlinked. Survives a
   * process crash but not a power cut until flush(): call it before removing files.
   */
  unlinkBlobsIfIdle(repo: string, digests: readonly Digest[], cutoff: number): Promise<Digest[]>;
  /**
   * Deletes the manifest (and its referrer entry) only if no tag points at it and
   * it was pushed before `cutoff`. True when it was deleted. Durable like unlinkBlobsIfIdle.
   */
  deleteUntaggedManifest(repo: string, digest: Digest, cutoff: number): Promise<boolean>;
  /** Makes every earlier write durable (one sync instead of one per GC removal). */
  flush(): Promise<void>;

  // The webhook outbox (src/webhooks/). Mutating methods above queue events in their own batch
  // (`events`: only if the change happens); these enqueue on their own, list and settle them.

  /** Queues events in a batch of their own (results of GC and retention runs). */
  enqueueEvents(events: readonly QueuedEvent[]): Promise<void>;
  /** One endpoint's pending events in queue order; `last` is an event's `key`. */
  listPendingEvents(endpoint: string, page: PageRequest): Promise<PendingEvent[]>;
  /** Removes delivered events, durably. */
  deleteEvents(keys: readonly string[]): Promise<void>;
  /** Moves a pending event to the dead-letter list (one batch); false when it was no longer pending. */
  deadLetterEvent(key: string, failure: { attempts: number; lastError: string }): Promise<boolean>;
  // The kconfig search index (written with the tag changes above; src/unikernel/search-index.ts reads it).

  /** Replaces the tag's index entries if the tag still points at `index` (the start-up backfill); false otherwise. */
  indexTag(repo: string, tag: string, index: Digest, variants: readonly IndexedVariant[]): Promise<boolean>;
  /** Distinct indexed feature strings starting with `prefix` (default: all), in byte order; `last` is a feature. */
  listIndexedFeatures(page: PageRequest, prefix?: string): Promise<string[]>;
  /** The variants listing `feature`, by repository, tag, digest, starting after `after`. */
  listFeatureVariants(feature: string, limit: number, after?: VariantKey): Promise<FeaturePosting[]>;
  /** Every indexed variant starting after `after` (queries without kconfig terms). */
  listIndexedVariants(limit: number, after?: VariantKey): Promise<IndexedVariantRecord[]>;
  getIndexedVariant(key: VariantKey): Promise<IndexedVariantRecord | undefined>;
  /** Whether the start-up backfill has built the index (and the mark it leaves). */
  indexBuilt(): Promise<boolean>;
  markIndexBuilt(built: boolean): Promise<void>;

  /** Dead events of every endpoint, by endpoint then queue order; `last` is an event's `key`. */
  listDeadEvents(page: PageRequest): Promise<DeadEvent[]>;
  /** Moves dead events back to the end of their endpoints' queues (one batch); how many were moved. */
  replayDeadEvents(keys: readonly string[]): Promise<number>;
  /** The endpoint ids (queue ids) that have pending or dead events. */
  listEventQueues(): Promise<string[]>;
  /** Deletes up to `limit` of one endpoint's events, pending then dead, in one batch; how many of each. */
  dropEventQueue(endpoint: string, limit: number): Promise<{ pending: number; dead: number }>;

  // The boot-check queue (src/unikernel/boot/): durable, in queue order, one boot at a time.

  /** Queues boot checks of variant manifests, in their order, in one durable batch. */
  enqueueBootJobs(jobs: readonly { repo: string; manifest: Digest }[]): Promise<void>;
  /** The queued boot checks in queue order; `last` is a job's `key`. */
  listBootJobs(page: PageRequest): Promise<BootJob[]>;
  /** Counts one more started boot of the job (durably, before the boot); the updated job, undefined when gone. */
  startBootJob(key: string): Promise<BootJob | undefined>;
  /** Removes a finished job (durably). */
  deleteBootJob(key: string): Promise<void>;
}

export interface SizedDigest {
  digest: Digest;
  size: number;
}

/** One record of the metadata store as listAllRecords sees it; `key` is opaque (for paging and deleteRecords). */
export type MetadataEntry = { key: string } & (
  | { kind: 'repository'; repo: string }
  | { kind: 'link'; repo: string; digest: Digest; size: number }
  | { kind: 'reverseLink'; repo: string; digest: Digest }
  | { kind: 'manifest'; repo: string; record: ManifestRecord }
  | { kind: 'tag'; repo: string; tag: string; digest: Digest }
  | { kind: 'reverseTag'; repo: string; tag: string; digest: Digest }
  | { kind: 'referrer'; repo: string; subject: Digest; digest: Digest }
  | { kind: 'upload'; session: UploadSession }
  /** The kconfig search index: a tag's variant, a feature posting, the variant's reverse entry, a known feature. */
  | { kind: 'indexedVariant'; repo: string; tag: string; digest: Digest; index: Digest; features: string[] }
  | { kind: 'featurePosting'; feature: string; repo: string; tag: string; digest: Digest; index: Digest }
  | { kind: 'variantTag'; repo: string; digest: Digest; tag: string }
  | { kind: 'feature'; feature: string }
  /** A queued boot check of a variant manifest. */
  | { kind: 'bootJob'; repo: string; digest: Digest }
  /** A bookkeeping record of the store itself (the GC's durable-write marker). */
  | { kind: 'marker'; name: string }
  /** A record that cannot be decoded: `what` it claims to be, `reason` it fails, `record` its key shown readably. */
  | { kind: 'unreadable'; what: string; reason: string; record: string }
);

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** An open blob for positional reads into the caller's buffers (serving without per-chunk allocation). */
export interface BlobFile {
  /** Reads up to `length` bytes at `position` into `buffer`; 0 at the end. */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * The content-addressed blob directory. Content is immutable once ingested;
 * ingesting a digest that is already present keeps the existing file.
 */
export interface BlobStore {
  init(): Promise<void>;
  size(digest: Digest): Promise<number | undefined>;
  /** Opens the blob for reading; throws BlobUnknownError when absent. */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /** Opens the blob for positional reads; throws BlobUnknownError when absent. */
  open(digest: Digest): Promise<BlobFile>;
  /** Moves a verified, fsynced file into place under its digest (S3: uploads it). */
  ingest(file: string, digest: Digest): Promise<void>;
  remove(digest: Digest): Promise<void>;
  /** Size and modification time of the blob's file, or undefined when absent. */
  stat(digest: Digest): Promise<BlobFileInfo | undefined>;
  /** Every blob file, streamed from a walk of the content directory (order unspecified). */
  list(): AsyncIterable<BlobFileInfo>;
  /**
   * A temporary URL a client can fetch the blob's bytes from directly (S3 presigned GET,
   * when `storage.blobs.redirect` is on), or undefined: unireg serves the bytes itself.
   */
  presign?(digest: Digest): Promise<string | undefined>;
}

/** Called with the byte count once a body has ended, before it counts; throwing refuses the body. */
export type ByteCheck = (written: number) => void | Promise<void>;

/** What the area may use to place a staged body well. */
export interface StageHints {
  /** The content will be read right away: keep it where reads are cheap (the page cache). */
  readSoon?: boolean;
}

/** What bytes are fed to while they are stored (a running hash). */
export interface HashSink {
  /** May return a promise: then `data` must not change until it settles (a hash on another thread reads it). */
  update(data: Uint8Array): unknown;
}

export interface AppendResult {
  /** Bytes of the chunk now stored after the session's offset. */
  written: number;
  /** The area's state at the new offset, to persist with it (areaState). */
  areaState?: string;
  /**
   * Call once the session record with the new offset is stored: removes what only the
   * previous state referenced (S3: the previous tail object). Failures only leave garbage the sweep removes.
   */
  settled?: () => Promise<void>;
}

/** A body stored while its digest was computed, not yet in the content address. */
export interface StagedBlob {
  size: number;
  /** Makes the bytes the blob `digest` (verified by the caller); keeps an existing copy. */
  commit(digest: Digest): Promise<void>;
  /** Removes the staged bytes (after commit: whatever is left). Never throws. */
  discard(): Promise<void>;
}

/**
 * Where the bytes of upload sessions live until they become a blob: files under
 * uploads/ (fs) or multipart uploads under `<prefix>/_uploads/` (S3). The session
 * record (offset, hash and area state) is in the metadata store; the area keeps only
 * bytes, so any process can take a session's next chunk.
 */
export interface UploadArea {
  /** Creates what the area needs (directories); removes stale temp data of processes gone. */
  init(now?: number): Promise<void>;
  /** Creates the storage of a new session; its initial areaState. */
  create(id: string): Promise<string | undefined>;
  /**
   * Appends `body` at `session.offset`, feeding `hash` exactly the bytes appended, in order.
   * On any failure nothing past `session.offset` counts (fs: cut back; S3: parts the
   * session state does not list are unused) and the session stays usable.
   */
  append(
    session: UploadSession,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    hash: HashSink,
    check?: ByteCheck,
  ): Promise<AppendResult>;
  /** Whether read() works (fs: yes; S3: an unfinished multipart upload cannot be read). */
  readonly readable: boolean;
  /** The session's `offset` bytes (rebuilding a running hash); BlobUploadUnknownError when they are lost. */
  read(session: UploadSession): AsyncIterable<Buffer>;
  /** Moves the session's bytes into the content address under `digest` (verified by the caller). */
  commit(session: UploadSession, digest: Digest): Promise<void>;
  /** Removes the session's bytes. */
  abort(id: string, areaState?: string): Promise<void>;
  /** Removes data of sessions that no longer exist (`live` says which do), older than `minAgeMs`. */
  sweep(live: (id: string) => boolean, now: number, minAgeMs: number): Promise<void>;
  /**
   * Stores a body (monolithic uploads, pull-through fetches, server-built blobs). `check` runs once
   * the whole body is in and hashed, before the area makes it durable: the caller checks the size
   * and digest there.
   */
  stage(body: AsyncIterable<Buffer> | Iterable<Buffer>, hash: HashSink, check?: ByteCheck, hints?: StageHints): Promise<StagedBlob>;
}

export interface BlobFileInfo {
  digest: Digest;
  size: number;
  /** The file's mtime: when its content was ingested (ms since the epoch). */
  mtimeMs: number;
}
