/**
 * The variants listing: which unikernel variants each tag of a repository holds,
 * with their platform, features and sizes, read from the stored index, manifests
 * and config blobs. Paged over tags.
 *
 * Stored content may be malformed (a config blob is any bytes a client uploaded;
 * older versions stored platforms without checking their types): such a variant
 * is reported under `skipped` with the reason, and the rest are listed. Storage
 * failures are not malformed content: they propagate.
 */
import { buffer } from 'node:stream/consumers';
import type { Digest } from '../oci/digest.js';
import { isObject, type Descriptor } from '../oci/descriptor.js';
import { BlobUnknownError, NameUnknownError, RangeNotSatisfiableError } from '../domain/errors.js';
import type { Registry } from '../registry/registry.js';
import { filterIndex, type VariantQuery } from './filter.js';
import { BLOCK_SIZE } from './layer.js';
import { Annotation } from './names.js';
import { isImageManifest, type ManifestJson } from './platform.js';
import { parseJson, stringOf, TagVariants } from './tag-variants.js';
import { Budgets, type Budget } from './budgets.js';
import { describeVariant } from './variant-index.js';

/** The limits of `budget` the variant exceeds. */
function overBudget(v: VariantInfo, budget: Budget | undefined): ('maxKernelSize' | 'maxImageSize')[] {
  const over: ('maxKernelSize' | 'maxImageSize')[] = [];
  if (budget?.maxKernelSize !== undefined && v.kernelLayerSize !== undefined && v.kernelLayerSize > budget.maxKernelSize) over.push('maxKernelSize');
  if (budget?.maxImageSize !== undefined && v.imageSize > budget.maxImageSize) over.push('maxImageSize');
  return over;
}
import { BOOT_ATTESTATION_TYPE, BootAnnotation } from './boot/attestation.js';
import { PROVENANCE_TYPE } from './provenance.js';

export interface VariantInfo {
  tag: string;
  index: Digest;
  manifest: Digest;
  arch: string;
  plat: string;
  version?: string;
  features: string[];
  kernelSize?: number;
  initrdSize?: number;
  /** Bytes of the kernel layer blob (what `unikernel.budgets` maxKernelSize limits). */
  kernelLayerSize?: number;
  /** Bytes of the variant: manifest, config blob and every layer (what maxImageSize limits). */
  imageSize: number;
  /** The limits of the repository's budget this variant is over (stored before the budget, or pushed under another). */
  overBudget?: ('maxKernelSize' | 'maxImageSize')[];
  cmd: string[];
  env: string[];
  created?: string;
  /** The latest boot attestation (a referrer of the manifest; docs/unikernels.md, "Boot attestations"). */
  boot?: BootSummary;
  /** The provenance referrer of a server-side pack, if any. */
  provenance?: Digest;
}

export interface BootSummary {
  status: string;
  /** The attestation manifest (GET /v2/<repo>/manifests/<digest>; its layer is the JSON document). */
  attestation: Digest;
  created?: string;
}

/** Referrers read per variant for the listing (attestations and provenance are a handful). */
const REFERRER_PAGE = 1000;

/** A variant the listing could not describe, and why. */
export interface SkippedVariant {
  tag: string;
  manifest: Digest;
  reason: string;
}

export interface VariantPage {
  /** The size budget that applies to the repository, if any. */
  budget?: Budget;
  variants: VariantInfo[];
  skipped: SkippedVariant[];
  /** The last tag listed, when more tags follow. */
  next?: string;
}

/** Content of the wrong shape; caught per variant by the listing and reported. */
class MalformedVariant extends Error {
  override readonly name = 'MalformedVariant';
}

/** `value` when it is a string or absent; MalformedVariant naming `what` otherwise. */
function optionalString(value: unknown, what: string): string | undefined {
  if (value !== undefined && typeof value !== 'string') throw new MalformedVariant(`${what} is not a string`);
  return value;
}

/** `value` when it is an array of strings, [] when absent; MalformedVariant naming `what` otherwise. */
function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new MalformedVariant(`${what} is not an array of strings`);
  return value as string[];
}

function objectOrEmpty(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new MalformedVariant(`${what} is not an object`);
  return value;
}

export class VariantsService {
  private readonly tagVariants: TagVariants;
  private readonly budgets: Budgets;

  constructor(private readonly registry: Registry) {
    this.tagVariants = new TagVariants(registry.deps);
    this.budgets = new Budgets(registry.deps.config.unikernel.budgets);
  }

  async list(repo: string, query: VariantQuery & { tag?: string; n: number; last?: string }): Promise<VariantPage> {
    const { meta } = this.registry.deps;
    if (!(await meta.hasRepository(repo))) throw new NameUnknownError(repo);
    let tags: string[];
    let next: string | undefined;
    if (query.tag !== undefined) {
      tags = [query.tag];
    } else {
      const page = await this.registry.listings.tags(repo, query.n, query.last);
      tags = page.items;
      next = page.next;
    }
    const page: VariantPage = { variants: [], skipped: [] };
    const budget = this.budgets.budgetFor(repo);
    if (budget !== undefined) page.budget = budget;
    // Without a rule, the registry's (unikernel.kconfigMatch), as for the API's filters.
    const filters: VariantQuery = { ...query, match: query.match ?? this.registry.deps.config.unikernel.kconfigMatch };
    for (const tag of tags) await this.variantsOf(repo, tag, filters, page);
    for (const v of page.variants) {
      const over = overBudget(v, budget);
      if (over.length > 0) v.overBudget = over;
    }
    if (next !== undefined) page.next = next;
    return page;
  }

  private async variantsOf(repo: string, tag: string, query: VariantQuery, page: VariantPage): Promise<void> {
    const { meta } = this.registry.deps;
    const content = await this.tagVariants.ofTag(repo, tag);
    if (content === undefined) return;
    for (const d of filterIndex(content.index, query).index.manifests) {
      const child = await meta.getManifest(repo, d.digest);
      const manifest = child && parseJson(child.bytes);
      if (child === undefined || !isImageManifest(manifest)) continue;
      try {
        const info = await this.describe(repo, tag, content.digest, d, manifest, child.bytes.length);
        if (info !== undefined) page.variants.push(info);
      } catch (err) {
        if (!(err instanceof MalformedVariant)) throw err;
        page.skipped.push({ tag, manifest: d.digest, reason: err.message });
      }
    }
  }

  /** One variant; undefined when the manifest holds no kernel; MalformedVariant when a field has the wrong type. */
  private async describe(
    repo: string,
    tag: string,
    index: Digest,
    d: Descriptor,
    manifest: ManifestJson,
    manifestBytes: number,
  ): Promise<VariantInfo | undefined> {
    const annotated = (l: Descriptor, key: string) => isObject(l.annotations) && l.annotations[key] !== undefined;
    const kernel = manifest.layers.find((l) => annotated(l, Annotation.KernelImage));
    if (kernel === undefined) return undefined;
    const initrd = manifest.layers.find((l) => annotated(l, Annotation.KernelInitrd));
    const platform = objectOrEmpty(d.platform ?? manifest.config.platform, 'platform');
    const config = (await this.tagVariants.readConfig(repo, manifest.config)) ?? {};
    const run = objectOrEmpty(config.config, 'config blob field config');
    const info: VariantInfo = {
      tag,
      index,
      manifest: d.digest,
      arch: optionalString(platform.architecture, 'platform architecture') ?? optionalString(config.architecture, 'config blob architecture') ?? '',
      plat: optionalString(platform.os, 'platform os') ?? optionalString(config.os, 'config blob os') ?? '',
      features: stringList(platform['os.features'], 'platform os.features'),
      kernelSize: await this.fileSize(repo, kernel.digest, kernel.size),
      imageSize: describeVariant(d.digest, manifestBytes, undefined, manifest).imageSize,
      cmd: stringList(run.Cmd, 'config blob Cmd'),
      env: stringList(run.Env, 'config blob Env'),
    };
    if (typeof kernel.size === 'number') info.kernelLayerSize = kernel.size;
    const version = optionalString(platform['os.version'], 'platform os.version');
    if (version !== undefined) info.version = version;
    if (initrd) info.initrdSize = await this.fileSize(repo, initrd.digest, initrd.size);
    const created = isObject(manifest.annotations) ? stringOf(manifest.annotations[Annotation.Created]) : undefined;
    if (created) info.created = created;
    await this.attachReferrers(repo, d.digest, info);
    return info;
  }

  /** The latest boot attestation (by its created annotation) and the provenance, from the manifest's referrers. */
  private async attachReferrers(repo: string, manifest: Digest, info: VariantInfo): Promise<void> {
    const referrers = await this.registry.deps.meta.listReferrers(repo, manifest, { limit: REFERRER_PAGE });
    const annotation = (d: Descriptor, key: string) => (isObject(d.annotations) ? stringOf(d.annotations[key]) : undefined);
    let latest: Descriptor | undefined;
    for (const d of referrers) {
      if (d.artifactType === PROVENANCE_TYPE) info.provenance = d.digest;
      if (d.artifactType !== BOOT_ATTESTATION_TYPE) continue;
      if (latest === undefined || (annotation(d, BootAnnotation.Created) ?? '') >= (annotation(latest, BootAnnotation.Created) ?? '')) latest = d;
    }
    if (latest === undefined) return;
    const boot: BootSummary = { status: annotation(latest, BootAnnotation.Status) ?? 'unknown', attestation: latest.digest };
    const created = annotation(latest, BootAnnotation.Created);
    if (created !== undefined) boot.created = created;
    info.boot = boot;
  }

  /**
   * The size of the file inside a one-entry layer tar, from the size field of its
   * header; undefined when the layer is absent or has no such header. Storage
   * failures propagate.
   */
  private async fileSize(repo: string, digest: Digest, layerSize: number): Promise<number | undefined> {
    if (typeof layerSize !== 'number' || layerSize < BLOCK_SIZE) return undefined;
    let header: Buffer;
    try {
      const { stream } = await this.registry.blobs.read(repo, digest, { start: 0, end: BLOCK_SIZE - 1 });
      header = await buffer(stream);
    } catch (err) {
      // Absent, or shorter than a tar header (the manifest claimed more than is stored).
      if (err instanceof BlobUnknownError || err instanceof RangeNotSatisfiableError) return undefined;
      throw err;
    }
    const field = header.subarray(124, 136).toString('latin1').replace(/[\0 ]+$/g, '').trim();
    return /^[0-7]+$/.test(field) ? parseInt(field, 8) : undefined;
  }
}
