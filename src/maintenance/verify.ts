/**
 * `unireg verify`: checks a stopped registry's data root through the storage
 * modules (Layout for paths, the MetadataStore for records), never by deriving
 * paths or keys itself.
 *
 *   metadata   every record decodes; every link's blob file exists with the
 *              linked size; every manifest parses, hashes to its digest and
 *              finds each blob and child manifest it lists in its repository;
 *              every tag and referrer entry names a manifest that is there;
 *              every upload session is unexpired and has its data file
 *   files      every blob file is rehashed (the progress callback hears of each
 *              read); files no repository links are orphans; upload files
 *              without a session are stale
 *
 * The metadata pass is also what a repair re-runs until nothing it can fix is left.
 */
import { stat } from 'node:fs/promises';
import { open, readdir } from 'node:fs/promises';
import { digestAlgorithm, digestOf, finishDigest, newHash, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseManifest } from '../oci/manifest.js';
import { isForeignLayer } from '../oci/media-types.js';
import { walkBlobDir } from '../storage/fs/blob-walk.js';
import { hashFileInto } from '../storage/fs/hash-file.js';
import { isUploadId, type Layout } from '../storage/fs/layout.js';
import type { BlobStore, ManifestRecord, MetadataEntry, MetadataStore, UploadSession } from '../storage/types.js';
import { isProblem, sortFindings, type Finding, type VerifyCounts, type VerifyReport } from './findings.js';

export interface VerifyStores {
  layout: Layout;
  meta: MetadataStore;
  blobs: BlobStore;
}

export interface VerifyOptions {
  /** `uploads.expiry`: a session untouched this long is stale. */
  uploadExpiryMs: number;
  now?: number;
  /** Told the bytes rehashed so far and the total. */
  progress?: (done: number, total: number) => void;
  /**
   * Repositories whose manifests may reference content not fetched yet (pull-through cache
   * repositories, src/proxy/: blobs come from the upstream on demand): no missingReference there.
   */
  lazyReferences?: (repo: string) => boolean;
}

/** An index record named readably in a report. */
function printable(entry: MetadataEntry & { kind: 'indexedVariant' | 'featurePosting' | 'variantTag' | 'feature' }): string {
  switch (entry.kind) {
    case 'indexedVariant':
      return `indexed variant ${entry.repo}:${entry.tag} ${entry.digest}`;
    case 'featurePosting':
      return `feature posting ${entry.feature} ${entry.repo}:${entry.tag} ${entry.digest}`;
    case 'variantTag':
      return `indexed variant reverse entry ${entry.repo} ${entry.digest} ${entry.tag}`;
    case 'feature':
      return `indexed feature ${entry.feature}`;
  }
}

/** Records read per page of the metadata scan. */
const PAGE = 500;

export interface MetadataScan {
  findings: Finding[];
  counts: VerifyCounts;
  /** Every digest some repository links. */
  linked: Set<string>;
  /** Every upload session id. */
  sessions: Set<string>;
}

function emptyCounts(): VerifyCounts {
  return { records: 0, repositories: 0, links: 0, manifests: 0, tags: 0, uploads: 0, blobs: 0, bytes: 0 };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

class MetadataChecker {
  readonly scan: MetadataScan = { findings: [], counts: emptyCounts(), linked: new Set(), sessions: new Set() };

  constructor(
    private readonly stores: VerifyStores,
    private readonly options: VerifyOptions,
  ) {}

  private report(finding: Finding): void {
    this.scan.findings.push(finding);
  }

  /** The manifest, or undefined when it is missing or its record unreadable. */
  private async manifest(repo: string, digest: Digest): Promise<ManifestRecord | undefined> {
    try {
      return await this.stores.meta.getManifest(repo, digest);
    } catch {
      return undefined;
    }
  }

  /** Whether `repo` links `digest` and its file is there. */
  private async holdsBlob(repo: string, digest: Digest): Promise<boolean> {
    return (await this.stores.meta.getBlobLink(repo, digest)) !== undefined && (await this.stores.blobs.size(digest)) !== undefined;
  }

  private async checkManifest(repo: string, record: ManifestRecord): Promise<void> {
    const { digest } = record;
    const bytes = Buffer.from(record.bytes);
    if (digestOf(bytes, digestAlgorithm(digest)) !== digest) {
      return this.report({ kind: 'invalidManifest', repo, digest, reason: 'bytes do not hash to the digest' });
    }
    let parsed;
    try {
      parsed = parseManifest(bytes, record.mediaType);
    } catch (err) {
      return this.report({ kind: 'invalidManifest', repo, digest, reason: (err as Error).message });
    }
    const embedded = (d: Descriptor) => d.data !== undefined || (isForeignLayer(d.mediaType) && d.urls !== undefined);
    if (this.options.lazyReferences?.(repo)) return;
    for (const d of parsed.blobs) {
      if (!embedded(d) && !(await this.holdsBlob(repo, d.digest))) {
        this.report({ kind: 'missingReference', repo, manifest: digest, digest: d.digest });
      }
    }
    for (const d of parsed.manifests) {
      if ((await this.manifest(repo, d.digest)) === undefined && !embedded(d) && !(await this.holdsBlob(repo, d.digest))) {
        this.report({ kind: 'missingReference', repo, manifest: digest, digest: d.digest });
      }
    }
  }

  private async checkSession(session: UploadSession): Promise<void> {
    const { id, repo } = session;
    this.scan.sessions.add(id);
    if (session.updatedAt + this.options.uploadExpiryMs <= (this.options.now ?? Date.now())) {
      this.report({ kind: 'staleUpload', id, repo, reason: 'expired' });
    } else if (!isUploadId(id) || !(await exists(this.stores.layout.uploadPath(id)))) {
      this.report({ kind: 'staleUpload', id, repo, reason: 'file missing' });
    }
  }

  /** The indexed variant, or undefined when it is missing or unreadable. */
  private async indexed(repo: string, tag: string, digest: Digest) {
    try {
      return await this.stores.meta.getIndexedVariant({ repo, tag, digest });
    } catch {
      return undefined;
    }
  }

  /** Search index records must agree with the tags and manifests they were written with. */
  private async checkIndexEntry(entry: MetadataEntry & { kind: 'indexedVariant' | 'featurePosting' | 'variantTag' | 'feature' }): Promise<void> {
    const { meta } = this.stores;
    const stale = (reason: string) => this.report({ kind: 'staleIndexEntry', record: printable(entry), reason, recordKey: entry.key });
    switch (entry.kind) {
      case 'indexedVariant':
        if ((await meta.getTag(entry.repo, entry.tag)) !== entry.index) return stale(`tag ${entry.tag} no longer points at ${entry.index}`);
        if ((await this.manifest(entry.repo, entry.digest)) === undefined) return stale(`manifest ${entry.digest} is not in the repository`);
        return;
      case 'featurePosting': {
        const variant = await this.indexed(entry.repo, entry.tag, entry.digest);
        if (variant === undefined) return stale('no indexed variant for this posting');
        if (!variant.features.includes(entry.feature)) return stale(`the indexed variant does not list ${entry.feature}`);
        if (variant.index !== entry.index) return stale(`the posting names index ${entry.index}, the variant ${variant.index}`);
        return;
      }
      case 'variantTag':
        if ((await this.indexed(entry.repo, entry.tag, entry.digest)) === undefined) return stale('no indexed variant for this reverse entry');
        return;
      case 'feature':
        if ((await meta.listFeatureVariants(entry.feature, 1)).length === 0) {
          this.report({ kind: 'unusedFeature', feature: entry.feature, recordKey: entry.key });
        }
        return;
    }
  }

  async check(entry: MetadataEntry): Promise<void> {
    const { counts } = this.scan;
    counts.records++;
    switch (entry.kind) {
      case 'unreadable':
        return this.report({ kind: 'unreadableRecord', record: entry.record, what: entry.what, reason: entry.reason, recordKey: entry.key });
      case 'repository':
        counts.repositories++;
        return;
      case 'link': {
        counts.links++;
        this.scan.linked.add(entry.digest);
        const fileSize = await this.stores.blobs.size(entry.digest);
        if (fileSize === undefined) return this.report({ kind: 'danglingLink', repo: entry.repo, digest: entry.digest });
        if (fileSize !== entry.size) {
          this.report({ kind: 'sizeMismatch', repo: entry.repo, digest: entry.digest, linkSize: entry.size, fileSize });
        }
        return;
      }
      case 'manifest':
        counts.manifests++;
        return this.checkManifest(entry.repo, entry.record);
      case 'tag':
        counts.tags++;
        if ((await this.manifest(entry.repo, entry.digest)) === undefined) {
          this.report({ kind: 'danglingTag', repo: entry.repo, tag: entry.tag, digest: entry.digest });
        }
        return;
      case 'referrer':
        if ((await this.manifest(entry.repo, entry.digest)) === undefined) {
          this.report({ kind: 'danglingReferrer', repo: entry.repo, subject: entry.subject, digest: entry.digest, recordKey: entry.key });
        }
        return;
      case 'upload':
        counts.uploads++;
        return this.checkSession(entry.session);
      case 'indexedVariant':
      case 'featurePosting':
      case 'variantTag':
      case 'feature':
        return this.checkIndexEntry(entry);
      case 'reverseLink':
      case 'reverseTag':
        return;
    }
  }
}

/** The metadata pass alone (no file is read but by stat). */
export async function scanMetadata(stores: VerifyStores, options: VerifyOptions): Promise<MetadataScan> {
  const checker = new MetadataChecker(stores, options);
  for (let last: string | undefined; ; ) {
    const page = await stores.meta.listAllRecords({ last, limit: PAGE });
    for (const entry of page) await checker.check(entry);
    if (page.length < PAGE) break;
    last = page.at(-1)!.key;
  }
  return checker.scan;
}

/** One read buffer for every rehash. */
const READ_BUFFER = Buffer.allocUnsafe(1 << 20);

async function rehash(path: string, digest: Digest, size: number, onRead: (bytes: number) => void): Promise<Digest> {
  const algorithm = digestAlgorithm(digest);
  const fh = await open(path, 'r');
  try {
    const hash = newHash(algorithm);
    await hashFileInto(fh, size, hash, { onRead, buffer: READ_BUFFER });
    return finishDigest(hash, algorithm);
  } finally {
    await fh.close();
  }
}

/** The files pass: rehash every blob, find orphans, strays and upload files without a session. */
async function scanFiles(stores: VerifyStores, scan: MetadataScan, options: VerifyOptions): Promise<void> {
  const { layout } = stores;
  const blobs: { digest: Digest; size: number; mtimeMs: number }[] = [];
  for await (const entry of walkBlobDir(layout)) {
    if (entry.kind === 'stray') scan.findings.push({ kind: 'strayFile', path: entry.path });
    else blobs.push(entry);
  }
  const total = blobs.reduce((sum, b) => sum + b.size, 0);
  let done = 0;
  options.progress?.(0, total);
  for (const blob of blobs) {
    scan.counts.blobs++;
    scan.counts.bytes += blob.size;
    const actual = await rehash(layout.blobPath(blob.digest), blob.digest, blob.size, (bytes) => {
      done += bytes;
      options.progress?.(done, total);
    });
    if (actual !== blob.digest) {
      scan.findings.push({ kind: 'corruptBlob', digest: blob.digest, actual, size: blob.size });
    } else if (!scan.linked.has(blob.digest)) {
      scan.findings.push({ kind: 'orphanBlob', digest: blob.digest, size: blob.size, modifiedAt: blob.mtimeMs });
    }
  }
  options.progress?.(total, total);
  for (const name of (await readdir(layout.uploadsDir).catch(() => [])).sort()) {
    if (isUploadId(name) && !scan.sessions.has(name)) scan.findings.push({ kind: 'staleUpload', id: name, reason: 'no session' });
  }
}

export async function verify(stores: VerifyStores, options: VerifyOptions): Promise<VerifyReport> {
  const scan = await scanMetadata(stores, options);
  await scanFiles(stores, scan, options);
  const findings = sortFindings(scan.findings);
  return { root: stores.layout.root, clean: !findings.some(isProblem), counts: scan.counts, findings };
}
