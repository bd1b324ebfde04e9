/**
 * The data of each event, built by the registry services (never by route
 * handlers) and handed to the metadata store with the change they describe.
 * Every function returns [] when no endpoint wants the event.
 */
import type { Digest } from '../oci/digest.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { isImageIndex } from '../unikernel/platform.js';
import type { ManifestRecord, QueuedEvent } from '../storage/types.js';
import { NO_WEBHOOKS, type WebhookEvents } from './events.js';

/** Entries of a retention event's `deleted` list at most (the counts stay exact). */
export const RETENTION_LIST_LIMIT = 1000;

const or = (events: WebhookEvents | undefined) => events ?? NO_WEBHOOKS;

export interface ManifestPush {
  repo: string;
  record: ManifestRecord;
  tag?: string;
  /** The index the tag now points at when variants were merged (unikernels). */
  merged?: ManifestRecord;
  strategy?: string;
}

/** One variant of a unikernel index: its manifest and platform (`os.features`: the kconfig features). */
function variants(record: ManifestRecord): { digest: string; size: number; platform?: Platform }[] {
  let json: unknown;
  try {
    json = JSON.parse(record.bytes.toString('utf8'));
  } catch {
    return [];
  }
  if (!isImageIndex(json)) return [];
  return json.manifests.map((d: Descriptor) => ({ digest: d.digest, size: d.size, ...(d.platform ? { platform: d.platform } : {}) }));
}

/** `manifest.pushed` for the pushed bytes, and `unikernel.merged` when the tag now holds a merged index. */
export function manifestPushEvents(webhooks: WebhookEvents | undefined, push: ManifestPush): QueuedEvent[] {
  const w = or(webhooks);
  const { repo, record, tag, merged } = push;
  const out = w.queue('manifest.pushed', repo, {
    repository: repo,
    digest: record.digest,
    mediaType: record.mediaType,
    size: record.bytes.length,
    ...(tag === undefined ? {} : { tag }),
    ...(merged === undefined ? {} : { tagDigest: merged.digest }),
  });
  if (merged !== undefined && tag !== undefined && w.wanted('unikernel.merged', repo)) {
    out.push(
      ...w.queue('unikernel.merged', repo, {
        repository: repo,
        tag,
        digest: merged.digest,
        pushed: record.digest,
        strategy: push.strategy ?? 'default',
        variants: variants(merged),
      }),
    );
  }
  return out;
}

export function manifestDeleteEvents(webhooks: WebhookEvents | undefined, repo: string, digest: Digest, tags: string[]): QueuedEvent[] {
  return or(webhooks).queue('manifest.deleted', repo, { repository: repo, digest, tags });
}

export function tagDeleteEvents(webhooks: WebhookEvents | undefined, repo: string, tag: string, digest: Digest, reason: 'request' | 'retention'): QueuedEvent[] {
  return or(webhooks).queue('tag.deleted', repo, { repository: repo, tag, digest, reason });
}

export function blobMountEvents(webhooks: WebhookEvents | undefined, repo: string, digest: Digest, size: number, from: string): QueuedEvent[] {
  return or(webhooks).queue('blob.mounted', repo, { repository: repo, digest, size, from });
}

export interface PackFacts {
  repository: string;
  tag: string;
  manifest: Digest;
  config: Digest;
  platform: Platform;
  layers: Descriptor[];
  strategy: string;
  /** The provenance referrer of the packed variant manifest. */
  provenance: Digest;
}

/** `unikernel.packed`, given the index the tag resolves to after the pack. */
export function packEvents(webhooks: WebhookEvents | undefined, facts: PackFacts, index: Digest): QueuedEvent[] {
  return or(webhooks).queue('unikernel.packed', facts.repository, { ...facts, index });
}

export function gcEvents(webhooks: WebhookEvents | undefined, figures: object): QueuedEvent[] {
  return or(webhooks).queue('gc.completed', undefined, figures);
}

export interface RetentionFacts {
  counts: object;
  durationMs: number;
  deleted: object[];
  skipped: object[];
}

export function retentionEvents(webhooks: WebhookEvents | undefined, report: RetentionFacts): QueuedEvent[] {
  const w = or(webhooks);
  if (!w.wanted('retention.completed', undefined)) return [];
  const cut = <T>(list: T[]) => list.slice(0, RETENTION_LIST_LIMIT);
  return w.queue('retention.completed', undefined, {
    counts: report.counts,
    durationMs: report.durationMs,
    deleted: cut(report.deleted),
    skipped: cut(report.skipped),
    ...(report.deleted.length > RETENTION_LIST_LIMIT || report.skipped.length > RETENTION_LIST_LIMIT ? { listsTruncated: true } : {}),
  });
}
