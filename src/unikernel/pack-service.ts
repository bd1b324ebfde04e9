/**
 * Server-side packing: a kernel (plus optional initrd and .config) becomes a
 * KraftKit-layout variant (layers, config, manifest) merged into the tag's index.
 *
 * Inputs are validated before anything is written, so bad input leaves the tag
 * exactly as it was. Layers stream: header, file bytes, padding flow through the
 * hashing spool into the blob directory, so a 500 MB kernel is never in memory.
 * The manifest and index go through ManifestService.put, the same path (and the
 * same merging, under the same lock) as a push from kraft.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import { parseTag } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import { TagExistsError, UnikernelInputError, type UnikernelInputField } from './errors.js';
import { buildVariant, imageIndex, layerDescriptor, rfc3339, variantPlatform, type LayerRef } from './image.js';
import { features, fullVersion, parseKconfig } from './kconfig.js';
import { layerSize, tarHeader, tarPadding } from './layer.js';
import { packEvents } from '../webhooks/registry-events.js';
import { Budgets } from './budgets.js';
import { INITRD_MODE, INITRD_PATH, KERNEL_MODE, KERNEL_PATH, KRAFTKIT_VERSION, normalizeArch, normalizePlat, parseStrategy } from './names.js';
import { layerBytes } from './layer.js';
import { BootAnnotation } from './boot/attestation.js';
import { attachArtifact } from './referrers.js';
import { PredicateAnnotation, PROVENANCE_TYPE, provenanceStatement, SLSA_PROVENANCE_V1 } from './provenance.js';
import { URUNC_JSON_MODE, URUNC_JSON_PATH, uruncAnnotations, uruncJson } from './urunc.js';
import { UNIREG_VERSION } from '../version.js';

/** Where a kernel or initrd comes from: a file the request was spooled to, or a blob already in the repository. */
export type FileSource = { kind: 'file'; path: string } | { kind: 'blob'; digest: string };

export interface PackRequest {
  repo: string;
  /** The repository as clients name it (`host:port/repo`), for kraft's annotations. */
  displayName: string;
  tag?: string;
  arch?: string;
  plat?: string;
  version?: string;
  cmd: string[];
  env: string[];
  labels: string[] | Record<string, string>;
  strategy?: string;
  kernel?: FileSource;
  initrd?: FileSource;
  /** The text of a `.config`. */
  kconfig?: string;
  /** Add urunc's annotations and /urunc.json; undefined: the server default (`unikernel.urunc`). */
  urunc?: boolean | undefined;
  /** The expected-output regex of this variant's boot check (stored as a manifest annotation). */
  bootExpect?: string | undefined;
  /** The authenticated principal (auth on), for the provenance. */
  principal?: string | undefined;
}

export interface PackResult {
  repository: string;
  tag: string;
  /** The index the tag now resolves to. */
  index: Digest;
  manifest: Digest;
  config: Digest;
  platform: Platform;
  layers: Descriptor[];
  strategy: string;
  /** The provenance referrer (an in-toto statement) of the variant manifest. */
  provenance: Digest;
}

function requireField(value: string | undefined, field: UnikernelInputField): string {
  if (value === undefined || value.trim() === '') throw new UnikernelInputError(field, `${field} is required`);
  return value.trim();
}

function parseLabels(labels: PackRequest['labels']): Record<string, string> {
  if (!Array.isArray(labels)) return { ...labels };
  const out: Record<string, string> = {};
  for (const label of labels) {
    const eq = label.indexOf('=');
    if (eq <= 0) throw new UnikernelInputError('manifest', `label ${JSON.stringify(label)} must be key=value`);
    out[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return out;
}

export class PackService {
  constructor(private readonly registry: Registry) {}

  async pack(request: PackRequest): Promise<PackResult> {
    const { deps } = this.registry;
    const startedOn = new Date();
    // 1. Validate everything before writing anything.
    if (request.kernel === undefined) throw new UnikernelInputError('kernel', 'a kernel is required');
    const tag = parseTag(request.tag?.trim() || 'latest');
    const arch = normalizeArch(requireField(request.arch, 'arch'));
    const plat = normalizePlat(requireField(request.plat, 'plat'));
    const strategy = parseStrategy(request.strategy, deps.config.unikernel.defaultStrategy);
    const entries = request.kconfig === undefined ? [] : parseKconfig(request.kconfig);
    const featureList = features({ arch, plat, kconfig: entries, skip: deps.config.unikernel.kconfigSkip });
    const version = request.version?.trim() || fullVersion(entries);
    for (const e of request.env) {
      if (!/^[^=\s]+=/.test(e)) throw new UnikernelInputError('manifest', `env ${JSON.stringify(e)} must be KEY=VALUE`);
    }
    const labels = parseLabels(request.labels);
    const urunc = request.urunc ?? deps.config.unikernel.urunc;
    const bootExpect = request.bootExpect === undefined || request.bootExpect === '' ? undefined : request.bootExpect;
    if (bootExpect !== undefined) {
      try {
        new RegExp(bootExpect);
      } catch (err) {
        throw new UnikernelInputError('bootExpect', `not a regular expression: ${(err as Error).message}`);
      }
    }
    const uruncInput = { plat, version: version || undefined, cmd: request.cmd, initrd: request.initrd !== undefined };
    const extraAnnotations: Record<string, string> = urunc ? uruncAnnotations(uruncInput) : {};
    if (bootExpect !== undefined) extraAnnotations[BootAnnotation.Expect] = bootExpect;
    const kernelSize = await this.sourceSize(request.repo, request.kernel, 'kernel');
    const initrdSize = request.initrd ? await this.sourceSize(request.repo, request.initrd, 'initrd') : undefined;
    if (strategy === 'abort' && (await deps.meta.getTag(request.repo, tag)) !== undefined) throw new TagExistsError(tag);
    // A pack always gives the tag a new index: refused on an immutable tag that exists, before anything is stored.
    await this.registry.manifests.checkMutable(request.repo, tag);
    // A kernel over the repository's budget is refused before its layer is stored (the push checks every limit again).
    new Budgets(deps.config.unikernel.budgets).checkKernel(request.repo, layerSize(kernelSize), `${arch}/${plat} (being packed)`);

    // 2. Layers, then config and manifest, then the index by tag (merged by strategy).
    const kernel = await this.storeLayer(request.repo, request.kernel, kernelSize, 'kernel', KERNEL_PATH, KERNEL_MODE);
    const layers: LayerRef[] = [kernel.layer];
    let initrd: { digest: Digest; size: number } | undefined;
    if (request.initrd && initrdSize !== undefined) {
      const stored = await this.storeLayer(request.repo, request.initrd, initrdSize, 'initrd', INITRD_PATH, INITRD_MODE);
      layers.push(stored.layer);
      initrd = { digest: stored.file, size: initrdSize };
    }
    if (urunc) {
      const stored = await this.registry.uploads.store(request.repo, [layerBytes(URUNC_JSON_PATH, uruncJson(uruncInput), URUNC_JSON_MODE)]);
      layers.push({ kind: 'urunc', digest: stored.digest, size: stored.size });
    }
    const variant = buildVariant({
      name: request.displayName,
      tag,
      arch,
      plat,
      version,
      features: featureList,
      layers,
      cmd: request.cmd,
      env: request.env,
      labels,
      created: rfc3339(new Date()),
      extraAnnotations,
    });
    const config = await this.registry.uploads.store(request.repo, [variant.config]);
    await this.registry.manifests.put(request.repo, variant.manifestDigest, variant.manifest, MediaType.OciManifest);
    // The provenance is attached before the tag moves: a pack that answers 201 has its statement.
    const kconfigBytes = request.kconfig === undefined ? undefined : Buffer.from(request.kconfig, 'utf8');
    const statement = provenanceStatement({
      name: request.displayName,
      repository: request.repo,
      tag,
      manifest: variant.manifestDigest,
      parameters: {
        arch,
        plat,
        version: version || null,
        cmd: request.cmd,
        env: request.env,
        labels,
        strategy,
        urunc,
        bootExpect: bootExpect ?? null,
      },
      kernel: { digest: kernel.file, size: kernelSize },
      initrd,
      kconfig: kconfigBytes && { digest: digestOf(kconfigBytes), size: kconfigBytes.length },
      config: config.digest,
      layers: layers.map((l) => ({ name: `layer:${l.kind}`, digest: l.digest })),
      principal: request.principal,
      kconfigSkip: deps.config.unikernel.kconfigSkip,
      kraftkitVersion: KRAFTKIT_VERSION,
      uniregVersion: UNIREG_VERSION,
      startedOn: startedOn.toISOString(),
      finishedOn: new Date().toISOString(),
    });
    const subject: Descriptor = { mediaType: MediaType.OciManifest, digest: variant.manifestDigest, size: variant.manifest.length };
    const provenance = await attachArtifact(this.registry, request.repo, subject, {
      artifactType: PROVENANCE_TYPE,
      blob: statement,
      annotations: { [PredicateAnnotation]: SLSA_PROVENANCE_V1, 'org.opencontainers.image.created': rfc3339(new Date()) },
    });
    const index = imageIndex([variant.descriptor], { name: request.displayName, tag });
    const facts = {
      repository: request.repo,
      tag,
      manifest: variant.manifestDigest,
      config: config.digest,
      platform: variantPlatform({ arch, plat, osVersion: version, features: featureList }),
      layers: layers.map(layerDescriptor),
      strategy,
      provenance,
    };
    // The `unikernel.packed` event is queued with the index's write: the pack is done when the tag moves.
    const events = (target: Digest) => packEvents(deps.webhooks, facts, target);
    const put = await this.registry.manifests.put(request.repo, tag, index, MediaType.OciIndex, { strategy, events });
    return { ...facts, index: put.tagDigest ?? put.digest };
  }

  private async sourceSize(repo: string, source: FileSource, field: UnikernelInputField): Promise<number> {
    if (source.kind === 'file') return (await stat(source.path)).size;
    let digest: Digest;
    try {
      digest = parseDigest(source.digest);
    } catch {
      throw new UnikernelInputError(field, `${source.digest} is not a valid digest`);
    }
    const size = await this.registry.deps.meta.getBlobLink(repo, digest);
    if (size === undefined) {
      throw new UnikernelInputError(field, `blob ${digest} is not in repository ${repo}: upload it first`, { digest });
    }
    return size;
  }

  private async open(source: FileSource): Promise<Readable> {
    if (source.kind === 'file') return createReadStream(source.path, { highWaterMark: 1 << 20 });
    return this.registry.deps.blobs.read(source.digest as Digest);
  }

  private async storeLayer(
    repo: string,
    source: FileSource,
    size: number,
    kind: 'kernel' | 'initrd',
    path: string,
    mode: number,
  ): Promise<{ layer: LayerRef; file: Digest }> {
    const body = await this.open(source);
    // The file's own digest (the provenance names the input as uploaded), hashed as it streams into the layer.
    const hash = createHash('sha256');
    async function* layer(): AsyncGenerator<Buffer> {
      yield tarHeader(path, size, mode);
      let seen = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        seen += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
      if (seen !== size) throw new UnikernelInputError(kind, `${kind} changed size while it was packed`);
      yield tarPadding(size);
    }
    const stored = await this.registry.uploads.store(repo, layer());
    if (stored.size !== layerSize(size)) throw new UnikernelInputError('layer', 'layer size mismatch');
    return { layer: { kind, digest: stored.digest, size: stored.size }, file: `sha256:${hash.digest('hex')}` as Digest };
  }
}
