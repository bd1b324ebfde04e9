/**
 * `unireg diff`: what changed between two variants of a repository (kconfig
 * features, kernel, layer and image sizes), from GET /v2/<repo>/_unikraft/diff.
 */
import { COMMON_OPTIONS, VARIANT_FILTER_OPTIONS, parseCommand } from './args.js';
import { authorize, requestFailure } from './auth.js';
import { commandCredentials } from './credentials.js';
import { ClientError, exchange, jsonOf } from './http.js';
import { parseTarget } from './target.js';
import { humanSize, shortDigest } from './variants-command.js';

export const DIFF_USAGE = `usage: unireg diff [options] HOST[:PORT]/REPO FROM TO

Shows what changed from one variant to another: kconfig features added, removed and
changed, and the kernel, layer and image sizes. FROM and TO are tags or digests; when
one holds several variants, pick one with the filters (they apply to both sides).

  --arch ARCH        the variant of this architecture
  --plat PLAT        the variant of this platform
  --kconfig K        the variant with this feature (repeat: all must match)
  --match RULE       how --kconfig matches: kraft (substring) or exact
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print the registry's answer as JSON`;

interface SizeJson {
  from?: number;
  to?: number;
  delta?: number;
}

export interface DiffJson {
  from?: { reference?: string; manifest?: string; platform?: { architecture?: string; os?: string; 'os.version'?: string } };
  to?: DiffJson['from'];
  features?: { added?: string[]; removed?: string[]; changed?: { key?: string; from?: string; to?: string }[] };
  kernel?: SizeJson;
  image?: SizeJson;
  parts?: { role?: string; changed?: boolean; delta?: number; from?: { size?: number }; to?: { size?: number } }[];
}

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg diff --help)`, 2);
}

/** `+1.5 KiB`, `-512 B`, `0 B`. */
export function signedSize(delta: number | undefined): string {
  if (delta === undefined) return '-';
  return `${delta > 0 ? '+' : delta < 0 ? '-' : ''}${humanSize(Math.abs(delta))}`;
}

/** The diff as text: the two variants, the feature changes (+, -, ~), then the sizes. */
export function formatDiff(d: DiffJson): string {
  const side = (s: DiffJson['from']) => {
    const p = s?.platform;
    const version = p?.['os.version'] ? ` ${p['os.version']}` : '';
    return `${s?.reference ?? '-'} (${p?.architecture ?? '-'}/${p?.os ?? '-'}${version}, ${shortDigest(s?.manifest)})`;
  };
  const lines = [`from ${side(d.from)}`, `to   ${side(d.to)}`, ''];
  const f = d.features ?? {};
  for (const a of f.added ?? []) lines.push(`+ ${a}`);
  for (const r of f.removed ?? []) lines.push(`- ${r}`);
  for (const c of f.changed ?? []) lines.push(`~ ${c.key ?? '?'}: ${c.from ?? ''} -> ${c.to ?? ''}`);
  if ((f.added ?? []).length + (f.removed ?? []).length + (f.changed ?? []).length === 0) lines.push('features: no change');
  lines.push('');
  const size = (name: string, s: SizeJson | undefined) =>
    `${name.padEnd(8)} ${humanSize(s?.from).padStart(10)} -> ${humanSize(s?.to).padStart(10)}  (${signedSize(s?.delta)})`;
  lines.push(size('kernel', d.kernel), size('image', d.image));
  for (const p of d.parts ?? []) {
    if (p.role === 'kernel') continue;
    lines.push(`${size(p.role ?? '?', { from: p.from?.size, to: p.to?.size, delta: p.delta })}${p.changed ? '' : '  unchanged'}`);
  }
  return `${lines.join('\n')}\n`;
}

const OPTIONS = { ...VARIANT_FILTER_OPTIONS, ...COMMON_OPTIONS } as const;

/** Runs `unireg diff`; returns the exit code. Throws ClientError on failure. */
export async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, OPTIONS, usage);
  if (values.help) {
    process.stdout.write(`${DIFF_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 3) throw usage(`expected HOST:PORT/REPO FROM TO, got ${positionals.length} arguments`);
  const [ref, from, to] = positionals as [string, string, string];
  let target;
  try {
    target = parseTarget(ref, { plainHttp: values['plain-http'] });
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (target.tagGiven) throw usage('name the repository without a tag: FROM and TO are the references');
  const creds = await commandCredentials(target.host, values).catch((err: unknown) => {
    throw new ClientError((err as Error).message, 2);
  });
  const authorization = await authorize(target, creds, `repository:${target.repo}:pull`);
  const query = new URLSearchParams({ from, to });
  if (values.arch) query.set('arch', values.arch);
  if (values.plat) query.set('plat', values.plat);
  for (const k of values.kconfig ?? []) query.append('kconfig', k);
  if (values.match) query.set('match', values.match);
  const res = await exchange(target, {
    method: 'GET',
    path: `/v2/${target.repo}/_unikraft/diff?${query}`,
    headers: authorization ? { Authorization: authorization } : {},
  });
  if (res.status !== 200) throw new ClientError(requestFailure(res, creds));
  const json = jsonOf(res) as DiffJson;
  process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : formatDiff(json));
  return 0;
}
