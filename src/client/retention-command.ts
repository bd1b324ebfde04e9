/**
 * `unireg retention [--dry-run] HOST[:PORT]`: applies the registry's retention
 * rules now (POST /_unireg/retention) and prints what was deleted, or with
 * --dry-run what would be. Needs a user with the `admin` action.
 */
import { COMMON_OPTIONS, parseCommand } from './args.js';
import { callAdmin } from './admin.js';
import { ClientError } from './http.js';
import { shortDigest } from './variants-command.js';

export const RETENTION_USAGE = `usage: unireg retention [options] HOST[:PORT]

Applies the registry's retention rules now (config \`retention\`) and lists the tags
deleted. Manifests and blobs stay until the next garbage collection.

  --dry-run          only list what would be deleted
  --user U           user name, with --password P or --password-stdin
                     (default: the host's auths entry in ~/.docker/config.json); the
                     user needs the admin action (a ** access rule granting admin)
  --plain-http       use http:// for a non-loopback host (loopback hosts always use http)
  --json             print the registry's answer as JSON`;

export interface RetentionEntryJson {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  rule: string;
}

export interface RetentionReportJson {
  dryRun: boolean;
  deleted: RetentionEntryJson[];
  skipped: RetentionEntryJson[];
  counts: { repositories: number; governed: number; tags: number; kept: number; deleted: number; skipped: number };
  durationMs: number;
}

function usage(message: string): ClientError {
  return new ClientError(`${message} (see unireg retention --help)`, 2);
}

function isReport(value: unknown): value is RetentionReportJson {
  const v = value as Partial<RetentionReportJson> | null;
  return typeof v === 'object' && v !== null && Array.isArray(v.deleted) && Array.isArray(v.skipped) && typeof v.counts === 'object';
}

/** The report as a table of tags and a summary line. */
export function formatRetention(report: RetentionReportJson): string {
  const lines: string[] = [];
  if (report.deleted.length > 0) {
    const rows = [['REPOSITORY', 'TAG', 'PUSHED', 'DIGEST', 'RULE']];
    for (const e of report.deleted) rows.push([e.repository, e.tag, e.pushedAt.replace(/\.\d+Z$/, 'Z'), shortDigest(e.digest), e.rule]);
    const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
    for (const r of rows) lines.push(r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  '));
  }
  const c = report.counts;
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const skipped = report.skipped.length > 0 ? `; ${report.skipped.length} skipped (changed meanwhile)` : '';
  lines.push(
    `retention ${verb} ${report.deleted.length} tag${report.deleted.length === 1 ? '' : 's'}${skipped}; ` +
      `kept ${c.kept} of ${c.tags} in ${c.governed} repositor${c.governed === 1 ? 'y' : 'ies'} with rules (${c.repositories} in all)`,
  );
  return `${lines.join('\n')}\n`;
}

const OPTIONS = {
  'dry-run': { type: 'boolean' },
  ...COMMON_OPTIONS,
} as const;

/** Runs `unireg retention`; returns the exit code. Throws ClientError on failure. */
export async function retentionCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, OPTIONS, usage);
  if (values.help) {
    process.stdout.write(`${RETENTION_USAGE}\n`);
    return 0;
  }
  const { body: report } = await callAdmin(positionals, values, usage, {
    method: 'POST',
    path: `/_unireg/retention${values['dry-run'] ? '?dryRun=true' : ''}`,
  });
  if (!isReport(report)) throw new ClientError('the registry answered without a retention report');
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatRetention(report));
  return 0;
}
