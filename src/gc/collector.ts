/**
 * Online garbage collection: mark over the metadata, then sweep, while the
 * registry keeps serving. Per repository: mark; delete old manifests nothing
 * reaches (gc.untagged; repository lock, re-marked under it); unlink blobs no
 * reachable manifest references (repository + blob lock, re-checking the
 * link's linkedAt/touchedAt against the mark). Then the file sweep: blob files
 * no repository links (blob lock, re-checking the reverse index and the
 * file's age). Nothing linked, touched, pushed or ingested within gc.grace, or
 * since the repository's mark began, is removed.
 *
 * Why this is safe against concurrent pushes: a manifest PUT checks its
 * references, writes, and touches the links it references under the same
 * repository + blob locks (src/registry/manifests.ts). Either the sweep of a
 * link runs first (the PUT then fails with MANIFEST_BLOB_UNKNOWN), or the PUT
 * runs first and the sweep sees the touch. docs/gc.md tells the whole story.
 */
import { RunEvents } from '../registry/run-events.js';
import { durationMs } from '../config/schema.js';
import type { Digest } from '../oci/digest.js';
import type { RegistryDeps } from '../registry/deps.js';
import { blobKey } from '../registry/locks.js';
import { GcRunningError, GcStoppedError } from '../domain/errors.js';
import type { BlobFileInfo } from '../storage/types.js';
import { markRepository, type RepositoryMark } from './mark.js';
import { batches, each, pages, yieldToLoop } from './pages.js';
import { UnreadableManifestError } from './references.js';
import { figures, ReportBuilder, type GcReport } from './report.js';
import { gcEvents } from '../webhooks/registry-events.js';

export interface GcOptions {
  /** Report what would be removed without removing anything. */
  dryRun?: boolean;
}

/** The tryRun name: one GC at a time. */
export const GC_JOB = 'gc';

interface Run {
  report: ReportBuilder;
  dryRun: boolean;
  graceMs: number;
  /** undefined: keep untagged manifests. */
  untaggedMs: number | undefined;
  /** Dry run: how many links of each digest the link sweep would remove. */
  wouldUnlink: Map<Digest, number>;
}

/**
 * Work that runs first in every GC, inside its one-at-a-time section, before
 * the mark: retention (which deletes tags, so that this GC collects what they
 * held). Given whether the GC is a dry run.
 */
export type GcPrelude = (dryRun: boolean) => Promise<unknown>;

export class GarbageCollector {
  private stopping = false;
  /** Each finished run (not one refused because another was running): its report, or its error. */
  readonly finished = new RunEvents<GcReport>();
  private current: Promise<unknown> | undefined;

  constructor(
    private readonly deps: RegistryDeps,
    private readonly prelude?: GcPrelude,
  ) {}

  /** Runs one GC; GcRunningError when one is already running. */
  async run(options: GcOptions = {}): Promise<GcReport> {
    const result = await this.deps.locks.tryRun(GC_JOB, () => {
      const job = this.finished.around(() => this.collect(options.dryRun ?? false));
      this.current = job;
      return job;
    });
    if (!result.acquired) throw new GcRunningError();
    return result.value;
  }

  /** Makes a running GC stop at its next step and waits for it (server shutdown). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.catch(() => undefined);
  }

  private checkStopping(): void {
    if (this.stopping) throw new GcStoppedError();
  }

  private async collect(dryRun: boolean): Promise<GcReport> {
    const { config, log, meta } = this.deps;
    const untagged = config.gc.untagged;
    const run: Run = {
      report: new ReportBuilder(dryRun),
      dryRun,
      graceMs: durationMs(config.gc.grace),
      untaggedMs: untagged === 'keep' ? undefined : durationMs(untagged),
      wouldUnlink: new Map(),
    };
    log.info({ dryRun, grace: config.gc.grace, untagged }, 'gc started');
    await this.prelude?.(dryRun);
    const fileCutoff = Date.now() - run.graceMs;
    for await (const repo of each((p) => meta.listRepositories(p), (r) => r)) {
      this.checkStopping();
      run.report.report.repositories++;
      try {
        await this.collectRepository(run, repo);
      } catch (err) {
        if (!(err instanceof UnreadableManifestError)) throw err;
        run.report.report.skippedRepositories.push(repo);
        log.warn({ repo, digest: err.digest }, 'gc left a repository alone: a stored manifest is unreadable');
      }
    }
    const repositoriesDone = Date.now();
    // Removals so far were not synced one by one: make them durable before any file goes.
    if (!dryRun) await meta.flush();
    await this.sweepFiles(run, fileCutoff);
    // Every repository's links and manifests were read.
    await meta.release();
    log.debug({ repositoriesMs: repositoriesDone - Date.parse(run.report.report.startedAt), filesMs: Date.now() - repositoriesDone }, 'gc phases');
    const report = run.report.finish();
    log.info(figures(report), dryRun ? 'gc dry run finished' : 'gc finished');
    // The `gc.completed` webhook event (not for dry runs); a store failure here costs the event, not the run.
    if (!dryRun) await meta.enqueueEvents(gcEvents(this.deps.webhooks, figures(report))).catch((err: unknown) => log.error({ err }, 'gc.completed event not queued'));
    return report;
  }

  private untaggedCutoff(run: Run, now: number): number | undefined {
    return run.untaggedMs === undefined ? undefined : now - Math.max(run.untaggedMs, run.graceMs);
  }

  private async collectRepository(run: Run, repo: string): Promise<void> {
    const { meta, locks, cache, log } = this.deps;
    const t0 = Date.now();
    let mark = await markRepository(meta, repo, { untaggedCutoff: this.untaggedCutoff(run, Date.now()) });
    const marked = Date.now();
    if (mark.unreachable.length > 0) {
      if (run.dryRun) {
        for (const digest of mark.unreachable) run.report.manifest(repo, digest);
      } else {
        // Re-marked under the repository lock: no tag or manifest can change while manifests go.
        mark = await locks.run(repo, async (): Promise<RepositoryMark> => {
          const startedAt = Date.now();
          const again = await markRepository(meta, repo, { untaggedCutoff: this.untaggedCutoff(run, startedAt) });
          const cutoff = this.untaggedCutoff(run, startedAt) ?? 0;
          for (const digest of again.unreachable) {
            cache.invalidate(repo, { digests: [digest] });
            if (await meta.deleteUntaggedManifest(repo, digest, cutoff)) {
              run.report.manifest(repo, digest);
              log.debug({ repo, digest }, 'gc deleted an unreachable manifest');
            }
            cache.invalidate(repo, { digests: [digest] });
          }
          return again;
        });
      }
    }
    const manifestsDone = Date.now();
    await this.sweepLinks(run, repo, mark);
    log.debug({ repo, markMs: marked - t0, manifestsMs: manifestsDone - marked, linksMs: Date.now() - manifestsDone }, 'gc repository phases');
  }

  private async sweepLinks(run: Run, repo: string, mark: RepositoryMark): Promise<void> {
    const { meta, locks, log } = this.deps;
    // Links written or touched after this were not judged by the mark.
    const cutoff = mark.startedAt - run.graceMs;
    for await (const page of pages((p) => meta.listLinks(repo, p), (l) => l.digest)) {
      const candidates = page.filter((l) => !mark.referenced.has(l.digest) && l.linkedAt < cutoff && l.touchedAt < cutoff);
      if (run.dryRun) {
        for (const link of candidates) {
          run.report.link(repo, link.digest, link.size);
          run.wouldUnlink.set(link.digest, (run.wouldUnlink.get(link.digest) ?? 0) + 1);
        }
        continue;
      }
      this.checkStopping();
      if (candidates.length === 0) continue;
      // One batch per page, under the repository lock and the page's blob locks, re-checked under them.
      const digests = candidates.map((l) => l.digest);
      const unlinked = new Set(await locks.runAll([repo, ...digests.map(blobKey)], () => meta.unlinkBlobsIfIdle(repo, digests, cutoff)));
      for (const link of candidates) {
        if (!unlinked.has(link.digest)) continue;
        run.report.link(repo, link.digest, link.size);
        log.debug({ repo, digest: link.digest }, 'gc unlinked an unreferenced blob');
      }
    }
  }

  private async sweepFiles(run: Run, cutoff: number): Promise<void> {
    for await (const batch of batches(this.deps.blobs.list())) {
      this.checkStopping();
      await Promise.all(batch.filter((file) => file.mtimeMs < cutoff).map((file) => this.sweepFile(run, file, cutoff)));
      await yieldToLoop();
    }
  }

  private async sweepFile(run: Run, file: BlobFileInfo, cutoff: number): Promise<void> {
    const { meta, blobs, locks, log } = this.deps;
    if (run.dryRun) {
      const linked = await this.countLinks(file.digest);
      if (linked === (run.wouldUnlink.get(file.digest) ?? 0)) run.report.blob(file.digest, file.size);
      return;
    }
    if ((await meta.listBlobRepositories(file.digest, { limit: 1 })).length > 0) return;
    const removed = await locks.run(blobKey(file.digest), async () => {
      if ((await meta.listBlobRepositories(file.digest, { limit: 1 })).length > 0) return undefined;
      const now = await blobs.stat(file.digest);
      if (now === undefined || now.mtimeMs >= cutoff) return undefined;
      await blobs.remove(file.digest);
      return now;
    });
    if (removed !== undefined) {
      run.report.blob(file.digest, removed.size);
      log.debug({ digest: file.digest, size: removed.size }, 'gc removed a blob file');
    }
  }

  private async countLinks(digest: Digest): Promise<number> {
    let n = 0;
    for await (const _repo of each((p) => this.deps.meta.listBlobRepositories(digest, p), (r) => r)) n++;
    return n;
  }
}
