/**
 * The vocabulary KraftKit uses for unikernels in OCI (format doc §2): architecture
 * and platform names with their aliases, the well-known paths inside layers, the
 * annotation keys, the media types and the merge strategies. Everything that
 * writes or compares these names goes through here so that `amd64` and `x86_64`,
 * or `kvm` and `qemu`, never end up as two different variants.
 */
import { MediaType } from '../oci/media-types.js';
import { UnikernelInputError } from './errors.js';

/** Architectures as kraft names them (OCI `architecture`). */
export type Arch = 'x86_64' | 'arm64' | 'arm';
export const ARCHITECTURES: readonly Arch[] = ['x86_64', 'arm64', 'arm'];

/**
 * Accepted spellings. `amd64` is Go's name (kraft maps it in HostArchitecture and
 * in ArchitectureConfig.KConfigValues), `aarch64` is the kernel's, `arm32` is the
 * name kraft's ArchitectureConfig.KConfigValues switches on for ARCH_ARM_32.
 */
const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  arm64: 'arm64',
  aarch64: 'arm64',
  arm: 'arm',
  arm32: 'arm',
};

/** The canonical name of an architecture, or undefined when kraft does not know it. */
export function tryNormalizeArch(input: string): Arch | undefined {
  const arch = input.trim().toLowerCase();
  return Object.hasOwn(ARCH_ALIASES, arch) ? ARCH_ALIASES[arch] : undefined;
}

/** The canonical name of an architecture; throws UnikernelInputError for an unknown one. */
export function normalizeArch(input: string): Arch {
  const arch = tryNormalizeArch(input);
  if (arch === undefined) {
    throw new UnikernelInputError('arch', `unknown architecture ${JSON.stringify(input)}; use one of ${ARCHITECTURES.join(', ')}`, {
      value: input,
    });
  }
  return arch;
}

/** Platform aliases (OCI `os`); other names are free-form (`kraftcloud`, `linuxu`, ...). */
const PLAT_ALIASES: Readonly<Record<string, string>> = { kvm: 'qemu', firecracker: 'fc' };
const PLAT_SYNTAX = /^[a-z0-9][a-z0-9_-]*$/;
const PLAT_MAX_LENGTH = 64;

/** The canonical platform name, or undefined when the name is not a sane identifier. */
export function tryNormalizePlat(input: string): string | undefined {
  const plat = input.trim().toLowerCase();
  if (plat.length > PLAT_MAX_LENGTH || !PLAT_SYNTAX.test(plat)) return undefined;
  return Object.hasOwn(PLAT_ALIASES, plat) ? PLAT_ALIASES[plat] : plat;
}

/** The canonical platform name; throws UnikernelInputError when it is not `[a-z0-9][a-z0-9_-]*`. */
export function normalizePlat(input: string): string {
  const plat = tryNormalizePlat(input);
  if (plat === undefined) {
    throw new UnikernelInputError('plat', `invalid platform ${JSON.stringify(input)}; expected [a-z0-9][a-z0-9_-]* (e.g. qemu, fc, xen)`, {
      value: input,
    });
  }
  return plat;
}

/** Well-known absolute paths (kraft's oci/wellknown.go); inside the tar the leading `/` is dropped. */
export const KERNEL_PATH = '/unikraft/bin/kernel';
export const INITRD_PATH = '/unikraft/bin/initrd';

/** Default file modes of the layer entries (format doc §3). */
export const KERNEL_MODE = 0o755;
export const INITRD_MODE = 0o644;

export const Annotation = {
  /** On the kernel layer, value KERNEL_PATH. */
  KernelImage: 'org.unikraft.kernel.image',
  /** On the initrd layer, value INITRD_PATH. */
  KernelInitrd: 'org.unikraft.kernel.initrd',
  ImageName: 'org.unikraft.image.name',
  KernelVersion: 'org.unikraft.kernel.version',
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  /** kraft ignores every descriptor without it (any value). */
  KraftKitVersion: 'sh.kraftkit.version',
  ContainerdImageName: 'io.containerd.image.name',
} as const;

/** The KraftKit release whose output unireg reproduces; the value of `sh.kraftkit.version`. */
export const KRAFTKIT_VERSION = '0.11.6';

export const UnikernelMediaType = {
  Index: MediaType.OciIndex,
  Manifest: MediaType.OciManifest,
  Config: 'application/vnd.oci.image.config.v1+json',
  /** Uncompressed: kraft reads only plain tar layers. */
  Layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** What to do when the tag already holds an index (format doc §7; kraft's `prompt` makes no sense on a server). */
export type MergeStrategy = 'merge' | 'overwrite' | 'abort';
export const MERGE_STRATEGIES: readonly MergeStrategy[] = ['merge', 'overwrite', 'abort'];
export const DEFAULT_MERGE_STRATEGY: MergeStrategy = 'merge';

/**
 * Parses a strategy name, case-insensitively; `exit` (kraft's older name) means
 * `abort`. An absent or empty value gives `fallback`.
 */
export function parseStrategy(input: string | undefined, fallback: MergeStrategy = DEFAULT_MERGE_STRATEGY): MergeStrategy {
  const value = (input ?? '').trim().toLowerCase();
  if (value === '') return fallback;
  if (value === 'exit') return 'abort';
  if ((MERGE_STRATEGIES as readonly string[]).includes(value)) return value as MergeStrategy;
  throw new UnikernelInputError('strategy', `unknown merge strategy ${JSON.stringify(input)}; use merge, overwrite or abort`, {
    value: input,
  });
}
