/**
 * `GET /v2/<name>/_unikraft/diff?from=&to=`: finds one variant on each side (a
 * reference to a variant manifest is that variant; one to an index is narrowed by
 * the arch, plat and kconfig filters to exactly one) and diffs them (diff.ts).
 */
import type { Digest } from '../oci/digest.js';
import { isObject, type Descriptor } from '../oci/descriptor.js';
import { ManifestUnknownError } from '../domain/errors.js';
import type { Registry } from '../registry/registry.js';
import type { IndexedVariant } from '../storage/types.js';
import { diffVariants, type DiffSide, type VariantDiff } from './diff.js';
import { UnikernelInputError } from './errors.js';
import { featuresMatch, kconfigTerms, type VariantQuery } from './filter.js';
import { Annotation, normalizeArch, normalizePlat, tryNormalizeArch, tryNormalizePlat } from './names.js';
import { isImageManifest } from './platform.js';
import { parseJson } from './tag-variants.js';
import { VariantIndex } from './variant-index.js';

export class DiffService {
  private readonly index: VariantIndex;

  constructor(private readonly registry: Registry) {
    this.index = new VariantIndex(registry.deps);
  }

  async diff(repo: string, from: string, to: string, query: VariantQuery): Promise<VariantDiff> {
    return diffVariants(repo, await this.side(repo, from, query, 'from'), await this.side(repo, to, query, 'to'));
  }

  private async side(repo: string, reference: string, query: VariantQuery, which: 'from' | 'to'): Promise<DiffSide> {
    const record = await this.registry.manifests.get(repo, reference);
    const all = (await this.index.variantsOf(repo, record)) ?? [];
    const arch = query.arch?.trim() ? normalizeArch(query.arch.trim()) : undefined;
    const plat = query.plat?.trim() ? normalizePlat(query.plat.trim()) : undefined;
    const terms = kconfigTerms(query);
    const picked = all.filter(
      (v) =>
        (arch === undefined || tryNormalizeArch(v.architecture) === arch) &&
        (plat === undefined || tryNormalizePlat(v.os) === plat) &&
        featuresMatch(v.features, terms, query.match),
    );
    if (all.length === 0) throw new ManifestUnknownError(reference, { reason: `${which} holds no unikernel variant` });
    if (picked.length === 0) {
      throw new ManifestUnknownError(reference, { reason: `no variant of ${which} matches the filters`, filters: { arch: query.arch, plat: query.plat, kconfig: query.kconfig } });
    }
    if (picked.length > 1) {
      const names = picked.map((v) => `${v.architecture}/${v.os}`).join(', ');
      throw new UnikernelInputError('filter', `${which} (${reference}) holds ${picked.length} matching variants (${names}): narrow it with arch, plat or kconfig`, {
        reference,
        variants: picked.map((v) => v.digest),
      });
    }
    return this.describe(repo, reference, record.digest, picked[0]!);
  }

  private async describe(repo: string, reference: string, index: Digest, v: IndexedVariant): Promise<DiffSide> {
    const child = await this.registry.deps.meta.getManifest(repo, v.digest);
    const manifest = child === undefined ? undefined : parseJson(child.bytes);
    const parts = new Map<string, { digest: Digest; size: number }>();
    if (isImageManifest(manifest)) {
      const entry = (d: Descriptor) => ({ digest: d.digest, size: typeof d.size === 'number' ? d.size : 0 });
      parts.set('config', entry(manifest.config));
      manifest.layers.forEach((l, i) => {
        const a = isObject(l.annotations) ? l.annotations : {};
        const role = typeof a[Annotation.KernelImage] === 'string' ? 'kernel' : typeof a[Annotation.KernelInitrd] === 'string' ? 'initrd' : `layer[${i}]`;
        parts.set(parts.has(role) ? `layer[${i}]` : role, entry(l));
      });
    }
    const platform: DiffSide['platform'] = { architecture: v.architecture, os: v.os };
    if (v.version !== undefined) platform['os.version'] = v.version;
    return { reference, index, manifest: v.digest, platform, features: v.features, parts, imageSize: v.imageSize };
  }
}
