/** What the registry services are built from (assembled in src/main.ts or by tests). */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Layout } from '../storage/fs/layout.js';
import type { BlobStore, MetadataStore, UploadArea } from '../storage/types.js';
import type { Locks } from './locks.js';
import type { ManifestCache } from './manifest-cache.js';
import type { QuotaService } from './quotas.js';
import type { UploadHashing } from './upload-hash.js';
import type { ListingPageCache } from './listing-page-cache.js';
import type { WebhookEvents } from '../webhooks/events.js';

export interface RegistryDeps {
  meta: MetadataStore;
  blobs: BlobStore;
  /** Where upload sessions keep their bytes until they become blobs (src/storage/blob-driver.ts). */
  uploadArea: UploadArea;
  /**
   * How uploads keep their running sha256 (src/registry/upload-hash.ts): `memory` (default) or
   * `persisted` in the session record, needed on S3 and whenever processes share the metadata.
   */
  uploadHashing?: UploadHashing;
  layout: Layout;
  config: Config;
  log: Logger;
  /** Per-repository and per-blob locks, and one-at-a-time jobs (src/registry/locks.ts). */
  locks: Locks;
  cache: ManifestCache;
  /** Byte quotas per repository glob: usage, and the checks before content is stored. */
  quotas: QuotaService;
  /** The webhook endpoints: events are queued with the changes they describe (none when absent). */
  webhooks?: WebhookEvents;
  /** Recent tags/list and catalog pages, invalidated by every committed tag or repository-record write (none: every listing reads the store). */
  listingPages?: ListingPageCache;
}
