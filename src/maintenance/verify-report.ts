/** The readable form of a verify report (the `--json` form is the report itself). */
import { humanSize } from '../client/variants-command.js';
import { isProblem, type Finding, type VerifyReport } from './findings.js';
import type { RepairResult } from './verify-repair.js';

/** One line saying what a finding is. */
export function describeFinding(f: Finding): string {
  switch (f.kind) {
    case 'corruptBlob':
      return `corrupt blob ${f.digest} (${humanSize(f.size)}): its content hashes to ${f.actual}`;
    case 'orphanBlob':
      return `orphan blob ${f.digest} (${humanSize(f.size)}): no repository links it (a garbage collection removes it)`;
    case 'strayFile':
      return `stray file ${f.path}: not a blob's path (left in place)`;
    case 'danglingLink':
      return `dangling link ${f.repo} -> ${f.digest}: the blob file is missing`;
    case 'sizeMismatch':
      return `size mismatch ${f.repo} -> ${f.digest}: linked as ${f.linkSize} bytes, the file has ${f.fileSize}`;
    case 'invalidManifest':
      return `invalid manifest ${f.repo}@${f.digest}: ${f.reason}`;
    case 'missingReference':
      return `missing reference ${f.repo}@${f.manifest} -> ${f.digest}: not in the repository`;
    case 'danglingTag':
      return `dangling tag ${f.repo}:${f.tag} -> ${f.digest}: no such manifest`;
    case 'danglingReferrer':
      return `dangling referrer ${f.repo}: ${f.digest} listed under ${f.subject}, no such manifest`;
    case 'unreadableRecord':
      return `unreadable ${f.what} record [${f.record}]: ${f.reason}`;
    case 'staleIndexEntry':
      return `stale search index record [${f.record}]: ${f.reason} (a repair removes it; the index is rebuilt at the next start)`;
    case 'unusedFeature':
      return `unused indexed feature ${f.feature}: no variant lists it (a repair removes it)`;
    case 'staleUpload':
      return `stale upload ${f.id}${f.repo ? ` (${f.repo})` : ''}: ${f.reason}`;
  }
}

export function formatReport(report: VerifyReport, repaired?: RepairResult): string {
  const c = report.counts;
  const lines = [
    `unireg verify: ${report.root}`,
    `checked ${c.repositories} repositories, ${c.links} links, ${c.manifests} manifests, ${c.tags} tags, ` +
      `${c.uploads} upload sessions, ${c.records} records; rehashed ${c.blobs} blobs (${humanSize(c.bytes)})`,
  ];
  const problems = report.findings.filter(isProblem);
  const notices = report.findings.filter((f) => !isProblem(f));
  if (problems.length > 0) lines.push('', `problems (${problems.length}):`, ...problems.map((f) => `  ${describeFinding(f)}`));
  if (notices.length > 0) lines.push('', `notices (${notices.length}):`, ...notices.map((f) => `  ${describeFinding(f)}`));
  if (repaired) {
    lines.push('', `repairs (${repaired.actions.length}):`);
    for (const a of repaired.actions) {
      lines.push(`  ${a.action}: ${describeFinding(a.finding as Finding)}${a.quarantine ? ` [kept in ${a.quarantine}]` : ''}`);
    }
    if (repaired.remaining.length > 0) {
      lines.push('', `still wrong after repair (${repaired.remaining.length}):`, ...repaired.remaining.map((f) => `  ${describeFinding(f)}`));
    }
    lines.push('', repaired.remaining.length === 0 ? 'repaired: run unireg verify again to confirm' : 'repair incomplete');
  } else {
    lines.push('', problems.length === 0 ? 'clean' : `${problems.length} problems: unireg verify --repair fixes them (stop the registry first)`);
  }
  return `${lines.join('\n')}\n`;
}
