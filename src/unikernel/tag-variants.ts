/**
 * What unikernel variants a tag holds, read from storage: either an index of
 * variants, or (a kraft client may push one by tag) a single unikernel
 * manifest, seen as an index of one. A manifest's platform comes from its
 * config descriptor, as kraft writes it, else from its config blob.
 */
import { buffer } from 'node:stream/consumers';
import type { Digest } from '../oci/digest.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { isObject } from '../oci/descriptor.js';
import type { RegistryDeps } from '../registry/deps.js';
import { BlobUnknownError } from '../domain/errors.js';
import type { ManifestRecord } from '../storage/types.js';
import { indexAnnotations, indexDescriptor } from './image.js';
import { Annotation, UnikernelMediaType } from './names.js';
import { featureList, isImageIndex, isUnikernelIndex, isUnikernelManifest, type IndexJson, type ManifestJson } from './platform.js';

/** Config blobs are small JSON; a larger one is not read. */
const MAX_CONFIG = 1 << 20;

/** A string value, or undefined for anything else. */
export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Parsed JSON, or undefined when `bytes` are not JSON. */
export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

export interface TagContent {
  /** What the tag points at. */
  digest: Digest;
  /** Its variants as an index (an index of one when the tag holds a single manifest). */
  index: IndexJson;
  /** The tag points at a manifest, not an index. */
  direct: boolean;
}

export class TagVariants {
  constructor(private readonly deps: RegistryDeps) {}

  /** The variants of `tag`, or undefined when it does not hold unikernel content. */
  async ofTag(repo: string, tag: string): Promise<TagContent | undefined> {
    const digest = await this.deps.meta.getTag(repo, tag);
    if (digest === undefined) return undefined;
    const record = await this.deps.meta.getManifest(repo, digest);
    if (record === undefined) return undefined;
    const json = parseJson(record.bytes);
    if (isImageIndex(json)) return (await this.isUnikernelIndex(repo, json)) ? { digest, index: json, direct: false } : undefined;
    if (!isUnikernelManifest(json)) return undefined;
    const descriptor = await this.descriptorOf(repo, record, json);
    if (descriptor === undefined) return undefined;
    // Seen as the index kraft would have made for it, annotations included.
    const a: Record<string, unknown> = isObject(json.annotations) ? json.annotations : {};
    const annotations = indexAnnotations({
      name: stringOf(a[Annotation.RefName]) ?? stringOf(a[Annotation.ImageName]) ?? repo,
      tag,
      kraftkitVersion: stringOf(a[Annotation.KraftKitVersion]),
    });
    const index: IndexJson = { schemaVersion: 2, mediaType: UnikernelMediaType.Index, manifests: [descriptor], annotations };
    return { digest, index, direct: true };
  }

  /** An index is a unikernel index when kraft's annotations say so, or one of its children is a unikernel manifest. */
  async isUnikernelIndex(repo: string, index: IndexJson): Promise<boolean> {
    if (isUnikernelIndex(index as unknown)) return true;
    for (const d of index.manifests) {
      const child = await this.deps.meta.getManifest(repo, d.digest);
      if (child && isUnikernelManifest(parseJson(child.bytes))) return true;
    }
    return false;
  }

  /** The index descriptor of a unikernel manifest, with its platform; undefined when no platform can be found. */
  async descriptorOf(repo: string, record: ManifestRecord, json: ManifestJson): Promise<Descriptor | undefined> {
    const platform = isObject(json.config.platform) ? undefined : await this.platformFromConfig(repo, json.config);
    if (!isObject(json.config.platform) && platform === undefined) return undefined;
    return indexDescriptor(record.bytes, platform);
  }

  /**
   * The config blob, parsed, when it is in the repository, small and a JSON
   * object. Only a blob that is genuinely absent reads as no config: a storage
   * failure propagates.
   */
  async readConfig(repo: string, config: Descriptor): Promise<Record<string, unknown> | undefined> {
    const size = await this.deps.meta.getBlobLink(repo, config.digest);
    if (size === undefined || size > MAX_CONFIG) return undefined;
    let bytes: Buffer;
    try {
      bytes = await buffer(await this.deps.blobs.read(config.digest));
    } catch (err) {
      if (err instanceof BlobUnknownError) return undefined;
      throw err;
    }
    const json = parseJson(bytes);
    return isObject(json) ? json : undefined;
  }

  private async platformFromConfig(repo: string, config: Descriptor): Promise<Platform | undefined> {
    const json = await this.readConfig(repo, config);
    if (json === undefined || typeof json.architecture !== 'string' || typeof json.os !== 'string') return undefined;
    const platform: Platform = { architecture: json.architecture, os: json.os };
    if (typeof json['os.version'] === 'string') platform['os.version'] = json['os.version'];
    if (Array.isArray(json['os.features'])) platform['os.features'] = featureList(json['os.features']);
    return platform;
  }
}
