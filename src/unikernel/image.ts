/**
 * Builders of the JSON documents of a unikernel package (format doc §1, §2, §4):
 * config blob, image manifest, index descriptor and index. Each returns the exact
 * bytes to store: compact JSON with a fixed field order (Go's struct order, map
 * keys sorted as Go's encoder sorts them), so equal inputs give equal digests.
 * Timestamps and versions are passed in, keeping the builders deterministic.
 */
import { digestOf, type Digest } from '../oci/digest.js';
import { isObject, type Descriptor, type Platform } from '../oci/descriptor.js';
import { MAX_JSON_DEPTH, valueDeeperThan } from '../oci/json-scan.js';
import { ManifestInvalidError } from '../domain/errors.js';
import { UnikernelInputError } from './errors.js';
import { compareBytes } from './kconfig.js';
import { Annotation, INITRD_PATH, KERNEL_PATH, KRAFTKIT_VERSION, UnikernelMediaType, type Arch } from './names.js';
import { isImageManifest, type IndexJson } from './platform.js';

/** `urunc`: the `/urunc.json` layer of `pack --urunc` (./urunc.ts), which kraft ignores (it has no annotation). */
export type LayerKind = 'kernel' | 'initrd' | 'urunc';

/** A layer blob already written (see layer.ts): what it is, its digest (= diff_id) and size. */
export interface LayerRef {
  kind: LayerKind;
  digest: Digest;
  size: number;
}

export interface PlatformInput {
  arch: Arch;
  /** Canonical platform name (the OCI `os`). */
  plat: string;
  /** The Unikraft version (`os.version`), when known. */
  osVersion?: string | undefined;
  /** Sorted, deduplicated `KEY=VALUE` strings (kconfig.ts `features`). */
  features: readonly string[];
}

/** `architecture`, `os`, `os.version` (if known), `os.features` (if any), in that order. */
export function variantPlatform(input: PlatformInput): Platform {
  const platform: Platform = { architecture: input.arch, os: input.plat };
  if (input.osVersion !== undefined && input.osVersion !== '') platform['os.version'] = input.osVersion;
  if (input.features.length > 0) platform['os.features'] = [...input.features];
  return platform;
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort(compareBytes)) out[key] = record[key] ?? '';
  return out;
}

export interface ConfigInput extends PlatformInput {
  cmd?: readonly string[] | undefined;
  env?: readonly string[] | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
  /** The layer digests, in manifest order. */
  diffIds: readonly Digest[];
}

/** The config blob: architecture, os, os.version?, os.features, config {Cmd?, Env?, Labels?}, rootfs. */
export function configBlob(input: ConfigInput): Buffer {
  const config: Record<string, unknown> = {};
  if (input.cmd !== undefined && input.cmd.length > 0) config.Cmd = [...input.cmd];
  if (input.env !== undefined && input.env.length > 0) config.Env = [...input.env];
  if (input.labels !== undefined && Object.keys(input.labels).length > 0) config.Labels = sortedRecord(input.labels);
  return Buffer.from(
    JSON.stringify({
      ...variantPlatform(input),
      config,
      rootfs: { type: 'layers', diff_ids: [...input.diffIds] },
    }),
  );
}

/** A layer's descriptor, annotated with its well-known path. */
export function layerDescriptor(layer: LayerRef): Descriptor {
  if (layer.kind === 'urunc') return { mediaType: UnikernelMediaType.Layer, digest: layer.digest, size: layer.size };
  const annotations: Record<string, string> =
    layer.kind === 'kernel' ? { [Annotation.KernelImage]: KERNEL_PATH } : { [Annotation.KernelInitrd]: INITRD_PATH };
  return { mediaType: UnikernelMediaType.Layer, digest: layer.digest, size: layer.size, annotations };
}

export interface NamingInput {
  /** The repository as clients name it, e.g. `localhost:5000/nginx` or `nginx`. */
  name: string;
  tag: string;
  /** `sh.kraftkit.version`; KRAFTKIT_VERSION when absent. */
  kraftkitVersion?: string | undefined;
}

export interface ManifestInput extends NamingInput {
  config: { digest: Digest; size: number };
  platform: Platform;
  layers: readonly LayerRef[];
  kernelVersion?: string | undefined;
  /** RFC 3339 UTC, e.g. from rfc3339(). */
  created: string;
  /** More manifest annotations (urunc's, a boot check's expected output); kraft's own win on a clash. */
  extraAnnotations?: Readonly<Record<string, string>> | undefined;
}

/** Go's time.RFC3339 of a UTC time: no fractional seconds. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The manifest annotations of §2 (also copied onto its index descriptor). */
export function manifestAnnotations(input: Omit<ManifestInput, 'config' | 'platform' | 'layers'>): Record<string, string> {
  const a: Record<string, string> = {
    ...input.extraAnnotations,
    [Annotation.ImageName]: input.name,
    [Annotation.RefName]: input.name,
    [Annotation.Created]: input.created,
    [Annotation.KraftKitVersion]: input.kraftkitVersion ?? KRAFTKIT_VERSION,
    [Annotation.ContainerdImageName]: `${input.name}:${input.tag}`,
  };
  if (input.kernelVersion !== undefined && input.kernelVersion !== '') a[Annotation.KernelVersion] = input.kernelVersion;
  return sortedRecord(a);
}

/** The image manifest: its config descriptor carries the platform (kraft clients need it). */
export function imageManifest(input: ManifestInput): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: UnikernelMediaType.Manifest,
      config: canonicalDescriptor({
        mediaType: UnikernelMediaType.Config,
        digest: input.config.digest,
        size: input.config.size,
        platform: input.platform,
      }),
      layers: input.layers.map(layerDescriptor),
      annotations: manifestAnnotations(input),
    }),
  );
}

/**
 * The index descriptor of manifest bytes: media type, true digest and size, the
 * manifest's annotations, and `platform` (the one given, else the manifest's
 * config descriptor's). Throws UnikernelInputError when neither has one.
 */
export function indexDescriptor(manifestBytes: Uint8Array, platform?: Platform): Descriptor {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch {
    throw new UnikernelInputError('manifest', 'the manifest is not valid JSON');
  }
  if (!isImageManifest(json)) throw new UnikernelInputError('manifest', 'not an OCI image manifest');
  const chosen = platform ?? (isObject(json.config.platform) ? json.config.platform : undefined);
  if (chosen === undefined) throw new UnikernelInputError('manifest', 'the manifest config descriptor has no platform');
  const d: Descriptor = { mediaType: json.mediaType ?? UnikernelMediaType.Manifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
  if (json.annotations !== undefined && Object.keys(json.annotations).length > 0) d.annotations = { ...json.annotations };
  d.platform = chosen;
  return canonicalDescriptor(d);
}

/** The index annotations of §2. `created` is added only when given (kraft sets it; it makes the digest time-dependent). */
export function indexAnnotations(input: NamingInput & { created?: string | undefined }): Record<string, string> {
  const a: Record<string, string> = {
    [Annotation.RefName]: input.name,
    [Annotation.KraftKitVersion]: input.kraftkitVersion ?? KRAFTKIT_VERSION,
    [Annotation.ContainerdImageName]: `${input.name}:${input.tag}`,
  };
  if (input.created !== undefined) a[Annotation.Created] = input.created;
  return sortedRecord(a);
}

/** A new index of `manifests` with the §2 annotations. */
export function imageIndex(manifests: readonly Descriptor[], naming: NamingInput & { created?: string | undefined }): Buffer {
  return serializeIndex({ schemaVersion: 2, mediaType: UnikernelMediaType.Index, manifests: [...manifests], annotations: indexAnnotations(naming) });
}

const PLATFORM_ORDER = ['architecture', 'os', 'os.version', 'os.features', 'variant'];
const DESCRIPTOR_ORDER = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'];
const INDEX_ORDER = ['schemaVersion', 'mediaType', 'artifactType', 'manifests', 'subject', 'annotations'];

/** Copies `obj` with the `order` keys first (when present), then the rest in their own order. */
function ordered(obj: Record<string, unknown>, order: readonly string[], map: (key: string, value: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of [...order.filter((k) => Object.hasOwn(obj, k)), ...Object.keys(obj).filter((k) => !order.includes(k))]) {
    if (obj[key] !== undefined) out[key] = map(key, obj[key]);
  }
  return out;
}

function canonicalPlatform(platform: Platform): Platform {
  return ordered(platform, PLATFORM_ORDER, (_k, v) => v) as Platform;
}

/** A descriptor with Go's field order, sorted annotation keys and an ordered platform. */
export function canonicalDescriptor(d: Descriptor): Descriptor {
  return ordered(d, DESCRIPTOR_ORDER, (key, value) => {
    if (key === 'annotations' && isObject(value)) return sortedRecord(value as Record<string, string>);
    if (key === 'platform' && isObject(value)) return canonicalPlatform(value as Platform);
    return value;
  }) as Descriptor;
}

/**
 * The exact bytes of an index (e.g. after merge.ts): Go's field order, canonical
 * descriptors. An index nesting deeper than MAX_JSON_DEPTH (which no accepted
 * push has) is refused rather than walked recursively.
 */
export function serializeIndex(index: IndexJson): Buffer {
  if (valueDeeperThan(index, MAX_JSON_DEPTH)) {
    throw new ManifestInvalidError(`the index nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
  }
  return Buffer.from(
    JSON.stringify(
      ordered(index, INDEX_ORDER, (key, value) => {
        if (key === 'manifests' && Array.isArray(value)) return value.map((d: Descriptor) => canonicalDescriptor(d));
        if (key === 'annotations' && isObject(value)) return sortedRecord(value as Record<string, string>);
        return value;
      }),
    ),
  );
}

export interface VariantInput extends NamingInput {
  arch: Arch;
  plat: string;
  /** The Unikraft version: `os.version` and `org.unikraft.kernel.version`. */
  version?: string | undefined;
  features: readonly string[];
  /** Exactly one kernel layer, at most one initrd layer; the kernel first. */
  layers: readonly LayerRef[];
  cmd?: readonly string[] | undefined;
  env?: readonly string[] | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
  created: string;
  /** More manifest annotations (see ManifestInput). */
  extraAnnotations?: Readonly<Record<string, string>> | undefined;
}

export interface Variant {
  config: Buffer;
  configDigest: Digest;
  manifest: Buffer;
  manifestDigest: Digest;
  /** The manifest's descriptor for the index. */
  descriptor: Descriptor;
}

/** Config blob, manifest and index descriptor of one variant, from layers already stored. */
export function buildVariant(input: VariantInput): Variant {
  const kernels = input.layers.filter((l) => l.kind === 'kernel').length;
  if (kernels !== 1) throw new UnikernelInputError('kernel', kernels === 0 ? 'a kernel is required' : 'only one kernel per variant');
  if (input.layers.filter((l) => l.kind === 'initrd').length > 1) throw new UnikernelInputError('initrd', 'only one initrd per variant');
  if (input.layers.filter((l) => l.kind === 'urunc').length > 1) throw new UnikernelInputError('urunc', 'only one urunc.json per variant');
  const order: Record<LayerKind, number> = { kernel: 0, initrd: 1, urunc: 2 };
  const layers = [...input.layers].sort((a, b) => order[a.kind] - order[b.kind]);
  const platformInput: PlatformInput = { arch: input.arch, plat: input.plat, osVersion: input.version, features: input.features };
  const config = configBlob({ ...platformInput, cmd: input.cmd, env: input.env, labels: input.labels, diffIds: layers.map((l) => l.digest) });
  const configDigest = digestOf(config);
  const platform = variantPlatform(platformInput);
  const manifest = imageManifest({
    name: input.name,
    tag: input.tag,
    kraftkitVersion: input.kraftkitVersion,
    kernelVersion: input.version,
    created: input.created,
    extraAnnotations: input.extraAnnotations,
    config: { digest: configDigest, size: config.length },
    platform,
    layers,
  });
  return { config, configDigest, manifest, manifestDigest: digestOf(manifest), descriptor: indexDescriptor(manifest, platform) };
}
