/**
 * Selecting variants of a unikernel index (format doc §6, §8.2).
 *
 * filterIndex is unireg's own filter for pulls and listings: arch and plat are
 * compared after alias normalisation; a `KEY=VALUE` filter must equal one of the
 * descriptor's os.features; a bare `KEY` matches any `KEY=...` feature.
 *
 * kraftSelect reproduces what a kraft client picks from an index, so tests can
 * prove that what unireg serves is what kraft would choose.
 */
import type { Descriptor } from '../oci/descriptor.js';
import { UnikernelInputError } from './errors.js';
import { KEY_SYNTAX } from './kconfig.js';
import { Annotation, normalizeArch, normalizePlat, tryNormalizeArch, tryNormalizePlat } from './names.js';
import { featureList, type IndexJson } from './platform.js';

export interface VariantQuery {
  arch?: string | undefined;
  plat?: string | undefined;
  /** `KEY=VALUE` or bare `KEY`; empty strings are ignored. */
  kconfig?: readonly string[] | undefined;
}

export type FilterName = 'arch' | 'plat' | 'kconfig';

export interface FilterResult {
  /** The index with the same top-level fields and only the matching manifests. */
  index: IndexJson;
  /** The filters that were applied, in the order arch, plat, kconfig. */
  applied: FilterName[];
}

type KconfigTest = (feature: string) => boolean;

function kconfigTest(filter: string): KconfigTest {
  const eq = filter.indexOf('=');
  const key = eq < 0 ? filter : filter.slice(0, eq);
  if (!KEY_SYNTAX.test(key)) {
    throw new UnikernelInputError('filter', `kconfig filter ${JSON.stringify(filter)} must be KEY or KEY=VALUE`, { value: filter });
  }
  if (eq >= 0) return (feature) => feature === filter;
  const prefix = `${key}=`;
  return (feature) => feature.startsWith(prefix);
}

function featuresOf(d: Descriptor): string[] {
  return featureList(d.platform?.['os.features']);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The variants of `index` matching every given filter. An unknown arch or an
 * unsyntactic plat or kconfig filter is a UnikernelInputError; a valid filter
 * that nothing matches gives an index with no manifests.
 */
export function filterIndex(index: IndexJson, query: VariantQuery): FilterResult {
  const applied: FilterName[] = [];
  const archQuery = nonEmpty(query.arch);
  const platQuery = nonEmpty(query.plat);
  const arch = archQuery === undefined ? undefined : normalizeArch(archQuery);
  const plat = platQuery === undefined ? undefined : normalizePlat(platQuery);
  const tests = (query.kconfig ?? []).filter((k) => k.trim() !== '').map((k) => kconfigTest(k.trim()));
  if (arch !== undefined) applied.push('arch');
  if (plat !== undefined) applied.push('plat');
  if (tests.length > 0) applied.push('kconfig');

  const manifests = index.manifests.filter((d) => {
    const p = d.platform;
    if (arch !== undefined && (typeof p?.architecture !== 'string' || tryNormalizeArch(p.architecture) !== arch)) return false;
    if (plat !== undefined && (typeof p?.os !== 'string' || tryNormalizePlat(p.os) !== plat)) return false;
    const features = featuresOf(d);
    return tests.every((t) => features.some(t));
  });
  return { index: { ...index, manifests }, applied };
}

/**
 * What kraft (v0.9–0.11) picks, per format doc §6: descriptors without
 * `sh.kraftkit.version` or without a platform are skipped; `os` must equal the
 * requested plat and `architecture` the requested arch (the requested values
 * normalised as kraft's CLI does; the descriptor's compared as stored); every
 * requested kconfig string must be a substring of some feature. An absent arch or
 * plat is not compared, as in kraft.
 */
export function kraftSelect(index: IndexJson, query: VariantQuery): Descriptor[] {
  const archQuery = nonEmpty(query.arch);
  const platQuery = nonEmpty(query.plat);
  const arch = archQuery === undefined ? undefined : (tryNormalizeArch(archQuery) ?? archQuery);
  const plat = platQuery === undefined ? undefined : (tryNormalizePlat(platQuery) ?? platQuery);
  const kconfig = query.kconfig ?? [];
  return index.manifests.filter((d) => {
    if (d.annotations?.[Annotation.KraftKitVersion] === undefined) return false;
    const p = d.platform;
    if (p === undefined) return false;
    if (plat !== undefined && p.os !== plat) return false;
    if (arch !== undefined && p.architecture !== arch) return false;
    const features = featuresOf(d);
    return kconfig.every((k) => features.some((f) => f.includes(k)));
  });
}
