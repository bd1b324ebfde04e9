/**
 * RetentionService: applies the `retention` rules to every repository.
 *
 * For each repository (listed page by page) the most specific matching rule
 * decides (src/policy/globs.ts); its tags are read with their push times and
 * planned (./plan.ts). A dry run stops there. Otherwise each tag to delete goes
 * through ManifestService.deleteTagIfUnchanged: under the repository lock, and
 * only if the tag still points where it did with the same push time (a push that
 * moved or refreshed it meanwhile wins; it is reported as skipped). Deleting a
 * tag leaves its manifest and blobs to garbage collection, which runs after
 * retention. One run at a time: a second caller waits for the first to finish.
 */
import { RunEvents } from '../registry/run-events.js';
import type { RetentionRule } from '../config/lifecycle-schema.js';
import { GlobRules } from '../policy/globs.js';
import type { RegistryDeps } from '../registry/deps.js';
import { jobKey } from '../registry/locks.js';
import type { ManifestService } from '../registry/manifests.js';
import type { TagRecord } from '../storage/types.js';
import { platformIdentity } from '../unikernel/platform.js';
import { TagVariants } from '../unikernel/tag-variants.js';
import { CompiledRetentionRule, planRepository, type TagFacts } from './plan.js';
import { retentionEvents } from '../webhooks/registry-events.js';

/** Repositories and tags are read this many at a time. */
const PAGE = 1000;

export interface RetentionRunOptions {
  /** Report what would be deleted without deleting anything. */
  dryRun?: boolean;
  /** The time ages are measured from (ms since the epoch); default now. */
  now?: number;
}

/** One tag retention deleted (or, in a dry run, would delete). */
export interface RetentionEntry {
  repository: string;
  tag: string;
  digest: string;
  /** ISO 8601; `1970-01-01T00:00:00.000Z` for tags pushed before push times were recorded. */
  pushedAt: string;
  /** The `repository` glob of the rule that decided. */
  rule: string;
}

export interface RetentionReport {
  dryRun: boolean;
  /** Deleted tags; in a dry run, the tags a run would delete. */
  deleted: RetentionEntry[];
  /** Planned deletions not carried out because the tag changed meanwhile (moved, re-pushed or deleted). */
  skipped: RetentionEntry[];
  counts: {
    /** Repositories looked at / governed by a rule that can delete. */
    repositories: number;
    governed: number;
    /** Tags of governed repositories, and how many of them were kept. */
    tags: number;
    kept: number;
    deleted: number;
    skipped: number;
  };
  durationMs: number;
}

export class RetentionService {
  private readonly rules: GlobRules<CompiledRetentionRule>;
  private readonly variants: TagVariants;
  /** Each finished run (dry runs too): its report, or its error. */
  readonly finished = new RunEvents<RetentionReport>();

  constructor(
    private readonly deps: RegistryDeps,
    private readonly manifests: ManifestService,
    rules: readonly RetentionRule[] = deps.config.retention,
  ) {
    this.rules = new GlobRules(rules.map((r) => new CompiledRetentionRule(r)));
    this.variants = new TagVariants(deps);
  }

  /** Whether any rule can delete something (a schedule may skip the run otherwise). */
  get configured(): boolean {
    return this.rules.rules.some((r) => r.deletes);
  }

  run(options: RetentionRunOptions = {}): Promise<RetentionReport> {
    return this.deps.locks.run(jobKey('retention'), () => this.finished.around(() => this.runOnce(options)));
  }

  private async runOnce(options: RetentionRunOptions): Promise<RetentionReport> {
    const started = Date.now();
    const now = options.now ?? started;
    const dryRun = options.dryRun === true;
    const report: RetentionReport = {
      dryRun,
      deleted: [],
      skipped: [],
      counts: { repositories: 0, governed: 0, tags: 0, kept: 0, deleted: 0, skipped: 0 },
      durationMs: 0,
    };
    const { meta, log } = this.deps;
    let last: string | undefined;
    for (;;) {
      const repos = await meta.listRepositories({ last, limit: PAGE });
      for (const repo of repos) {
        report.counts.repositories++;
        const rule = this.rules.ruleFor(repo);
        if (rule === undefined || !rule.deletes) continue;
        report.counts.governed++;
        await this.applyTo(repo, rule, now, dryRun, report);
      }
      if (repos.length < PAGE) break;
      last = repos.at(-1);
    }
    report.durationMs = Date.now() - started;
    log.info({ dryRun, ...report.counts, durationMs: report.durationMs }, dryRun ? 'retention dry run' : 'retention run');
    // The `retention.completed` webhook event (not for dry runs); each deleted tag also had its `tag.deleted`.
    if (!dryRun) await meta.enqueueEvents(retentionEvents(this.deps.webhooks, report)).catch((err: unknown) => log.error({ err }, 'retention.completed event not queued'));
    return report;
  }

  private async applyTo(repo: string, rule: CompiledRetentionRule, now: number, dryRun: boolean, report: RetentionReport): Promise<void> {
    const tags: TagFacts[] = [];
    let last: string | undefined;
    for (;;) {
      const page = await this.deps.meta.listTagRecords(repo, { last, limit: PAGE });
      for (const record of page) tags.push({ ...record, immutable: this.manifests.immutable.ruleFor(repo, record.tag) !== undefined });
      if (page.length < PAGE) break;
      last = page.at(-1)?.tag;
    }
    const decisions = await planRepository(tags, rule, now, (record) => this.platformsOf(repo, record));
    report.counts.tags += tags.length;
    for (const { record, keptBy } of decisions) {
      if (keptBy.length > 0) {
        report.counts.kept++;
        continue;
      }
      const entry = entryOf(repo, record, rule);
      if (dryRun) {
        report.deleted.push(entry);
      } else if (await this.manifests.deleteTagIfUnchanged(repo, record)) {
        report.deleted.push(entry);
        report.counts.deleted++;
        this.deps.log.info({ ...entry }, 'retention deleted a tag');
      } else {
        report.skipped.push(entry);
        report.counts.skipped++;
      }
    }
  }

  /** The unikernel platforms (architecture/os) the tag holds; none for other content. */
  private async platformsOf(repo: string, record: TagRecord): Promise<string[]> {
    const content = await this.variants.ofTag(repo, record.tag);
    if (content === undefined || content.digest !== record.digest) return [];
    const out = new Set<string>();
    for (const d of content.index.manifests) {
      const id = platformIdentity(d.platform);
      if (id !== undefined) out.add(`${id.architecture}/${id.os}`);
    }
    return [...out];
  }
}

function entryOf(repo: string, record: TagRecord, rule: CompiledRetentionRule): RetentionEntry {
  return { repository: repo, tag: record.tag, digest: record.digest, pushedAt: new Date(record.pushedAt).toISOString(), rule: rule.repository };
}
