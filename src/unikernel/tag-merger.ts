/**
 * Server-side merging of unikernel pushes (issue: "manifest merging on push").
 *
 * When a unikernel index or manifest is pushed to a tag, the tag should end up
 * holding every variant built so far, not only the last machine's: kraft pushes
 * its local index as-is and would drop the others. The pushed bytes are stored
 * unchanged under their own digest (clients verify it); this module decides
 * which index the *tag* resolves to: the merge of the tag's current variants
 * with the pushed ones, by the strategy, with descriptor sizes repaired (kraft
 * writes `"size": 32` for carried-over children). Content that is not a
 * unikernel returns undefined, leaving standard OCI semantics untouched.
 *
 * Runs under the repository lock held by ManifestService.put, so two build
 * machines pushing one tag at once both end up in the index.
 */
import { digestOf, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_JSON_DEPTH, valueDeeperThan } from '../oci/json-scan.js';
import { MediaType } from '../oci/media-types.js';
import { ManifestInvalidError } from '../domain/errors.js';
import type { RegistryDeps } from '../registry/deps.js';
import type { TagMerger, TagMergeRequest, TagResolution } from '../registry/manifests.js';
import type { IndexedVariant, ManifestRecord } from '../storage/types.js';
import { Budgets } from './budgets.js';
import { VariantIndex } from './variant-index.js';
import { TagExistsError } from './errors.js';
import { serializeIndex } from './image.js';
import { mergeIndex, repairSizes } from './merge.js';
import { parseStrategy } from './names.js';
import { isImageIndex, isUnikernelManifest } from './platform.js';
import { TagVariants } from './tag-variants.js';

export class UnikernelTagMerger implements TagMerger {
  private readonly variants: TagVariants;
  private readonly index: VariantIndex;
  private readonly budgets: Budgets;

  constructor(private readonly deps: RegistryDeps) {
    this.variants = new TagVariants(deps);
    this.index = new VariantIndex(deps);
    this.budgets = new Budgets(deps.config.unikernel.budgets);
  }

  variantsOf(repo: string, record: ManifestRecord, pending?: readonly ManifestRecord[]): Promise<IndexedVariant[] | undefined> {
    return this.index.variantsOf(repo, record, pending);
  }

  checkBudget(repo: string, variants: readonly IndexedVariant[]): void {
    this.budgets.check(repo, variants);
  }

  async resolve(request: TagMergeRequest): Promise<TagResolution | undefined> {
    const { repo, tag, parsed, record } = request;
    const json = parsed.json;
    const pushedIndex = isImageIndex(json) && (await this.variants.isUnikernelIndex(repo, json)) ? json : undefined;
    const pushedManifest = pushedIndex === undefined && isUnikernelManifest(json) ? json : undefined;
    if (pushedIndex === undefined && pushedManifest === undefined) return undefined;

    const strategy = parseStrategy(request.strategy, this.deps.config.unikernel.defaultStrategy);
    if (strategy === 'abort' && (await this.deps.meta.getTag(repo, tag)) !== undefined) throw new TagExistsError(tag);
    const current = (await this.variants.ofTag(repo, tag))?.index;

    let incoming: Descriptor[];
    if (pushedIndex) {
      incoming = pushedIndex.manifests;
    } else {
      // A single variant pushed by tag merges only into a tag that already holds variants.
      if (current === undefined || pushedManifest === undefined) return undefined;
      const descriptor = await this.variants.descriptorOf(repo, record, pushedManifest);
      if (descriptor === undefined) return undefined; // no platform anywhere: nothing to merge by
      incoming = [descriptor];
    }
    if (strategy === 'merge' && current !== undefined && valueDeeperThan(current, MAX_JSON_DEPTH)) {
      // Stored before the depth limit: its descriptors cannot be safely re-serialised.
      throw new ManifestInvalidError(
        `tag ${tag} holds an index nesting deeper than ${MAX_JSON_DEPTH} levels, which cannot be merged into; push with ?strategy=overwrite to replace it`,
      );
    }
    const merged = mergeIndex(strategy === 'merge' ? current : undefined, incoming, strategy, {
      annotations: pushedIndex?.annotations,
      reference: tag,
    });
    const sizes = new Map<string, number>();
    for (const d of merged.index.manifests) {
      const child = await this.deps.meta.getManifest(repo, d.digest);
      if (child) sizes.set(d.digest, child.bytes.length);
    }
    const { index, repaired } = repairSizes(merged.index, (d) => sizes.get(d));
    if (repaired.length > 0) this.deps.log.warn({ repo, tag, repaired }, 'repaired unikernel index descriptor sizes');
    if (pushedIndex && (strategy !== 'merge' || current === undefined) && repaired.length === 0) return undefined;

    const bytes = serializeIndex(index);
    const digest = digestOf(bytes);
    if (digest === record.digest) return undefined;
    this.deps.log.info(
      { repo, tag, strategy, replaced: merged.replaced.length, appended: merged.appended.length, digest },
      'merged unikernel variants into the tag',
    );
    const resolved: ManifestRecord = { digest, mediaType: MediaType.OciIndex, bytes };
    return { record: resolved };
  }
}
