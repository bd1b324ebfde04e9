/**
 * `unireg usage`: the quota namespaces of a registry with the bytes each uses,
 * from GET /_unireg/usage (needs the `admin` action).
 */
import { COMMON_OPTIONS, parseCommand } from './args.js';
import { callAdmin } from './admin.js';
import { ClientError } from './http.js';
import { humanSize } from './variants-command.js';

export const USAGE_USAGE = `usage: unireg usage [options] HOST[:PORT]

Lists each quota namespace (a repository glob from the registry's quotas setting)
with the bytes its repositories use and its limit. Needs the admin action.

  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print the registry's answer {namespaces: [{namespace, used, limit, digests}]}`;

export interface NamespaceUsageJson {
  namespace: string;
  used: number;
  limit: number;
  digests: number;
}

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg usage --help)`, 2);
}

/** The namespaces as an aligned table (header included). */
export function formatUsage(namespaces: readonly NamespaceUsageJson[]): string {
  const rows = [['NAMESPACE', 'USED', 'LIMIT', 'USE%', 'DIGESTS']];
  for (const n of namespaces) {
    const percent = n.limit > 0 ? `${((n.used / n.limit) * 100).toFixed(1)}%` : '-';
    rows.push([n.namespace, humanSize(n.used), humanSize(n.limit), percent, String(n.digests)]);
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  ')).join('\n').concat('\n');
}

function isUsage(value: unknown): value is NamespaceUsageJson {
  const n = value as Partial<NamespaceUsageJson> | null;
  return typeof n === 'object' && n !== null && typeof n.namespace === 'string' && typeof n.used === 'number' && typeof n.limit === 'number';
}

/** Runs `unireg usage`; returns the exit code. Throws ClientError on failure. */
export async function usageCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, COMMON_OPTIONS, usage);
  if (values.help) {
    process.stdout.write(`${USAGE_USAGE}\n`);
    return 0;
  }
  const { target, body } = await callAdmin(positionals, values, usage, { method: 'GET', path: '/_unireg/usage' });
  const json = body as { namespaces?: unknown };
  if (!Array.isArray(json.namespaces) || !json.namespaces.every(isUsage)) {
    throw new ClientError('the registry answered without a namespaces list');
  }
  const namespaces = json.namespaces;
  if (values.json) process.stdout.write(`${JSON.stringify({ namespaces }, null, 2)}\n`);
  else if (namespaces.length === 0) process.stderr.write(`unireg: ${target.host} has no quotas configured\n`);
  else process.stdout.write(formatUsage(namespaces));
  return 0;
}
