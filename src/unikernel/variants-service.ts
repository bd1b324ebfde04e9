/**
 * The variants listing: which unikernel variants each tag of a repository holds,
 * with their platform, features and sizes, read from the stored index, manifests
 * and config blobs. Paged over tags.
 */
import { buffer } from 'node:stream/consumers';
import type { Digest } from '../oci/digest.js';
import { NameUnknownError } from '../storage/errors.js';
import type { Registry } from '../registry/registry.js';
import { filterIndex, type VariantQuery } from './filter.js';
import { BLOCK_SIZE } from './layer.js';
import { Annotation } from './names.js';
import { featureList, isImageManifest } from './platform.js';
import { parseJson, TagVariants } from './tag-variants.js';

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
  cmd: string[];
  env: string[];
  created?: string;
}

export interface VariantPage {
  variants: VariantInfo[];
  /** The last tag listed, when more tags follow. */
  next?: string;
}

interface ConfigJson {
  architecture?: string;
  os?: string;
  config?: { Cmd?: string[]; Env?: string[] };
}

export class VariantsService {
  private readonly tagVariants: TagVariants;

  constructor(private readonly registry: Registry) {
    this.tagVariants = new TagVariants(registry.deps);
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
    const variants: VariantInfo[] = [];
    for (const tag of tags) variants.push(...(await this.variantsOf(repo, tag, query)));
    return next === undefined ? { variants } : { variants, next };
  }

  private async variantsOf(repo: string, tag: string, query: VariantQuery): Promise<VariantInfo[]> {
    const { meta } = this.registry.deps;
    const content = await this.tagVariants.ofTag(repo, tag);
    if (content === undefined) return [];
    const out: VariantInfo[] = [];
    for (const d of filterIndex(content.index, query).index.manifests) {
      const child = await meta.getManifest(repo, d.digest);
      const manifest = child && parseJson(child.bytes);
      if (!isImageManifest(manifest)) continue;
      const kernel = manifest.layers.find((l) => l.annotations?.[Annotation.KernelImage] !== undefined);
      if (kernel === undefined) continue;
      const initrd = manifest.layers.find((l) => l.annotations?.[Annotation.KernelInitrd] !== undefined);
      const config = (await this.tagVariants.readConfig(repo, manifest.config)) as ConfigJson | undefined;
      const platform = d.platform ?? manifest.config.platform;
      const info: VariantInfo = {
        tag,
        index: content.digest,
        manifest: d.digest,
        arch: String(platform?.architecture ?? config?.architecture ?? ''),
        plat: String(platform?.os ?? config?.os ?? ''),
        features: featureList(platform?.['os.features']),
        kernelSize: await this.fileSize(repo, kernel.digest, kernel.size),
        cmd: config?.config?.Cmd ?? [],
        env: config?.config?.Env ?? [],
      };
      const version = platform?.['os.version'];
      if (typeof version === 'string') info.version = version;
      if (initrd) info.initrdSize = await this.fileSize(repo, initrd.digest, initrd.size);
      const created = manifest.annotations?.[Annotation.Created];
      if (created) info.created = created;
      out.push(info);
    }
    return out;
  }

  /** The size of the file inside a one-entry layer tar, from the size field of its header. */
  private async fileSize(repo: string, digest: Digest, layerSize: number): Promise<number | undefined> {
    if (layerSize < BLOCK_SIZE) return undefined;
    try {
      const { stream } = await this.registry.blobs.read(repo, digest, { start: 0, end: BLOCK_SIZE - 1 });
      const field = (await buffer(stream)).subarray(124, 136).toString('latin1').replace(/[\0 ]+$/g, '').trim();
      return /^[0-7]+$/.test(field) ? parseInt(field, 8) : undefined;
    } catch {
      return undefined;
    }
  }
}
