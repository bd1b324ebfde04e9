/**
 * kconfig → `os.features` (format doc §5). A Unikraft `.config` becomes the sorted
 * list of `KEY=VALUE` strings that kraft stores in the config blob and in the
 * platform of the config and index descriptors, and that kraft clients (and
 * unireg's filters) query. Host-specific keys are skipped, and the keys kraft
 * derives from the architecture and platform are always added, so a bare kernel
 * with no `.config` is still selectable by `--arch`/`--plat`.
 */
import { UnikernelInputError } from './errors.js';
import { tryNormalizePlat, type Arch } from './names.js';

/** Keys that hold paths on the build machine (kraft's pack.go skips exactly these). */
export const DEFAULT_SKIP_KEYS: readonly string[] = ['CONFIG_UK_APP', 'CONFIG_UK_BASE'];

/** The key carrying the Unikraft version, used for `os.version` and `org.unikraft.kernel.version`. */
export const FULLVERSION_KEY = 'CONFIG_UK_FULLVERSION';

/** A kconfig symbol name as Kconfig writes it. */
export const KEY_SYNTAX = /^[A-Za-z0-9_]+$/;

export interface KconfigEntry {
  key: string;
  /** With one surrounding pair of `"` removed; escapes inside are kept as written. */
  value: string;
  /** 1-based line number in the input. */
  line: number;
}

/**
 * Parses `.config` text: each line is trimmed (so CRLF endings and indentation
 * are harmless); blank lines and `#` lines (including `# CONFIG_X is not set`)
 * are skipped; the rest must be `KEY=VALUE`, split at the first `=`.
 * Throws UnikernelInputError naming the line for anything else.
 */
export function parseKconfig(text: string): KconfigEntry[] {
  const entries: KconfigEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UnikernelInputError('kconfig', `line ${i + 1}: expected KEY=VALUE`, { line: i + 1 });
    const key = line.slice(0, eq);
    if (!KEY_SYNTAX.test(key)) {
      throw new UnikernelInputError('kconfig', `line ${i + 1}: invalid key ${JSON.stringify(key)}`, { line: i + 1 });
    }
    entries.push({ key, value: unquote(line.slice(eq + 1)), line: i + 1 });
  }
  return entries;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** The keys kraft derives from the architecture (unikraft/arch). */
const ARCH_KEYS: Readonly<Record<Arch, readonly string[]>> = {
  x86_64: ['CONFIG_ARCH_X86_64=y'],
  arm64: ['CONFIG_ARCH_ARM_64=y'],
  arm: ['CONFIG_ARCH_ARM_32=y'],
};

/** The keys kraft derives from the (canonical) platform (unikraft/plat); other platforms add none. */
const PLAT_KEYS: Readonly<Record<string, readonly string[]>> = {
  qemu: ['CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_QEMU=y'],
  fc: ['CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_FIRECRACKER=y'],
  kraftcloud: ['CONFIG_PLAT_KVM=y', 'CONFIG_KVM_VMM_FIRECRACKER=y'],
  xen: ['CONFIG_PLAT_XEN=y'],
  linuxu: ['CONFIG_PLAT_LINUXU=y'],
};

/** The derived `KEY=VALUE` strings for an arch and a platform (aliases such as `kvm` accepted). */
export function derivedFeatures(arch: Arch, plat: string): string[] {
  const canonical = tryNormalizePlat(plat) ?? plat;
  return [...ARCH_KEYS[arch], ...(Object.hasOwn(PLAT_KEYS, canonical) ? (PLAT_KEYS[canonical] ?? []) : [])];
}

/** Byte-wise (UTF-8) comparison, as Go's sort of strings orders them. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorted byte-wise ascending, duplicates dropped. */
export function sortFeatures(list: Iterable<string>): string[] {
  return [...new Set(list)].sort(compareBytes);
}

export interface FeatureInput {
  arch: Arch;
  /** Platform name (canonical, or an alias such as `kvm`). */
  plat: string;
  /** Parsed `.config` entries, or none for a bare kernel. */
  kconfig?: readonly KconfigEntry[];
  /** Keys to leave out; DEFAULT_SKIP_KEYS when absent. */
  skip?: readonly string[];
}

/**
 * The `os.features` list: the `.config` entries (a key set twice keeps its last
 * value, as Kconfig does; skipped keys left out) plus the derived keys, which win
 * over a `.config` line with the same key, sorted byte-wise and deduplicated.
 */
export function features(input: FeatureInput): string[] {
  const skip = new Set(input.skip ?? DEFAULT_SKIP_KEYS);
  const values = new Map<string, string>();
  for (const { key, value } of input.kconfig ?? []) {
    if (!skip.has(key)) values.set(key, value);
  }
  for (const derived of derivedFeatures(input.arch, input.plat)) {
    const eq = derived.indexOf('=');
    values.set(derived.slice(0, eq), derived.slice(eq + 1));
  }
  return sortFeatures([...values].map(([key, value]) => `${key}=${value}`));
}

/** The value of CONFIG_UK_FULLVERSION (last one wins), or undefined when absent or empty. */
export function fullVersion(entries: readonly KconfigEntry[]): string | undefined {
  let version: string | undefined;
  for (const { key, value } of entries) if (key === FULLVERSION_KEY) version = value;
  return version === undefined || version === '' ? undefined : version;
}
