/** Registry: the repository semantics the HTTP handlers call, over both stores. */
import { BlobService } from './blobs.js';
import type { RegistryDeps } from './deps.js';
import { ListingService } from './listings.js';
import { ManifestService, type TagMerger } from './manifests.js';
import type { QuotaService } from './quotas.js';
import { UploadService } from './uploads.js';
import { RetentionService } from '../retention/service.js';
import { GarbageCollector } from '../gc/collector.js';

export class Registry {
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly listings: ListingService;
  /** The `retention` rules; run on demand (`POST /_unireg/retention`) and before each GC. */
  readonly retention: RetentionService;
  readonly quotas: QuotaService;
  readonly gc: GarbageCollector;

  /**
   * `tagMerger` decides what a tag resolves to after a push (the unikernel variant merger);
   * the composition root hands it in, so this layer does not depend on the unikernel one.
   */
  constructor(
    readonly deps: RegistryDeps,
    tagMerger?: (deps: RegistryDeps) => TagMerger,
  ) {
    this.blobs = new BlobService(deps);
    this.uploads = new UploadService(deps);
    this.manifests = new ManifestService(deps, tagMerger?.(deps));
    this.listings = new ListingService(deps);
    this.retention = new RetentionService(deps, this.manifests);
    this.quotas = deps.quotas;
    // Retention runs first, inside GC's one-at-a-time section: what it untags, this GC collects.
    this.gc = new GarbageCollector(deps, async (dryRun) => {
      if (this.retention.configured) await this.retention.run({ dryRun });
    });
  }
}
