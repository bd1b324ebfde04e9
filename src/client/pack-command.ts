/**
 * `unireg pack`: upload a kernel (plus initrd and .config) to the registry's
 * packing endpoint, which builds the unikernel variant and merges it into the tag.
 */
import { COMMON_OPTIONS, parseCommand } from './args.js';
import { authorize, requestFailure } from './auth.js';
import { commandCredentials } from './credentials.js';
import { ClientError, exchange, jsonOf } from './http.js';
import { multipartBody, type PartInput } from './multipart.js';
import { progressLine } from './progress.js';
import { describeTarget, targetArgument, type Target } from './target.js';

export const PACK_USAGE = `usage: unireg pack --kernel FILE --arch ARCH --plat PLAT [options] HOST[:PORT]/REPO[:TAG]

Uploads a kernel to the registry, which packs it as a unikernel variant
(arch x plat x kconfig) and merges it into the tag (default tag: latest).

  --kernel FILE      the kernel image (required)
  --initrd FILE      an initrd (CPIO archive) to pack with it
  --kconfig FILE     the .config the kernel was built with (its features become os.features)
  --arch ARCH        x86_64, arm64 or arm (aliases amd64, aarch64) (required)
  --plat PLAT        qemu, fc, xen, kraftcloud, linuxu, ... (required)
  --version V        the Unikraft version (default: CONFIG_UK_FULLVERSION from --kconfig)
  --cmd ARG          an argument of the default command line (repeat, in order)
  --env KEY=VALUE    an environment variable (repeat)
  --label KEY=VALUE  a label (repeat)
  --strategy S       for a tag that already exists: merge (replace the same platform, keep
                     the others), overwrite or abort (default: the registry's, normally merge)
  --urunc            also add what urunc needs: com.urunc.unikernel.* annotations and a
                     /urunc.json layer (default: the registry's unikernel.urunc)
  --no-urunc         leave them out even when the registry adds them by default
  --boot-expect RE   the regex the console output of this variant's boot check must match
                     (when the registry boots variants: unikernel.bootCheck)
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print the registry's JSON answer instead of the summary`;

const STRATEGIES = ['merge', 'overwrite', 'abort'];

export interface PackResultJson {
  repository?: string;
  tag?: string;
  index?: string;
  manifest?: string;
  config?: string;
  platform?: { architecture?: string; os?: string; 'os.version'?: string; 'os.features'?: string[] };
  layers?: Array<{ digest?: string; size?: number; annotations?: Record<string, string> }>;
  strategy?: string;
  provenance?: string;
}

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg pack --help)`, 2);
}

const OPTIONS = {
  kernel: { type: 'string' },
  initrd: { type: 'string' },
  kconfig: { type: 'string' },
  arch: { type: 'string' },
  plat: { type: 'string' },
  version: { type: 'string' },
  cmd: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  strategy: { type: 'string' },
  urunc: { type: 'boolean' },
  'no-urunc': { type: 'boolean' },
  'boot-expect': { type: 'string' },
  ...COMMON_OPTIONS,
} as const;

function parse(args: string[]) {
  return parseCommand(args, OPTIONS, usage);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') throw usage(`missing ${flag}`);
  return value;
}

function layerKind(annotations: Record<string, string> | undefined): string {
  if (annotations?.['org.unikraft.kernel.image'] !== undefined) return 'kernel';
  if (annotations?.['org.unikraft.kernel.initrd'] !== undefined) return 'initrd';
  return 'layer';
}

/** The human summary of a pack result, one fact a line. */
export function formatPackResult(target: Target, r: PackResultJson): string {
  const p = r.platform ?? {};
  const features = p['os.features'] ?? [];
  const platform = [`${p.architecture ?? '?'}/${p.os ?? '?'}`];
  if (p['os.version']) platform.push(`version ${p['os.version']}`);
  platform.push(`${features.length} feature${features.length === 1 ? '' : 's'}`);
  const lines = [
    `packed ${target.host}/${r.repository ?? target.repo}:${r.tag ?? target.tag} (strategy ${r.strategy ?? '?'})`,
    `index:     ${r.index ?? '?'}`,
    `manifest:  ${r.manifest ?? '?'}`,
    `config:    ${r.config ?? '?'}`,
    `platform:  ${platform.join(', ')}`,
  ];
  (r.layers ?? []).forEach((l, i) => {
    lines.push(`${i === 0 ? 'layers:' : ''}`.padEnd(11) + `${l.digest ?? '?'}  ${layerKind(l.annotations)}, ${l.size ?? '?'} bytes`);
  });
  if (r.provenance !== undefined) lines.push(`provenance: ${r.provenance}`);
  return `${lines.join('\n')}\n`;
}

/** Runs `unireg pack`; returns the exit code. Throws ClientError on failure. */
export async function packCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    process.stdout.write(`${PACK_USAGE}\n`);
    return 0;
  }
  const target = targetArgument(positionals, { plainHttp: values['plain-http'] }, usage);
  const kernel = required(values.kernel, '--kernel');
  const arch = required(values.arch, '--arch');
  const plat = required(values.plat, '--plat');
  if (values.strategy !== undefined && !STRATEGIES.includes(values.strategy)) {
    throw usage(`--strategy must be one of ${STRATEGIES.join(', ')}`);
  }
  for (const env of values.env ?? []) if (!/^[^=\s]+=/.test(env)) throw usage(`--env ${JSON.stringify(env)} must be KEY=VALUE`);
  for (const label of values.label ?? []) if (!(label.indexOf('=') > 0)) throw usage(`--label ${JSON.stringify(label)} must be KEY=VALUE`);

  const creds = await commandCredentials(target.host, values).catch((err: unknown) => {
    throw new ClientError((err as Error).message, 2);
  });

  const parts: PartInput[] = [
    { kind: 'field', name: 'tag', value: target.tag },
    { kind: 'field', name: 'arch', value: arch },
    { kind: 'field', name: 'plat', value: plat },
  ];
  if (values.version !== undefined) parts.push({ kind: 'field', name: 'version', value: values.version });
  if (values.strategy !== undefined) parts.push({ kind: 'field', name: 'strategy', value: values.strategy });
  if (values.urunc && values['no-urunc']) throw usage('--urunc and --no-urunc exclude each other');
  if (values.urunc || values['no-urunc']) parts.push({ kind: 'field', name: 'urunc', value: values.urunc ? 'true' : 'false' });
  if (values['boot-expect'] !== undefined) parts.push({ kind: 'field', name: 'bootExpect', value: values['boot-expect'] });
  for (const value of values.cmd ?? []) parts.push({ kind: 'field', name: 'cmd', value });
  for (const value of values.env ?? []) parts.push({ kind: 'field', name: 'env', value });
  for (const value of values.label ?? []) parts.push({ kind: 'field', name: 'label', value });
  if (values.kconfig !== undefined) parts.push({ kind: 'file', name: 'kconfig', path: values.kconfig, contentType: 'text/plain' });
  if (values.initrd !== undefined) parts.push({ kind: 'file', name: 'initrd', path: values.initrd });
  parts.push({ kind: 'file', name: 'kernel', path: kernel });

  let body;
  try {
    body = await multipartBody(parts);
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
  const authorization = await authorize(target, creds, `repository:${target.repo}:pull,push`);
  const path = `/v2/${target.repo}/_unikraft/pack`;
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const progress = progressLine(`to ${describeTarget(target)}`);
  let res;
  try {
    // A refusal (401, 403) comes before the server reads the kernel; it drains the
    // rest before answering (src/http/drain.ts), so the answer is not lost.
    res = await exchange(target, {
      method: 'POST',
      path,
      headers,
      body,
      onProgress: (sent, total) => progress.update(sent, total),
    });
  } finally {
    progress.done();
  }
  if (res.status !== 201 && res.status !== 200) throw new ClientError(requestFailure(res, creds));
  const result = jsonOf(res);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    process.stdout.write(formatPackResult(target, (typeof result === 'object' && result !== null ? result : {}) as PackResultJson));
  }
  return 0;
}
