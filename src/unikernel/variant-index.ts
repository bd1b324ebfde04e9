/**
 * What the kconfig search index and the size budgets know of a manifest: the
 * unikernel variants it holds (itself, when it is a unikernel manifest; its
 * children that are, when it is an index), each with its platform, features and
 * sizes. Read from the metadata store and, for a manifest without a platform on
 * its config descriptor, from its config blob.
 *
 * The start-up backfill builds the index of a registry whose data predates it.
 */
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { isObject } from '../oci/descriptor.js';
import type { RegistryDeps } from '../registry/deps.js';
import type { IndexedVariant, ManifestRecord } from '../storage/types.js';
import { Annotation } from './names.js';
import { featureList, isImageIndex, isUnikernelManifest, type ManifestJson } from './platform.js';
import { parseJson, TagVariants } from './tag-variants.js';

const sizeOf = (d: Descriptor | undefined): number => (typeof d?.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0 ? d.size : 0);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** One variant from its platform (the index descriptor's, else the config descriptor's) and its manifest. */
export function describeVariant(digest: IndexedVariant['digest'], manifestBytes: number, platform: Platform | undefined, manifest: ManifestJson): IndexedVariant {
  const p: Record<string, unknown> = isObject(platform) ? platform : isObject(manifest.config.platform) ? manifest.config.platform : {};
  const kernel = manifest.layers.find((l) => isObject(l.annotations) && typeof l.annotations[Annotation.KernelImage] === 'string');
  const variant: IndexedVariant = {
    digest,
    architecture: text(p.architecture),
    os: text(p.os),
    features: featureList(p['os.features']),
    imageSize: manifestBytes + sizeOf(manifest.config) + manifest.layers.reduce((sum, l) => sum + sizeOf(l), 0),
  };
  if (typeof p['os.version'] === 'string') variant.version = p['os.version'];
  if (kernel !== undefined) variant.kernelSize = sizeOf(kernel);
  return variant;
}

export class VariantIndex {
  private readonly tags: TagVariants;

  constructor(private readonly deps: RegistryDeps) {
    this.tags = new TagVariants(deps);
  }

  /** The unikernel variants `record` holds; undefined when it holds none. */
  async variantsOf(repo: string, record: ManifestRecord, pending: readonly ManifestRecord[] = []): Promise<IndexedVariant[] | undefined> {
    const json = parseJson(record.bytes);
    if (isImageIndex(json)) {
      const out: IndexedVariant[] = [];
      for (const d of json.manifests) {
        const child = pending.find((p) => p.digest === d.digest) ?? (await this.deps.meta.getManifest(repo, d.digest));
        const manifest = child === undefined ? undefined : parseJson(child.bytes);
        if (child === undefined || !isUnikernelManifest(manifest)) continue;
        out.push(describeVariant(d.digest, child.bytes.length, isObject(d.platform) ? d.platform : undefined, manifest));
      }
      return out.length > 0 ? out : undefined;
    }
    if (!isUnikernelManifest(json)) return undefined;
    const descriptor = await this.tags.descriptorOf(repo, record, json);
    return [describeVariant(record.digest, record.bytes.length, descriptor?.platform, json)];
  }

  /**
   * Indexes every tag of every repository, each under its repository's lock (pushes
   * meanwhile index themselves), then marks the index built. A no-op once built.
   */
  async backfill(): Promise<{ repositories: number; tags: number; variants: number } | undefined> {
    const { meta, locks } = this.deps;
    if (await meta.indexBuilt()) return undefined;
    const counts = { repositories: 0, tags: 0, variants: 0 };
    const PAGE = 200;
    for (let lastRepo: string | undefined; ; ) {
      const repos = await meta.listRepositories({ last: lastRepo, limit: PAGE });
      for (const repo of repos) {
        counts.repositories++;
        for (let lastTag: string | undefined; ; ) {
          const tags = await meta.listTagRecords(repo, { last: lastTag, limit: PAGE });
          for (const { tag } of tags) {
            await locks.run(repo, async () => {
              const digest = await meta.getTag(repo, tag);
              const record = digest === undefined ? undefined : await meta.getManifest(repo, digest);
              if (digest === undefined || record === undefined) return;
              const variants = (await this.variantsOf(repo, record)) ?? [];
              if (await meta.indexTag(repo, tag, digest, variants)) {
                counts.tags++;
                counts.variants += variants.length;
              }
            });
          }
          if (tags.length < PAGE) break;
          lastTag = tags.at(-1)!.tag;
        }
      }
      if (repos.length < PAGE) break;
      lastRepo = repos.at(-1);
    }
    await meta.markIndexBuilt(true);
    return counts;
  }
}
