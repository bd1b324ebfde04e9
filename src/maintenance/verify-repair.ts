/**
 * `unireg verify --repair`: fixes what verify found, never deleting content
 * silently. Corrupt blobs and removed manifests are moved or copied to the
 * quarantine directory (paths from Layout) with a note saying why; every
 * action is returned for the report.
 *
 *   corruptBlob        file moved to quarantine/<alg>/<hex> (+ .note.json); its links go in the next round
 *   danglingLink       the link is removed
 *   sizeMismatch       the link is rewritten with the (verified) file's size
 *   invalidManifest,   the manifest's bytes are copied to quarantine/manifests/<repo>/<alg>/<hex>
 *   missingReference   (+ .note.json), then the manifest is deleted with its tags and referrer entry
 *   danglingTag        the tag is deleted
 *   danglingReferrer,  the record is deleted
 *   unreadableRecord
 *   staleUpload        the session and its data file are removed
 *   orphanBlob         left for garbage collection, or removed when older than the orphan grace
 *   strayFile          left in place
 *
 * Removing links and manifests can break what references them, so the metadata
 * pass runs again after each round and its findings are repaired, until a round
 * finds nothing (a bounded number of rounds).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { Finding } from './findings.js';
import { isProblem, publicFinding } from './findings.js';
import { scanMetadata, type VerifyOptions, type VerifyStores } from './verify.js';

export interface RepairAction {
  /** What was done. */
  action:
    | 'quarantined blob'
    | 'removed link'
    | 'fixed link size'
    | 'removed manifest'
    | 'removed tag'
    | 'removed record'
    | 'removed upload'
    | 'removed orphan'
    | 'left for GC'
    | 'left in place';
  /** The finding it answers (as printed). */
  finding: Record<string, unknown>;
  /** Where content was put aside, if it was. */
  quarantine?: string;
}

export interface RepairOptions extends VerifyOptions {
  /** Orphan blob files older than this are removed; undefined leaves every orphan for GC. */
  orphanGraceMs?: number;
}

export interface RepairResult {
  actions: RepairAction[];
  /** Problems the last metadata pass still finds (empty when the repair converged). */
  remaining: Finding[];
}

const MAX_ROUNDS = 20;

async function note(path: string, content: Record<string, unknown>): Promise<void> {
  await writeFile(`${path}.note.json`, `${JSON.stringify({ ...content, at: new Date().toISOString() }, null, 2)}\n`);
}

class Repairer {
  readonly actions: RepairAction[] = [];
  private readonly removedManifests = new Set<string>();

  constructor(
    private readonly stores: VerifyStores,
    private readonly options: RepairOptions,
  ) {}

  private done(action: RepairAction['action'], finding: Finding, quarantine?: string): void {
    this.actions.push({ action, finding: publicFinding(finding), ...(quarantine ? { quarantine } : {}) });
  }

  private async quarantineBlob(finding: Finding & { kind: 'corruptBlob' }): Promise<void> {
    const { layout } = this.stores;
    const target = layout.quarantineBlobPath(finding.digest);
    await mkdir(dirname(target), { recursive: true });
    await rename(layout.blobPath(finding.digest), target);
    await note(target, { reason: 'content does not hash to its digest', digest: finding.digest, actual: finding.actual, size: finding.size });
    this.done('quarantined blob', finding, target);
  }

  /** Copies the manifest's bytes to quarantine, then deletes it (with its tags and referrer entry). */
  private async removeManifest(repo: string, digest: Digest, finding: Finding, reason: string): Promise<void> {
    const key = `${repo}@${digest}`;
    if (this.removedManifests.has(key)) return;
    this.removedManifests.add(key);
    const { layout, meta } = this.stores;
    const record = await meta.getManifest(repo, digest);
    if (record === undefined) return;
    const target = layout.quarantineManifestPath(repo, digest);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, record.bytes);
    await note(target, { reason, repository: repo, digest, mediaType: record.mediaType });
    const tags = await meta.deleteManifest(repo, digest);
    this.done('removed manifest', { ...finding }, target);
    for (const tag of tags ?? []) this.done('removed tag', { kind: 'danglingTag', repo, tag, digest });
  }

  private async removeUpload(finding: Finding & { kind: 'staleUpload' }): Promise<void> {
    const { layout, meta } = this.stores;
    if (finding.reason !== 'no session') await meta.deleteUpload(finding.id);
    await rm(layout.uploadPath(finding.id), { force: true });
    this.done('removed upload', finding);
  }

  private async orphan(finding: Finding & { kind: 'orphanBlob' }): Promise<void> {
    const grace = this.options.orphanGraceMs;
    const age = (this.options.now ?? Date.now()) - (finding.modifiedAt ?? 0);
    if (grace === undefined || age < grace) return this.done('left for GC', finding);
    await this.stores.blobs.remove(finding.digest);
    this.done('removed orphan', finding);
  }

  async fix(finding: Finding): Promise<void> {
    const { meta } = this.stores;
    switch (finding.kind) {
      case 'corruptBlob':
        return this.quarantineBlob(finding);
      case 'danglingLink':
        await meta.unlinkBlob(finding.repo, finding.digest);
        return this.done('removed link', finding);
      case 'sizeMismatch':
        await meta.linkBlob(finding.repo, finding.digest, finding.fileSize);
        return this.done('fixed link size', finding);
      case 'invalidManifest':
        return this.removeManifest(finding.repo, finding.digest, finding, `invalid manifest: ${finding.reason}`);
      case 'missingReference':
        return this.removeManifest(finding.repo, finding.manifest, finding, `references ${finding.digest}, which the repository does not hold`);
      case 'danglingTag':
        await meta.deleteTag(finding.repo, finding.tag);
        return this.done('removed tag', finding);
      case 'danglingReferrer':
      case 'unreadableRecord':
        if (finding.recordKey !== undefined) await meta.deleteRecords([finding.recordKey]);
        return this.done('removed record', finding);
      case 'staleIndexEntry':
        if (finding.recordKey !== undefined) await meta.deleteRecords([finding.recordKey]);
        // The entry may have stood for a variant the index now lacks: the next start-up rebuilds it.
        await meta.markIndexBuilt(false);
        return this.done('removed record', finding);
      case 'unusedFeature':
        if (finding.recordKey !== undefined) await meta.deleteRecords([finding.recordKey]);
        return this.done('removed record', finding);
      case 'staleUpload':
        return this.removeUpload(finding);
      case 'orphanBlob':
        return this.orphan(finding);
      case 'strayFile':
        return this.done('left in place', finding);
    }
  }
}

/** Repairs `findings` (from verify()), then re-runs the metadata pass and repairs until it is clean. */
export async function repair(stores: VerifyStores, findings: readonly Finding[], options: RepairOptions): Promise<RepairResult> {
  const repairer = new Repairer(stores, options);
  // Corrupt blobs whose links are also reported: the size is fixed only on sound blobs.
  const corrupt = new Set(findings.filter((f) => f.kind === 'corruptBlob').map((f) => f.digest as string));
  for (const finding of findings) {
    if (finding.kind === 'sizeMismatch' && corrupt.has(finding.digest)) continue;
    await repairer.fix(finding);
  }
  let remaining: Finding[] = [];
  for (let round = 1; ; round++) {
    remaining = (await scanMetadata(stores, options)).findings.filter(isProblem);
    if (remaining.length === 0 || round === MAX_ROUNDS) break;
    for (const finding of remaining) await repairer.fix(finding);
  }
  return { actions: repairer.actions, remaining };
}

