/**
 * A manifest or index: what it is, what it names (config, layers, or child
 * manifests with their platforms), its annotations, the referrers that point at
 * it (signatures, SBOMs, attestations), pull commands, and a delete link.
 */
import type { Caller } from '../../auth/authenticator.js';
import { isObject, type Descriptor } from '../../oci/descriptor.js';
import type { Registry } from '../../registry/registry.js';
import { isImageIndex, isImageManifest } from '../../unikernel/platform.js';
import { parseJson } from '../../unikernel/tag-variants.js';
import { formatBytes, html, type Html, type Part } from '../html.js';
import { layout, links, repoCrumbs } from '../layout.js';
import { pullBlock, type PullTarget } from '../pulls.js';
import { platformText, summarize } from './tags.js';

const REFERRERS_SHOWN = 100;

function annotationsTable(value: unknown): Html {
  if (!isObject(value) || Object.keys(value).length === 0) return html`<div class="empty">No annotations.</div>`;
  return html`<table class="annotations"><thead><tr><th>Key</th><th>Value</th></tr></thead><tbody>${Object.entries(value).map(
    ([k, v]) => html`<tr><td><code>${k}</code></td><td>${typeof v === 'string' ? v : JSON.stringify(v)}</td></tr>`,
  )}</tbody></table>`;
}

function descriptorAnnotations(d: Descriptor): Part {
  if (!isObject(d.annotations)) return '';
  return Object.entries(d.annotations).map(([k, v]) => html`<div><span class="chip">${k}</span> ${typeof v === 'string' ? v : JSON.stringify(v)}</div>`);
}

function layersTable(layers: readonly Descriptor[]): Html {
  if (layers.length === 0) return html`<div class="empty">No layers.</div>`;
  return html`<table class="layers"><thead><tr><th>#</th><th>Media type</th><th>Size</th><th>Digest</th><th>Annotations</th></tr></thead><tbody>${layers.map(
    (l, i) => html`<tr><td>${i + 1}</td><td><code>${l.mediaType}</code></td><td class="num">${formatBytes(l.size)}</td><td><code class="digest">${l.digest}</code></td><td>${descriptorAnnotations(l)}</td></tr>`,
  )}</tbody></table>`;
}

export async function manifestPage(registry: Registry, caller: Caller, repo: string, ref: string, pull: PullTarget, mayDelete: boolean): Promise<Html> {
  const record = await registry.manifests.get(repo, ref);
  const json = parseJson(record.bytes);
  const tags = await registry.deps.meta.tagsOf(repo, record.digest);
  const summary = await summarize(registry, repo, record.digest);
  const referrers = await registry.listings.referrers(repo, record.digest, REFERRERS_SHOWN);
  const isTag = !ref.includes(':');
  const body: Part[] = [];
  body.push(html`<h1>${repo}${isTag ? html`:${ref}` : html`@<code class="digest">${record.digest}</code>`}</h1>
<dl class="kv">
<dt>Digest</dt><dd><code class="digest">${record.digest}</code></dd>
<dt>Media type</dt><dd><code>${record.mediaType}</code></dd>
<dt>Manifest size</dt><dd>${formatBytes(record.bytes.length)}</dd>
<dt>Total size</dt><dd>${formatBytes(summary?.size)}</dd>
<dt>Tags</dt><dd>${tags.length > 0 ? tags.map((t) => html`<a class="chip" href="${links.manifest(repo, t)}">${t}</a>`) : html`<span class="muted">untagged</span>`}</dd>
${isObject(json) && isObject(json.subject) && typeof json.subject.digest === 'string' ? html`<dt>Subject</dt><dd><a href="${links.manifest(repo, json.subject.digest)}"><code class="digest">${json.subject.digest}</code></a></dd>` : ''}
${isObject(json) && typeof json.artifactType === 'string' ? html`<dt>Artifact type</dt><dd><code>${json.artifactType}</code></dd>` : ''}
</dl>
<h2>Pull</h2>
${pullBlock(pull, summary?.unikernel ?? false)}
${summary?.unikernel && isTag ? html`<p><a href="${links.unikernel(repo, ref)}">Unikernel variants of this tag »</a></p>` : ''}`);

  if (isImageIndex(json)) {
    body.push(html`<h2>Manifests</h2>
<table class="children"><thead><tr><th>Platform</th><th>Media type</th><th>Size</th><th>Digest</th></tr></thead><tbody>${json.manifests.map(
      (d) => html`<tr><td>${platformText(d.platform) ?? '—'}${isObject(d.platform) && Array.isArray(d.platform['os.features']) ? html`<br><span class="muted">${d.platform['os.features'].length} kconfig features</span>` : ''}</td><td><code>${d.mediaType}</code></td><td class="num">${formatBytes(d.size)}</td><td><a href="${links.manifest(repo, d.digest)}"><code class="digest">${d.digest}</code></a></td></tr>`,
    )}</tbody></table>`);
  } else if (isImageManifest(json)) {
    const c = json.config;
    body.push(html`<h2>Config</h2>
<dl class="kv"><dt>Media type</dt><dd><code>${c.mediaType}</code></dd><dt>Size</dt><dd>${formatBytes(c.size)}</dd><dt>Digest</dt><dd><code class="digest">${c.digest}</code></dd>
${platformText(c.platform) ? html`<dt>Platform</dt><dd>${platformText(c.platform)}</dd>` : ''}</dl>
<h2>Layers</h2>
${layersTable(json.layers)}`);
  }
  body.push(html`<h2>Annotations</h2>${annotationsTable(isObject(json) ? json.annotations : undefined)}`);
  body.push(html`<h2>Referrers</h2>${
    referrers.items.length > 0
      ? html`<table class="referrers"><thead><tr><th>Artifact type</th><th>Size</th><th>Digest</th><th>Annotations</th></tr></thead><tbody>${referrers.items.map(
          (d) => html`<tr><td><code>${d.artifactType ?? d.mediaType}</code></td><td class="num">${formatBytes(d.size)}</td><td><a href="${links.manifest(repo, d.digest)}"><code class="digest">${d.digest}</code></a></td><td>${descriptorAnnotations(d)}</td></tr>`,
        )}</tbody></table>${referrers.next !== undefined ? html`<p class="muted">Only the first ${REFERRERS_SHOWN} are shown.</p>` : ''}`
      : html`<div class="empty">No signatures, SBOMs or other referrers point at this manifest.</div>`
  }`);
  if (mayDelete) {
    body.push(html`<div class="actions">
${isTag ? html`<a class="button danger" href="${links.remove(repo, ref)}">Delete tag ${ref}…</a>` : ''}
<a class="button danger" href="${links.remove(repo, record.digest)}">Delete manifest…</a>
</div>`);
  }
  return layout({ title: `${repo} ${ref}`, caller, crumbs: [...repoCrumbs(repo), [isTag ? ref : record.digest.slice(0, 19)]] }, body);
}
