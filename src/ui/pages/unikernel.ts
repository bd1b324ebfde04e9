/**
 * The unikernel view of a tag: the variant matrix (architecture × platform),
 * each variant's kconfig features and kernel size, filtering by kconfig exactly
 * as the API's `?kconfig=` does (the same VariantsService and filter), and the
 * diff of two variants' features.
 */
import type { Caller } from '../../auth/authenticator.js';
import { UnikernelInputError } from '../../unikernel/errors.js';
import type { VariantInfo, VariantsService } from '../../unikernel/variants-service.js';
import { formatBytes, html, type Html, type Part } from '../html.js';
import { layout, links, repoCrumbs } from '../layout.js';
import { pullBlock, type PullTarget } from '../pulls.js';
import { diffFeatures } from './feature-diff.js';

export interface UnikernelQuery {
  tag: string;
  /** The kconfig filter as typed: KEY or KEY=VALUE, separated by spaces or commas. */
  kconfig: string;
  a?: string;
  b?: string;
}

export function kconfigList(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '');
}

const label = (v: VariantInfo) => `${v.plat}/${v.arch}`;

function matrix(all: VariantInfo[], matching: Set<string>): Html {
  const archs = [...new Set(all.map((v) => v.arch))].sort();
  const plats = [...new Set(all.map((v) => v.plat))].sort();
  const cell = (arch: string, plat: string): Part => {
    const here = all.filter((v) => v.arch === arch && v.plat === plat);
    if (here.length === 0) return html`<td class="muted">—</td>`;
    return html`<td>${here.map((v) =>
      matching.has(v.manifest)
        ? html`<div class="match"><a href="${`#v-${v.manifest.slice(7, 19)}`}">${formatBytes(v.kernelSize)}</a><br><span class="muted">${v.features.length} features</span></div>`
        : html`<div class="muted filtered">filtered out</div>`,
    )}</td>`;
  };
  return html`<table class="matrix"><thead><tr><th>architecture \\ platform</th>${plats.map((p) => html`<th>${p}</th>`)}</tr></thead>
<tbody>${archs.map((a) => html`<tr><th>${a}</th>${plats.map((p) => cell(a, p))}</tr>`)}</tbody></table>`;
}

function variantTable(repo: string, variants: VariantInfo[]): Html {
  if (variants.length === 0) return html`<div class="empty">No variant has every feature of the filter.</div>`;
  return html`<table class="variants"><thead><tr><th>Platform</th><th>Kernel</th><th>Initrd</th><th>kconfig features</th><th>Manifest</th></tr></thead><tbody>${variants.map(
    (v) => html`<tr id="${`v-${v.manifest.slice(7, 19)}`}" data-variant="${label(v)}"><td>${label(v)}${v.version ? html`<br><span class="muted">${v.version}</span>` : ''}</td>
<td class="num">${formatBytes(v.kernelSize)}</td><td class="num">${v.initrdSize === undefined ? '—' : formatBytes(v.initrdSize)}</td>
<td><details><summary>${v.features.length} features</summary>${v.features.map((f) => html`<span class="chip">${f}</span>`)}</details></td>
<td><a href="${links.manifest(repo, v.manifest)}" data-manifest="${v.manifest}"><code class="digest">${v.manifest.slice(0, 19)}…</code></a></td></tr>`,
  )}</tbody></table>`;
}

function diffSection(all: VariantInfo[], q: UnikernelQuery, repo: string): Html {
  const option = (v: VariantInfo, selected: string | undefined) =>
    html`<option value="${v.manifest}" ${selected === v.manifest ? 'selected' : ''}>${label(v)} (${v.manifest.slice(7, 19)})</option>`;
  const form = html`<form class="diff" method="get" action="/ui/unikernel">
<input type="hidden" name="repo" value="${repo}"><input type="hidden" name="tag" value="${q.tag}"><input type="hidden" name="kconfig" value="${q.kconfig}">
<select name="a" aria-label="first variant">${all.map((v) => option(v, q.a ?? all[0]?.manifest))}</select>
<select name="b" aria-label="second variant">${all.map((v) => option(v, q.b ?? all[1]?.manifest))}</select>
<button type="submit">Compare features</button></form>`;
  const a = all.find((v) => v.manifest === q.a);
  const b = all.find((v) => v.manifest === q.b);
  if (!a || !b) return form;
  const d = diffFeatures(a.features, b.features);
  return html`${form}<div class="diff-result">
<p><b>${label(a)}</b> vs <b>${label(b)}</b>: ${d.same} features the same, ${d.changed.length} with different values, ${d.onlyA.length} only in the first, ${d.onlyB.length} only in the second.</p>
<table class="diff"><thead><tr><th>Only in ${label(a)}</th><th>Different values</th><th>Only in ${label(b)}</th></tr></thead><tbody><tr>
<td class="only-a">${d.onlyA.map((f) => html`<div class="chip del">${f}</div>`)}</td>
<td class="changed">${d.changed.map((c) => html`<div><span class="chip">${c.key}</span> <span class="chip del">${c.a}</span> → <span class="chip add">${c.b}</span></div>`)}</td>
<td class="only-b">${d.onlyB.map((f) => html`<div class="chip add">${f}</div>`)}</td>
</tr></tbody></table></div>`;
}

export async function unikernelPage(variants: VariantsService, caller: Caller, repo: string, q: UnikernelQuery, pull: PullTarget): Promise<Html> {
  const all = (await variants.list(repo, { tag: q.tag, n: 1 })).variants;
  let matching = all;
  let filterError: string | undefined;
  const kconfig = kconfigList(q.kconfig);
  if (kconfig.length > 0) {
    try {
      matching = (await variants.list(repo, { tag: q.tag, kconfig, n: 1 })).variants;
    } catch (err) {
      if (!(err instanceof UnikernelInputError)) throw err;
      filterError = err.message;
      matching = [];
    }
  }
  const matchingSet = new Set(matching.map((v) => v.manifest));
  const body = html`<h1>${repo}:${q.tag} <span class="muted">unikernel variants</span></h1>
${pullBlock(pull, true)}
${
  all.length === 0
    ? html`<div class="empty">This tag holds no unikernel variants.</div>`
    : html`<h2>Variant matrix</h2>
<form class="kconfig" method="get" action="/ui/unikernel">
<input type="hidden" name="repo" value="${repo}"><input type="hidden" name="tag" value="${q.tag}">
<input type="text" name="kconfig" value="${q.kconfig}" placeholder="kconfig filter: CONFIG_HZ=100 CONFIG_LIBVFSCORE" aria-label="kconfig filter">
<button type="submit">Filter</button>${q.kconfig ? html` <a href="${links.unikernel(repo, q.tag)}">clear</a>` : ''}
</form>
${filterError ? html`<div class="error">${filterError}</div>` : ''}
${kconfig.length > 0 && !filterError ? html`<p class="muted filter-summary">${matching.length} of ${all.length} variants have ${kconfig.map((k) => html`<span class="chip">${k}</span>`)} (API: <code>${`GET /v2/${repo}/manifests/${q.tag}?${kconfig.map((k) => `kconfig=${encodeURIComponent(k)}`).join('&')}`}</code>)</p>` : ''}
${matrix(all, matchingSet)}
<h2>Variants</h2>
${variantTable(repo, matching)}
<h2>Compare two variants</h2>
${all.length < 2 ? html`<div class="empty">The tag holds one variant: nothing to compare.</div>` : diffSection(all, q, repo)}`
}`;
  return layout({ title: `${repo}:${q.tag} variants`, caller, crumbs: [...repoCrumbs(repo), [q.tag, links.manifest(repo, q.tag)], ['unikernel']] }, body);
}
