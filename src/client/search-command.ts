/**
 * `unireg search`: which variants, in every repository the caller may pull, have
 * the given kconfig features, from GET /_unikraft/search (all pages).
 */
import { COMMON_OPTIONS, VARIANT_FILTER_OPTIONS, parseCommand } from './args.js';
import { authorize, requestFailure } from './auth.js';
import { commandCredentials } from './credentials.js';
import { ClientError, exchange, jsonOf } from './http.js';
import { registryArgument } from './target.js';
import { humanSize, nextLink, shortDigest } from './variants-command.js';

export const SEARCH_USAGE = `usage: unireg search [options] HOST[:PORT]

Lists the unikernel variants, across every repository you may pull, whose kconfig
features match (e.g. which kernels have CONFIG_LIBUKDEBUG_PRINTK enabled).

  --kconfig K        a feature, KEY=VALUE or bare KEY (repeat: all must match)
  --arch ARCH        only this architecture
  --plat PLAT        only this platform
  --match RULE       kraft (a term is a substring of some feature, as kraft pulls; the
                     registry's default unless configured otherwise) or exact
                     (KEY=VALUE equals a feature, a bare KEY matches any value)
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print {match, results} as JSON

Exits 0 when something matched, 1 when nothing did (so scripts can test an advisory).`;

export interface SearchHitJson {
  repository?: string;
  tag?: string;
  index?: string;
  manifest?: string;
  platform?: { architecture?: string; os?: string; 'os.version'?: string };
  matched?: string[];
  kernelSize?: number;
  imageSize?: number;
}

const MAX_PAGES = 1000;

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg search --help)`, 2);
}

/** The hits as an aligned table (header included). */
export function formatSearch(hits: readonly SearchHitJson[]): string {
  const rows = [['REPOSITORY:TAG', 'ARCH', 'PLAT', 'KERNEL', 'MATCHED', 'MANIFEST']];
  for (const h of hits) {
    rows.push([
      `${h.repository ?? '-'}:${h.tag ?? '-'}`,
      h.platform?.architecture || '-',
      h.platform?.os || '-',
      humanSize(h.kernelSize),
      (h.matched ?? []).join(',') || '-',
      shortDigest(h.manifest),
    ]);
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows
    .map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  '))
    .join('\n')
    .concat('\n');
}

const OPTIONS = { ...VARIANT_FILTER_OPTIONS, ...COMMON_OPTIONS } as const;

/** Runs `unireg search`; returns the exit code (1 when nothing matches). Throws ClientError on failure. */
export async function searchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, OPTIONS, usage);
  if (values.help) {
    process.stdout.write(`${SEARCH_USAGE}\n`);
    return 0;
  }
  const target = registryArgument(positionals, { plainHttp: values['plain-http'] }, usage);
  const creds = await commandCredentials(target.host, values).catch((err: unknown) => {
    throw new ClientError((err as Error).message, 2);
  });
  const authorization = await authorize(target, creds, 'registry:catalog:*');
  const query = new URLSearchParams();
  for (const k of (values.kconfig ?? []).filter((k) => k.trim() !== '')) query.append('kconfig', k);
  if (values.arch) query.set('arch', values.arch);
  if (values.plat) query.set('plat', values.plat);
  if (values.match) query.set('match', values.match);

  const hits: SearchHitJson[] = [];
  let match = values.match ?? '';
  let path: string | undefined = `/_unikraft/search${query.toString() ? `?${query}` : ''}`;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const res = await exchange(target, { method: 'GET', path, headers: authorization ? { Authorization: authorization } : {} });
    if (res.status !== 200) throw new ClientError(requestFailure(res, creds));
    const json = jsonOf(res) as { match?: unknown; results?: unknown };
    if (!Array.isArray(json.results)) throw new ClientError('the registry answered without a results list');
    if (typeof json.match === 'string') match = json.match;
    hits.push(...(json.results as SearchHitJson[]));
    path = nextLink(res.headers.link);
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ match, results: hits }, null, 2)}\n`);
  else if (hits.length === 0) process.stderr.write(`unireg: no variant in ${target.host} matches\n`);
  else process.stdout.write(formatSearch(hits));
  return hits.length === 0 ? 1 : 0;
}
