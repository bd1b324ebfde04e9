/**
 * A repository's tags: one page of tag records (name order) with the push time,
 * the size of what the tag points at (manifest plus the blobs it names, or the
 * sum over an index's children) and its platforms.
 */
import type { Caller } from '../../auth/authenticator.js';
import { isObject, type Descriptor, type Platform } from '../../oci/descriptor.js';
import type { Digest } from '../../oci/digest.js';
import type { Registry } from '../../registry/registry.js';
import { NameUnknownError } from '../../domain/errors.js';
import { isImageIndex, isImageManifest } from '../../unikernel/platform.js';
import { parseJson } from '../../unikernel/tag-variants.js';
import { formatBytes, formatTime, html, type Html, query } from '../html.js';
import { layout, links, repoCrumbs } from '../layout.js';

export const TAGS_PER_PAGE = 50;

export interface TagSummary {
  kind: 'index' | 'manifest' | 'other';
  size: number;
  platforms: string[];
  unikernel: boolean;
}

export function platformText(p: Platform | undefined): string | undefined {
  if (!isObject(p)) return undefined;
  const parts = [p.os, p.architecture, p.variant].filter((s): s is string => typeof s === 'string' && s !== '');
  return parts.length > 0 ? parts.join('/') : undefined;
}

function descriptorsSize(ds: readonly Descriptor[]): number {
  return ds.reduce((sum, d) => sum + (typeof d.size === 'number' ? d.size : 0), 0);
}

const KRAFT_PREFIX = 'org.unikraft.';

/** What a manifest record holds: its size with what it names, and its platforms. */
export async function summarize(registry: Registry, repo: string, digest: Digest): Promise<TagSummary | undefined> {
  const { meta } = registry.deps;
  const record = await meta.getManifest(repo, digest);
  if (record === undefined) return undefined;
  const json = parseJson(record.bytes);
  if (isImageIndex(json)) {
    let size = record.bytes.length;
    let unikernel = false;
    const platforms: string[] = [];
    for (const d of json.manifests) {
      const text = platformText(d.platform);
      if (text !== undefined && !platforms.includes(text)) platforms.push(text);
      const child = await meta.getManifest(repo, d.digest);
      const childJson = child && parseJson(child.bytes);
      size += child ? child.bytes.length : 0;
      if (isImageManifest(childJson)) {
        size += descriptorsSize([childJson.config, ...childJson.layers]);
        unikernel ||= childJson.layers.some((l) => isObject(l.annotations) && Object.keys(l.annotations).some((k) => k.startsWith(KRAFT_PREFIX)));
      }
    }
    return { kind: 'index', size, platforms, unikernel };
  }
  if (isImageManifest(json)) {
    const platform = platformText(json.config.platform);
    const unikernel = json.layers.some((l) => isObject(l.annotations) && Object.keys(l.annotations).some((k) => k.startsWith(KRAFT_PREFIX)));
    return { kind: 'manifest', size: record.bytes.length + descriptorsSize([json.config, ...json.layers]), platforms: platform ? [platform] : [], unikernel };
  }
  return { kind: 'other', size: record.bytes.length, platforms: [], unikernel: false };
}

export async function tagsPage(registry: Registry, caller: Caller, repo: string, last: string | undefined, mayDelete: boolean, deleted?: string): Promise<Html> {
  const { meta } = registry.deps;
  if (!(await meta.hasRepository(repo))) throw new NameUnknownError(repo);
  const records = await meta.listTagRecords(repo, { last, limit: TAGS_PER_PAGE + 1 });
  const shown = records.slice(0, TAGS_PER_PAGE);
  const next = records.length > TAGS_PER_PAGE ? shown[shown.length - 1]?.tag : undefined;
  const rows: Html[] = [];
  for (const r of shown) {
    const s = await summarize(registry, repo, r.digest);
    rows.push(html`<tr data-tag="${r.tag}">
<td><a href="${links.manifest(repo, r.tag)}">${r.tag}</a></td>
<td class="num">${formatBytes(s?.size)}</td>
<td>${formatTime(r.pushedAt)}</td>
<td>${s && s.platforms.length > 0 ? s.platforms.map((p) => html`<span class="chip">${p}</span>`) : html`<span class="muted">—</span>`}</td>
<td>${s?.kind ?? 'missing'}${s?.unikernel ? html` · <a href="${links.unikernel(repo, r.tag)}">unikernel variants</a>` : ''}</td>
<td><code class="digest">${r.digest.slice(0, 19)}…</code></td>
${mayDelete ? html`<td><a class="button danger" href="${links.remove(repo, r.tag)}">Delete…</a></td>` : ''}
</tr>`);
  }
  return layout(
    { title: repo, caller, crumbs: repoCrumbs(repo) },
    html`<h1>${repo}</h1>
${deleted ? html`<div class="notice" role="status">Deleted ${deleted.includes(':') ? 'manifest' : 'tag'} <code>${deleted}</code>.</div>` : ''}
<h2>Tags</h2>
${
  rows.length > 0
    ? html`<table class="tags"><thead><tr><th>Tag</th><th>Size</th><th>Pushed</th><th>Platforms</th><th>Kind</th><th>Digest</th>${mayDelete ? html`<th></th>` : ''}</tr></thead><tbody>${rows}</tbody></table>`
    : html`<div class="empty">This repository has no tags.</div>`
}
<div class="pager">
${last ? html`<a href="${links.tags(repo)}">« First page</a>` : ''}
${next !== undefined ? html`<a rel="next" class="next" href="${`/ui/tags${query([['repo', repo], ['last', next]])}`}">Next page »</a>` : ''}
</div>`,
  );
}
