/**
 * Deleting a tag or a manifest: a GET shows what would go and asks to confirm;
 * the confirmation is a POST carrying the form token (src/ui/session.ts).
 */
import type { Caller } from '../../auth/authenticator.js';
import type { Registry } from '../../registry/registry.js';
import { html, type Html } from '../html.js';
import { layout, links, repoCrumbs } from '../layout.js';

export async function confirmDeletePage(registry: Registry, caller: Caller, repo: string, ref: string, token: string): Promise<Html> {
  const record = await registry.manifests.get(repo, ref);
  const isTag = !ref.includes(':');
  const tags = isTag ? [] : await registry.deps.meta.tagsOf(repo, record.digest);
  const what = isTag
    ? html`the tag <b>${repo}:${ref}</b> (it points at <code class="digest">${record.digest}</code>; the manifest stays, reachable by digest, until garbage collection)`
    : html`the manifest <code class="digest">${record.digest}</code> of <b>${repo}</b>${tags.length > 0 ? html` and its tags ${tags.map((t) => html`<span class="chip">${t}</span>`)}` : ''}`;
  return layout(
    { title: `Delete ${ref}`, caller, crumbs: [...repoCrumbs(repo), [isTag ? ref : record.digest.slice(0, 19), links.manifest(repo, ref)], ['delete']] },
    html`<h1>Delete ${isTag ? 'tag' : 'manifest'}?</h1>
<div class="error">This deletes ${what}. Clients can no longer pull it by this reference. This cannot be undone.</div>
<form method="post" action="/ui/delete" class="confirm">
<input type="hidden" name="repo" value="${repo}"><input type="hidden" name="ref" value="${ref}"><input type="hidden" name="token" value="${token}">
<div class="actions"><button type="submit" class="danger solid" id="confirm-delete">Yes, delete</button><a class="button" href="${links.manifest(repo, ref)}">Cancel</a></div>
</form>`,
  );
}
