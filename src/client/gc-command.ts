/**
 * `unireg gc [--dry-run] REGISTRY`: runs a garbage collection on a running
 * registry (POST /_unireg/gc, which needs the admin right) and prints what it
 * removed, or with --dry-run what it would remove.
 */
import { COMMON_OPTIONS, parseCommand } from './args.js';
import { callAdmin } from './admin.js';
import { ClientError } from './http.js';
import { humanSize, shortDigest } from './variants-command.js';

export const GC_USAGE = `usage: unireg gc [options] HOST[:PORT]

Runs a garbage collection on the registry now: removes blob files no repository
links, links to blobs no manifest references, and (with gc.untagged set on the
server) old manifests nothing reaches. Needs the admin right.

  --dry-run          report what would be removed, remove nothing
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); sent as
                     Basic, or traded for a token when the registry asks for one
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print the registry's report as JSON`;

interface Report {
  dryRun?: boolean;
  blobsDeleted?: number;
  bytesFreed?: number;
  linksDeleted?: number;
  manifestsDeleted?: number;
  durationMs?: number;
  skippedRepositories?: string[];
  manifests?: { repository: string; digest: string }[];
  links?: { repository: string; digest: string; size: number }[];
  blobs?: { digest: string; size: number }[];
  listsTruncated?: boolean;
}

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg gc --help)`, 2);
}

const OPTIONS = { 'dry-run': { type: 'boolean' }, ...COMMON_OPTIONS } as const;

/** The report as lines for a person. */
export function formatGcReport(report: Report): string {
  const n = (v: number | undefined) => String(v ?? 0);
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = [
    `${report.dryRun ? 'dry run: ' : ''}${verb} ${n(report.blobsDeleted)} blob(s) (${humanSize(report.bytesFreed ?? 0)}), ` +
      `${n(report.linksDeleted)} link(s), ${n(report.manifestsDeleted)} manifest(s) in ${n(report.durationMs)} ms`,
  ];
  for (const m of report.manifests ?? []) lines.push(`  manifest  ${m.repository}@${shortDigest(m.digest)}`);
  for (const l of report.links ?? []) lines.push(`  link      ${l.repository}@${shortDigest(l.digest)}  ${humanSize(l.size)}`);
  for (const b of report.blobs ?? []) lines.push(`  blob      ${shortDigest(b.digest)}  ${humanSize(b.size)}`);
  if (report.listsTruncated) lines.push('  (lists cut short; the counts are exact)');
  if ((report.skippedRepositories ?? []).length > 0) {
    lines.push(`left alone (unreadable manifests): ${(report.skippedRepositories ?? []).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `unireg gc`; returns the exit code. Throws ClientError on failure. */
export async function gcCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, OPTIONS, usage);
  if (values.help) {
    process.stdout.write(`${GC_USAGE}\n`);
    return 0;
  }
  const { body } = await callAdmin(positionals, values, usage, { method: 'POST', path: `/_unireg/gc${values['dry-run'] ? '?dryRun=true' : ''}` });
  const report = body as Report;
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatGcReport(report));
  return 0;
}
