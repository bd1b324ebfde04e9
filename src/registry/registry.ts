/** Registry: the repository semantics the HTTP handlers call, over both stores. */
import { BlobService } from './blobs.js';
import type { RegistryDeps } from './deps.js';
import { ListingService } from './listings.js';
import { ManifestService } from './manifests.js';
import { UploadService } from './uploads.js';
import { UnikernelTagMerger } from '../unikernel/tag-merger.js';
import { GarbageCollector } from '../gc/collector.js';

export class Registry {
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly listings: ListingService;
  readonly gc: GarbageCollector;

  constructor(readonly deps: RegistryDeps) {
    this.blobs = new BlobService(deps);
    this.uploads = new UploadService(deps);
    this.manifests = new ManifestService(deps, new UnikernelTagMerger(deps));
    this.listings = new ListingService(deps);
    this.gc = new GarbageCollector(deps);
  }
}
