/**
 * `unireg variants`: which unikernel variants a repository (or one tag) holds,
 * as a table, from GET /v2/<repo>/_unikraft/variants (all pages).
 */
import { COMMON_OPTIONS, VARIANT_FILTER_OPTIONS, parseCommand } from './args.js';
import { authorize, requestFailure } from './auth.js';
import { commandCredentials } from './credentials.js';
import { ClientError, exchange, jsonOf } from './http.js';
import { targetArgument, type Target } from './target.js';

export const VARIANTS_USAGE = `usage: unireg variants [options] HOST[:PORT]/REPO[:TAG]

Lists the unikernel variants of every tag of REPO (or of TAG only).

  --arch ARCH        only this architecture
  --plat PLAT        only this platform
  --kconfig K        only variants with this feature, KEY=VALUE or bare KEY (repeat: all must match);
                     the FEATURES column then shows the matching features
  --match RULE       how --kconfig matches: kraft (a substring of some feature, as kraft
                     pulls; the registry's default unless configured otherwise) or exact
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print {repository, budget?, variants} as JSON (with each variant's boot
                     attestation and provenance digests)

The IMAGE column is the variant's size (manifest, config and layers); with a size
budget (unikernel.budgets) a BUDGET column says "ok" or which limit it is over.

A BOOT column shows the status of each variant's latest boot attestation (passed, failed,
timed-out) once the registry has booted some (config unikernel.bootCheck).`;

export interface VariantJson {
  tag?: string;
  index?: string;
  manifest?: string;
  arch?: string;
  plat?: string;
  version?: string;
  features?: string[];
  kernelSize?: number;
  initrdSize?: number;
  kernelLayerSize?: number;
  imageSize?: number;
  overBudget?: string[];
  cmd?: string[];
  env?: string[];
  created?: string;
  /** The latest boot attestation, when boot checks ran. */
  boot?: { status?: string; attestation?: string; created?: string };
  provenance?: string;
}

/** Pages are followed up to this many, in case a server keeps sending Link. */
const MAX_PAGES = 1000;

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg variants --help)`, 2);
}

/** 1536 → `1.5 KiB`. */
export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `sha256:0123456789ab`: the algorithm and the first 12 hex digits. */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return '-';
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

/**
 * The features a kconfig filter matched, by the server's rules: `exact` (KEY=VALUE
 * equal, a bare KEY any value) or `kraft` (a substring of the feature).
 */
export function matchingFeatures(features: readonly string[], filters: readonly string[], match: 'kraft' | 'exact' = 'exact'): string[] {
  if (match === 'kraft') return features.filter((f) => filters.some((k) => f.includes(k)));
  return features.filter((f) => filters.some((k) => (k.includes('=') ? f === k : f.startsWith(`${k}=`))));
}

export interface BudgetJson {
  rule?: string;
  maxKernelSize?: number;
  maxImageSize?: number;
}

/**
 * The variants as an aligned table (header included); a BUDGET column when the repository has a
 * budget, a BOOT column (the latest boot attestation's status) once some variant has been booted.
 */
export function formatVariants(
  variants: readonly VariantJson[],
  kconfig: readonly string[] = [],
  options: { match?: 'kraft' | 'exact'; budget?: BudgetJson } = {},
): string {
  const budgeted = options.budget !== undefined;
  const booted = variants.some((v) => v.boot !== undefined);
  const rows = [['TAG', 'ARCH', 'PLAT', 'VERSION', 'KERNEL', 'IMAGE', ...(budgeted ? ['BUDGET'] : []), 'FEATURES', ...(booted ? ['BOOT'] : []), 'MANIFEST']];
  for (const v of variants) {
    const features = v.features ?? [];
    const boot = booted ? [v.boot?.status ?? '-'] : [];
    rows.push([
      v.tag ?? '-',
      v.arch || '-',
      v.plat || '-',
      v.version || '-',
      humanSize(v.kernelSize),
      humanSize(v.imageSize),
      ...(budgeted ? [v.overBudget && v.overBudget.length > 0 ? `over ${v.overBudget.join(',')}` : 'ok'] : []),
      kconfig.length > 0 ? matchingFeatures(features, kconfig, options.match).join(',') || '-' : String(features.length),
      ...boot,
      shortDigest(v.manifest),
    ]);
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows
    .map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  '))
    .join('\n')
    .concat('\n');
}

/** The `rel="next"` target of a Link header, if any. */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(', ') : link;
  const m = value ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(value) : null;
  return m?.[1];
}

const OPTIONS = { ...VARIANT_FILTER_OPTIONS, ...COMMON_OPTIONS } as const;

function parse(args: string[]) {
  return parseCommand(args, OPTIONS, usage);
}

/** Runs `unireg variants`; returns the exit code. Throws ClientError on failure. */
export async function variantsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    process.stdout.write(`${VARIANTS_USAGE}\n`);
    return 0;
  }
  const target = targetArgument(positionals, { plainHttp: values['plain-http'] }, usage);
  const creds = await commandCredentials(target.host, values).catch((err: unknown) => {
    throw new ClientError((err as Error).message, 2);
  });
  const authorization = await authorize(target, creds, `repository:${target.repo}:pull`);
  const kconfig = (values.kconfig ?? []).filter((k) => k.trim() !== '');
  const query = new URLSearchParams();
  if (target.tagGiven) query.set('tag', target.tag);
  if (values.arch) query.set('arch', values.arch);
  if (values.plat) query.set('plat', values.plat);
  for (const k of kconfig) query.append('kconfig', k);
  if (values.match) query.set('match', values.match);

  const variants: VariantJson[] = [];
  let budget: BudgetJson | undefined;
  let repository = target.repo;
  let path: string | undefined = `/v2/${target.repo}/_unikraft/variants${query.toString() ? `?${query}` : ''}`;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const res = await exchange(target, {
      method: 'GET',
      path,
      headers: authorization ? { Authorization: authorization } : {},
    });
    if (res.status !== 200) throw new ClientError(requestFailure(res, creds));
    const json = jsonOf(res) as { repository?: unknown; variants?: unknown; budget?: unknown };
    if (!Array.isArray(json.variants)) throw new ClientError('the registry answered without a variants list');
    if (typeof json.budget === 'object' && json.budget !== null) budget = json.budget as BudgetJson;
    if (typeof json.repository === 'string') repository = json.repository;
    variants.push(...(json.variants as VariantJson[]));
    path = nextPath(nextLink(res.headers.link), kconfig);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(budget === undefined ? { repository, variants } : { repository, budget, variants }, null, 2)}\n`);
  } else if (variants.length === 0) {
    const filtered = Boolean(values.arch || values.plat || kconfig.length > 0);
    const where = `${target.host}/${repository}${target.tagGiven ? `:${target.tag}` : ''}`;
    process.stderr.write(`unireg: no variants in ${where}${filtered ? ' match the filters' : ''}\n`);
  } else {
    if (budget !== undefined) {
      const limits = [
        budget.maxKernelSize === undefined ? undefined : `kernel <= ${humanSize(budget.maxKernelSize)}`,
        budget.maxImageSize === undefined ? undefined : `image <= ${humanSize(budget.maxImageSize)}`,
      ].filter((l) => l !== undefined);
      process.stdout.write(`budget (${budget.rule ?? '?'}): ${limits.join(', ')}\n`);
    }
    const match = values.match === 'exact' || values.match === 'kraft' ? values.match : 'kraft';
    process.stdout.write(formatVariants(variants, kconfig, budget === undefined ? { match } : { match, budget }));
  }
  return 0;
}

/** The next page's path and query; the kconfig filters are carried over if the Link dropped them. */
function nextPath(link: string | undefined, kconfig: readonly string[]): string | undefined {
  if (link === undefined) return undefined;
  const url = new URL(link, 'http://registry.invalid');
  if (!url.searchParams.has('kconfig')) for (const k of kconfig) url.searchParams.append('kconfig', k);
  return `${url.pathname}${url.search}`;
}
