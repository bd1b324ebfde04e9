/**
 * What urunc (the containerd runtime for unikernels, github.com/urunc-dev/urunc)
 * needs to run a kraft-layout variant, derived from that layout.
 *
 * Followed: urunc at commit efbd251b12d824d0264c8dff3b21c4b46bbe58df (v0.5.0-50,
 * 2025-06-12), pkg/unikontainers/config.go:
 *   - lines 38-48: the annotation names `com.urunc.unikernel.{unikernelType,
 *     unikernelVersion,binary,cmdline,hypervisor,initrd,block,blkMntPoint,useDMBlock}`;
 *   - lines 50-61: UnikernelConfig, whose JSON tags are those names, in this order,
 *     with `omitempty` on cmdline, initrd, block and blkMntPoint only;
 *   - lines 63-94: GetUnikernelConfig reads the annotations of the OCI spec and,
 *     when they are empty (containerd drops image annotations, its FIXME), the file
 *     `urunc.json` (pkg/unikontainers/utils.go:35) at the root of the rootfs;
 *   - lines 187-244: decode() base64-decodes (standard encoding) every value, from
 *     either source, so every value is written base64-encoded.
 * unireg writes both: the annotations on the variant manifest (and so on its index
 * descriptor), and `/urunc.json` as an extra one-entry layer. The kraft layout is
 * untouched: the kernel and initrd layers keep their paths and annotations, and
 * kraft ignores a layer it has no annotation for.
 */
import { UnikernelInputError } from './errors.js';
import { INITRD_PATH, KERNEL_PATH } from './names.js';

export const URUNC_JSON_PATH = '/urunc.json';
export const URUNC_JSON_MODE = 0o644;

export const UruncAnnotation = {
  Type: 'com.urunc.unikernel.unikernelType',
  Version: 'com.urunc.unikernel.unikernelVersion',
  Cmdline: 'com.urunc.unikernel.cmdline',
  Binary: 'com.urunc.unikernel.binary',
  Hypervisor: 'com.urunc.unikernel.hypervisor',
  Initrd: 'com.urunc.unikernel.initrd',
  UseDMBlock: 'com.urunc.unikernel.useDMBlock',
} as const;

/** kraft platform (OCI `os`) → urunc hypervisor; urunc runs Unikraft on these two. */
const HYPERVISORS: Readonly<Record<string, string>> = { qemu: 'qemu', fc: 'firecracker' };

export interface UruncInput {
  plat: string;
  version?: string | undefined;
  cmd: readonly string[];
  initrd: boolean;
}

const b64 = (value: string) => Buffer.from(value, 'utf8').toString('base64');

/** The fields in UnikernelConfig's order, plain (not yet encoded); omitted fields are absent. */
export function uruncFields(input: UruncInput): [string, string][] {
  const hypervisor = HYPERVISORS[input.plat];
  if (hypervisor === undefined) {
    throw new UnikernelInputError('plat', `urunc runs Unikraft on qemu or fc (firecracker), not on ${input.plat}`, { value: input.plat });
  }
  const fields: [string, string][] = [
    [UruncAnnotation.Type, 'unikraft'],
    [UruncAnnotation.Version, input.version ?? ''],
  ];
  const cmdline = input.cmd.join(' ');
  if (cmdline !== '') fields.push([UruncAnnotation.Cmdline, cmdline]);
  fields.push([UruncAnnotation.Binary, KERNEL_PATH], [UruncAnnotation.Hypervisor, hypervisor]);
  if (input.initrd) fields.push([UruncAnnotation.Initrd, INITRD_PATH]);
  // No block device: the rootfs is not mounted into the unikernel (false, not the host's default).
  fields.push([UruncAnnotation.UseDMBlock, 'false']);
  return fields;
}

/** The manifest annotations: the same keys as urunc.json, values base64-encoded as urunc decodes them. */
export function uruncAnnotations(input: UruncInput): Record<string, string> {
  return Object.fromEntries(uruncFields(input).map(([k, v]) => [k, b64(v)]));
}

/** The bytes of `/urunc.json`: what Go's json.Marshal of urunc's UnikernelConfig gives (field order, no spaces). */
export function uruncJson(input: UruncInput): Buffer {
  return Buffer.from(JSON.stringify(Object.fromEntries(uruncFields(input).map(([k, v]) => [k, b64(v)]))));
}
