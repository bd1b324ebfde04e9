/**
 * Selecting variants of a unikernel index (format doc §6, §8.2).
 *
 * filterIndex is unireg's filter for pulls, listings and search: arch and plat are
 * compared after alias normalisation; kconfig terms by one of two rules:
 *   kraft (the default) what kraft's pull does (kraftkit oci/manager.go, commit
 *         f02a5331, lines 282-309): a variant with fewer features than there are
 *         terms is skipped, else every term must be a *substring* of some feature
 *         (internal/set/string_set.go: Contains is strings.Contains over the
 *         elements), so `CONFIG_HZ=1` matches `CONFIG_HZ=100`;
 *   exact a `KEY=VALUE` term must equal one of the features; a bare `KEY`
 *         matches any `KEY=...` feature.
 *
 * kraftSelect reproduces what a kraft client picks from an index, so tests can
 * prove that what unireg serves is what kraft would choose.
 */
import type { Descriptor } from '../oci/descriptor.js';
import { UnikernelInputError } from './errors.js';
import { KEY_SYNTAX } from './kconfig.js';
import { Annotation, normalizeArch, normalizePlat, tryNormalizeArch, tryNormalizePlat } from './names.js';
import { featureList, type IndexJson } from './platform.js';

/** How kconfig terms are compared with a variant's os.features. */
export type KconfigMatch = 'kraft' | 'exact';
export const KCONFIG_MATCHES: readonly KconfigMatch[] = ['kraft', 'exact'];

export interface VariantQuery {
  arch?: string | undefined;
  plat?: string | undefined;
  /** `KEY=VALUE` or bare `KEY`; empty strings are ignored. */
  kconfig?: readonly string[] | undefined;
  /** The kconfig rule; default `kraft`. */
  match?: KconfigMatch | undefined;
}

/** A `match` parameter: undefined or empty gives `fallback`; anything else but a known rule is a UnikernelInputError. */
export function parseMatch(value: string | undefined, fallback: KconfigMatch): KconfigMatch {
  if (value === undefined || value.trim() === '') return fallback;
  const found = KCONFIG_MATCHES.find((m) => m === value.trim());
  if (found === undefined) {
    throw new UnikernelInputError('filter', `match must be one of ${KCONFIG_MATCHES.join(', ')}`, { value });
  }
  return found;
}

export type FilterName = 'arch' | 'plat' | 'kconfig';

export interface FilterResult {
  /** The index with the same top-level fields and only the matching manifests. */
  index: IndexJson;
  /** The filters that were applied, in the order arch, plat, kconfig. */
  applied: FilterName[];
}

type KconfigTest = (feature: string) => boolean;

/** Throws a UnikernelInputError unless `filter` is `KEY` or `KEY=VALUE` (under either rule). */
export function checkKconfigTerm(filter: string): void {
  const eq = filter.indexOf('=');
  const key = eq < 0 ? filter : filter.slice(0, eq);
  if (!KEY_SYNTAX.test(key)) {
    throw new UnikernelInputError('filter', `kconfig filter ${JSON.stringify(filter)} must be KEY or KEY=VALUE`, { value: filter });
  }
}

/** The test one term makes of one feature string, by `match`. */
export function kconfigTest(filter: string, match: KconfigMatch = 'kraft'): KconfigTest {
  checkKconfigTerm(filter);
  if (match === 'kraft') return (feature) => feature.includes(filter);
  if (filter.includes('=')) return (feature) => feature === filter;
  const prefix = `${filter}=`;
  return (feature) => feature.startsWith(prefix);
}

/** The non-empty kconfig terms of a query, trimmed. */
export function kconfigTerms(query: VariantQuery): string[] {
  return (query.kconfig ?? []).map((k) => k.trim()).filter((k) => k !== '');
}

/** Whether a variant's features satisfy every term under `match` (kraft: also no more terms than features). */
export function featuresMatch(features: readonly string[], terms: readonly string[], match: KconfigMatch = 'kraft'): boolean {
  if (terms.length === 0) return true;
  if (match === 'kraft' && terms.length > features.length) return false;
  return terms.every((t) => {
    const test = kconfigTest(t, match);
    return features.some(test);
  });
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
  const terms = kconfigTerms(query);
  const match = query.match ?? 'kraft';
  terms.forEach(checkKconfigTerm);
  if (arch !== undefined) applied.push('arch');
  if (plat !== undefined) applied.push('plat');
  if (terms.length > 0) applied.push('kconfig');

  const manifests = index.manifests.filter((d) => {
    const p = d.platform;
    if (arch !== undefined && (typeof p?.architecture !== 'string' || tryNormalizeArch(p.architecture) !== arch)) return false;
    if (plat !== undefined && (typeof p?.os !== 'string' || tryNormalizePlat(p.os) !== plat)) return false;
    return featuresMatch(featuresOf(d), terms, match);
  });
  return { index: { ...index, manifests }, applied };
}

/**
 * What kraft (v0.9–0.11) picks, per format doc §6: descriptors without
 * `sh.kraftkit.version` or without a platform are skipped; `os` must equal the
 * requested plat and `architecture` the requested arch (the requested values
 * normalised as kraft's CLI does; the descriptor's compared as stored); every
 * requested kconfig string must be a substring of some feature. An absent arch or
 * plat is not compared, as in kraft. A descriptor with fewer features than
 * requested strings is skipped (kraftkit oci/manager.go line 287).
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
    if (kconfig.length > 0 && kconfig.length > features.length) return false;
    return kconfig.every((k) => features.some((f) => f.includes(k)));
  });
}
