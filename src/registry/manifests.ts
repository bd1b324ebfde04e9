/**
 * Manifest semantics: exact bytes in, exact bytes out; references checked
 * against the repository; tags, reverse tags and referrer entries written in
 * one batch under the repository's lock and the referenced blobs' locks.
 */
import { digestAlgorithm, digestOf, isDigestLike, parseDigest, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseManifest, referrerDescriptor, type ParsedManifest } from '../oci/manifest.js';
import { isForeignLayer } from '../oci/media-types.js';
import { isValidTag, parseTag } from '../oci/names.js';
import { ImmutableTags } from '../policy/immutable-tags.js';
import {
  DigestMismatchError,
  ManifestBlobUnknownError,
  ManifestUnknownError,
  TagImmutableError,
  UnsupportedError,
} from '../domain/errors.js';
import type { IndexedVariant, ManifestRecord, QueuedEvent, SizedDigest, TagRecord } from '../storage/types.js';
import { manifestDeleteEvents, manifestPushEvents, tagDeleteEvents } from '../webhooks/registry-events.js';
import type { RegistryDeps } from './deps.js';
import { blobKey } from './locks.js';

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/**
 * A reference from a URL. A malformed digest is DIGEST_INVALID; anything else
 * that is not a valid tag can never name a manifest, so it is simply unknown.
 */
export function parseReference(value: string): Reference {
  if (isDigestLike(value)) return { kind: 'digest', digest: parseDigest(value) };
  if (!isValidTag(value)) throw new ManifestUnknownError(value);
  return { kind: 'tag', tag: value };
}

export interface PutResult {
  digest: Digest;
  subject?: Digest;
  parsed: ParsedManifest;
  /** Set when the tag resolves to another manifest than the one pushed (a merged index). */
  tagDigest?: Digest;
}

export interface PutOptions {
  /** How a push combines with what the tag holds (unikernel content only). */
  strategy?: string;
  /** More webhook events to queue with the write, given the digest the tag then resolves to (a pack's). */
  events?: (tagTarget: Digest) => QueuedEvent[];
  /**
   * Repositories the caller may pull. A referenced blob the repository does not link, but
   * one of these does, is linked with the manifest (bases shared across repositories);
   * absent: only the repository's own blobs count.
   */
  acceptSource?: (repo: string) => boolean;
  /**
   * Pull-through cache content (src/proxy/): the bytes come from an upstream that holds what they
   * reference, fetched on demand, so references are not required to be in the repository yet;
   * a tag takes exactly the upstream's manifest (no unikernel variant merging).
   */
  cached?: boolean;
}

export interface TagMergeRequest {
  repo: string;
  tag: string;
  parsed: ParsedManifest;
  record: ManifestRecord;
  strategy?: string;
}

export interface TagResolution {
  /** The manifest the tag should point at instead of the one pushed. */
  record: ManifestRecord;
}

/** A manifest write that committed: what listeners (the boot checks) are told, after the lock is released. */
export interface CommittedManifest {
  repo: string;
  record: ManifestRecord;
  parsed: ParsedManifest;
  tag?: string;
}

/** Told of every committed manifest write; awaited (keep it short), its errors logged, never the push's. */
export type ManifestListener = (write: CommittedManifest) => Promise<void>;

/**
 * A TagMerger may decide that a push by tag makes the tag point at another
 * manifest (unikernel variant merging). Called under the repository lock;
 * undefined keeps standard OCI semantics.
 */
export interface TagMerger {
  resolve(request: TagMergeRequest): Promise<TagResolution | undefined>;
  /**
   * The unikernel variants a manifest holds (for the kconfig search index and size
   * budgets), looking children up in `pending` (written in the same batch) before the
   * store; undefined when it holds none.
   */
  variantsOf?(repo: string, record: ManifestRecord, pending?: readonly ManifestRecord[]): Promise<IndexedVariant[] | undefined>;
  /** Throws a domain error when a variant is over the repository's size budget. */
  checkBudget?(repo: string, variants: readonly IndexedVariant[]): void;
}

export class ManifestService {
  /** The `immutableTags` rules, enforced on every push, merge and delete. */
  readonly immutable: ImmutableTags;
  private readonly listeners: ManifestListener[] = [];

  constructor(
    private readonly deps: RegistryDeps,
    private readonly merger?: TagMerger,
  ) {
    this.immutable = new ImmutableTags(deps.config.immutableTags);
  }

  /** Adds a listener told of each committed manifest write (the composition root wires the boot checks). */
  onCommitted(listener: ManifestListener): void {
    this.listeners.push(listener);
  }

  async get(repo: string, reference: string): Promise<ManifestRecord> {
    const ref = parseReference(reference);
    const digest = ref.kind === 'digest' ? ref.digest : await this.resolveTag(repo, ref.tag);
    if (digest === undefined) throw new ManifestUnknownError(reference);
    const { cache, meta } = this.deps;
    const cached = cache.getManifest(repo, digest);
    if (cached) return cached;
    const epoch = cache.epoch;
    const record = await meta.getManifest(repo, digest);
    if (record === undefined) throw new ManifestUnknownError(reference);
    cache.setManifest(repo, record, epoch);
    return record;
  }

  private async resolveTag(repo: string, tag: string): Promise<Digest | undefined> {
    const { cache, meta } = this.deps;
    const cached = cache.getTag(repo, tag);
    if (cached) return cached;
    const epoch = cache.epoch;
    const digest = await meta.getTag(repo, tag);
    if (digest !== undefined) cache.setTag(repo, tag, digest, epoch);
    return digest;
  }

  /** Validates and stores `bytes` under `reference` (a tag, or the digest they must hash to). */
  async put(
    repo: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    options: PutOptions = {},
  ): Promise<PutResult> {
    const ref: Reference = isDigestLike(reference)
      ? { kind: 'digest', digest: parseDigest(reference) }
      : { kind: 'tag', tag: parseTag(reference) };
    const digest = digestOf(bytes, ref.kind === 'digest' ? digestAlgorithm(ref.digest) : 'sha256');
    if (ref.kind === 'digest' && ref.digest !== digest) throw new DigestMismatchError(ref.digest, digest);
    const parsed = parseManifest(bytes, contentType);

    const record: ManifestRecord = { digest, mediaType: parsed.mediaType, bytes };
    if (parsed.subject) record.subject = parsed.subject.digest;
    const tag = ref.kind === 'tag' ? ref.tag : undefined;
    const referrer = parsed.subject ? referrerDescriptor(parsed, digest, bytes.length) : undefined;
    const referenced = [...parsed.blobs, ...parsed.manifests].map((d) => d.digest);
    const { locks, cache, meta } = this.deps;
    // The reference check, the write and the touch of every referenced link happen under the
    // repository's lock and each referenced blob's: a GC sweep or blob DELETE either ran before
    // (the check fails: MANIFEST_BLOB_UNKNOWN) or runs after and sees the touch.
    const tagTarget = await locks.runAll([repo, ...referenced.map(blobKey)], async () => {
      const links = options.cached ? [] : await this.checkReferences(repo, parsed, options.acceptSource);
      // An immutable tag takes only the manifest it already holds (an idempotent re-push): no merge, no move.
      const unchanged = tag !== undefined && (await this.checkMutable(repo, tag, record.digest));
      const pushedVariants = await this.merger?.variantsOf?.(repo, record);
      // Budgets govern what is pushed here, not what a pull-through cache fetches from upstream.
      if (pushedVariants !== undefined && !options.cached) this.merger?.checkBudget?.(repo, pushedVariants);
      const resolution =
        tag && this.merger && !unchanged && !options.cached
          ? await this.merger.resolve({ repo, tag, parsed, record, strategy: options.strategy })
          : undefined;
      const target = resolution?.record ?? record;
      const variants =
        tag === undefined ? undefined : target === record ? pushedVariants : await this.merger?.variantsOf?.(repo, target, [record]);
      const stored = [...[record, target].map((r) => ({ digest: r.digest, size: r.bytes.length })), ...links];
      const touch = referenced;
      const events = [
        ...manifestPushEvents(this.deps.webhooks, { repo, record, tag, merged: resolution?.record, strategy: options.strategy }),
        ...(tag !== undefined ? (options.events?.(target.digest) ?? []) : []),
      ];
      await this.deps.quotas.admit(repo, stored, async () => {
        cache.invalidate(repo, { tags: tag ? [tag] : [] });
        if (resolution) await meta.putManifest(repo, { record, referrer, touch, links }, { record: target, tag, events, variants });
        else await meta.putManifest(repo, { record, tag, referrer, touch, events, variants, links });
      });
      cache.invalidate(repo, {});
      cache.setManifest(repo, record);
      if (tag) {
        cache.setManifest(repo, target);
        cache.setTag(repo, tag, target.digest);
      }
      return resolution ? target.digest : undefined;
    });
    for (const listener of this.listeners) {
      await listener({ repo, record, parsed, ...(tag !== undefined ? { tag } : {}) }).catch((err: unknown) => {
        this.deps.log.warn({ err, repo, digest }, 'a listener of committed manifests failed');
      });
    }
    return { digest, subject: record.subject, parsed, tagDigest: tagTarget };
  }

  async delete(repo: string, reference: string): Promise<void> {
    if (!this.deps.config.deletes.enabled) throw new UnsupportedError('deletes are disabled on this registry');
    const ref = parseReference(reference);
    const { locks, cache, meta } = this.deps;
    await locks.run(repo, async () => {
      if (ref.kind === 'tag') {
        const rule = this.immutable.ruleFor(repo, ref.tag);
        const current = rule ? await meta.getTag(repo, ref.tag) : undefined;
        if (rule && current !== undefined) throw new TagImmutableError(repo, ref.tag, current, 'delete', rule);
        cache.invalidate(repo, { tags: [ref.tag] });
        // Under the repository lock: the digest read here is the one the delete removes.
        const was = this.deps.webhooks?.wanted('tag.deleted', repo) ? (current ?? (await meta.getTag(repo, ref.tag))) : undefined;
        const events = was === undefined ? [] : tagDeleteEvents(this.deps.webhooks, repo, ref.tag, was, 'request');
        if ((await meta.deleteTag(repo, ref.tag, events)) === undefined) throw new ManifestUnknownError(reference);
        return;
      }
      if (this.immutable.governs(repo)) {
        for (const tag of await meta.tagsOf(repo, ref.digest)) {
          const rule = this.immutable.ruleFor(repo, tag);
          if (rule) throw new TagImmutableError(repo, tag, ref.digest, 'delete-manifest', rule);
        }
      }
      cache.invalidate(repo, { digests: [ref.digest] });
      const events = this.deps.webhooks?.wanted('manifest.deleted', repo)
        ? manifestDeleteEvents(this.deps.webhooks, repo, ref.digest, await meta.tagsOf(repo, ref.digest))
        : [];
      const tags = await meta.deleteManifest(repo, ref.digest, events);
      if (tags === undefined) throw new ManifestUnknownError(reference);
      cache.invalidate(repo, { tags, digests: [ref.digest] });
    });
  }

  /**
   * Refuses to point an existing immutable tag at anything but `digest` (without `digest`: at
   * anything); true when it already points there. Callers that write hold the repository lock;
   * a pack calls it early, before storing layers, and its push checks again under the lock.
   */
  async checkMutable(repo: string, tag: string, digest?: Digest): Promise<boolean> {
    const rule = this.immutable.ruleFor(repo, tag);
    if (rule === undefined) return false;
    const current = await this.deps.meta.getTag(repo, tag);
    if (current !== undefined && current !== digest) throw new TagImmutableError(repo, tag, current, 'overwrite', rule);
    return current === digest;
  }

  /**
   * Deletes `tag` if it still is what `expected` says (same digest, same push time), under the
   * repository lock: a push that moved or refreshed the tag meanwhile wins. Immutable tags are
   * never deleted. Used by retention (config `retention`), whatever `deletes.enabled` says.
   */
  async deleteTagIfUnchanged(repo: string, expected: TagRecord): Promise<boolean> {
    const { locks, cache, meta } = this.deps;
    return locks.run(repo, async () => {
      if (this.immutable.ruleFor(repo, expected.tag)) return false;
      const current = await meta.getTagRecord(repo, expected.tag);
      if (current === undefined || current.digest !== expected.digest || current.pushedAt !== expected.pushedAt) return false;
      cache.invalidate(repo, { tags: [expected.tag] });
      await meta.deleteTag(repo, expected.tag, tagDeleteEvents(this.deps.webhooks, repo, expected.tag, expected.digest, 'retention'));
      cache.invalidate(repo, { tags: [expected.tag] });
      return true;
    });
  }

  /**
   * Records a pull of `tag` (pull-through cache repositories: retention's `deleteNotPulledFor`),
   * under the repository lock so that it never races a push that moves the tag.
   */
  async markPulled(repo: string, tag: string, digest: Digest, at = Date.now()): Promise<boolean> {
    return this.deps.locks.run(repo, () => this.deps.meta.markTagPulled(repo, tag, digest, at));
  }

  /**
   * Every blob and child manifest must be in the repository; `subject` may be missing.
   * A blob the repository does not link is found in a repository `acceptSource` admits
   * (when given): the links to add are returned, to be written with the manifest.
   */
  private async checkReferences(repo: string, parsed: ParsedManifest, acceptSource?: (repo: string) => boolean): Promise<SizedDigest[]> {
    const { meta } = this.deps;
    const blobHeld = async (d: Descriptor) =>
      d.data !== undefined ||
      (isForeignLayer(d.mediaType) && d.urls !== undefined) ||
      (await meta.getBlobLink(repo, d.digest)) !== undefined;
    const links: SizedDigest[] = [];
    for (const d of parsed.blobs) {
      if (await blobHeld(d)) continue;
      const shared = acceptSource === undefined ? undefined : await this.sharedBlob(d.digest, acceptSource);
      if (shared === undefined) throw new ManifestBlobUnknownError(d.digest);
      if (!links.some((l) => l.digest === shared.digest)) links.push(shared);
    }
    for (const d of parsed.manifests) {
      if ((await meta.getManifest(repo, d.digest)) === undefined && !(await blobHeld(d))) {
        throw new ManifestBlobUnknownError(d.digest);
      }
    }
    return links;
  }

  /**
   * The blob, with its size, when a repository the caller may pull links it and its file
   * is there (the caller holds the blob's lock: GC cannot remove it meanwhile).
   */
  private async sharedBlob(digest: Digest, acceptSource: (repo: string) => boolean): Promise<SizedDigest | undefined> {
    const { meta, blobs } = this.deps;
    const from = await meta.findBlobRepository(digest, acceptSource);
    const size = from === undefined ? undefined : await meta.getBlobLink(from, digest);
    if (size === undefined || (await blobs.size(digest)) !== size) return undefined;
    return { digest, size };
  }
}
