/** What a GC run did (or, in a dry run, would do): the endpoint's JSON and the log line. */
import type { Digest } from '../oci/digest.js';

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  repositories: number;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Repositories left untouched because a stored manifest could not be read. */
  skippedRepositories: string[];
  /** Dry run only: what would go. */
  manifests?: { repository: string; digest: Digest }[];
  links?: { repository: string; digest: Digest; size: number }[];
  blobs?: { digest: Digest; size: number }[];
  /** Dry run only: set when a list was cut at LIST_LIMIT entries (the counts stay exact). */
  listsTruncated?: boolean;
}

/** Entries per dry-run list, so that a dry run over a huge registry answers in bounded memory. */
export const LIST_LIMIT = 100_000;

export class ReportBuilder {
  private readonly started = Date.now();
  readonly report: GcReport;

  constructor(dryRun: boolean) {
    this.report = {
      dryRun,
      startedAt: new Date(this.started).toISOString(),
      durationMs: 0,
      repositories: 0,
      manifestsDeleted: 0,
      linksDeleted: 0,
      blobsDeleted: 0,
      bytesFreed: 0,
      skippedRepositories: [],
      ...(dryRun ? { manifests: [], links: [], blobs: [] } : {}),
    };
  }

  private list<T>(items: T[] | undefined, item: T): void {
    if (items === undefined) return;
    if (items.length < LIST_LIMIT) items.push(item);
    else this.report.listsTruncated = true;
  }

  manifest(repository: string, digest: Digest): void {
    this.report.manifestsDeleted++;
    this.list(this.report.manifests, { repository, digest });
  }

  link(repository: string, digest: Digest, size: number): void {
    this.report.linksDeleted++;
    this.list(this.report.links, { repository, digest, size });
  }

  blob(digest: Digest, size: number): void {
    this.report.blobsDeleted++;
    this.report.bytesFreed += size;
    this.list(this.report.blobs, { digest, size });
  }

  finish(): GcReport {
    this.report.durationMs = Date.now() - this.started;
    return this.report;
  }
}

/** The figures of a report, without its lists: what gets logged. */
export function figures(report: GcReport): Omit<GcReport, 'manifests' | 'links' | 'blobs'> {
  const { manifests: _m, links: _l, blobs: _b, ...rest } = report;
  return rest;
}
