/**
 * The repositories page: a search box and one page of repositories in name order,
 * read from the metadata's ordered listing (never all of them), cut to what the
 * caller may pull. Paging is by the last name shown (`last`), as the catalog's.
 * The search box updates the results as one types (htmx swaps #results).
 */
import type { Caller } from '../../auth/authenticator.js';
import type { Registry } from '../../registry/registry.js';
import { html, type Html, query } from '../html.js';
import { layout, links } from '../layout.js';

export const REPOS_PER_PAGE = 50;

export async function reposPage(registry: Registry, caller: Caller, q: string, last: string | undefined): Promise<Html> {
  const needle = q.trim().toLowerCase();
  const keep = (repo: string) => caller.visible(repo) && (needle === '' || repo.toLowerCase().includes(needle));
  const page = await registry.listings.repositories(REPOS_PER_PAGE, last, keep);
  const rows = page.items.map(
    (repo) => html`<tr><td><a href="${links.tags(repo)}">${repo}</a></td></tr>`,
  );
  const results = html`<div id="results">
${
  rows.length > 0
    ? html`<table class="repos"><thead><tr><th>Repository</th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<div class="empty">${needle ? html`No repository matches “${q}”.` : 'No repositories yet.'}</div>`
}
<div class="pager">
${last ? html`<a href="${`/ui/repos${query([['q', q]])}`}">« First page</a>` : ''}
<span>${rows.length} shown${last ? html` after <code>${last}</code>` : ''}</span>
${page.next !== undefined ? html`<a rel="next" class="next" href="${`/ui/repos${query([['q', q], ['last', page.next]])}`}">Next page »</a>` : ''}
</div>
</div>`;
  return layout(
    { title: 'Repositories', caller, crumbs: [['Repositories']] },
    html`<h1>Repositories</h1>
<form class="search" method="get" action="/ui/repos">
<input type="search" name="q" value="${q}" placeholder="Search repositories" aria-label="Search repositories" autocomplete="off"
 hx-get="/ui/repos" hx-trigger="input changed delay:250ms, search" hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true">
<button type="submit">Search</button>
</form>
${results}`,
  );
}
