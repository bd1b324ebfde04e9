/** The page frame shared by every UI page. */
import type { Caller } from '../auth/authenticator.js';
import { html, type Html, type Part } from './html.js';

export interface PageFrame {
  title: string;
  caller?: Caller;
  crumbs?: [label: string, href?: string][];
}

export function layout(frame: PageFrame, body: Part): Html {
  const who = frame.caller?.principal.name;
  const crumbs = frame.crumbs ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · unireg</title>
<link rel="stylesheet" href="/ui/static/ui.css">
<script src="/ui/static/htmx.min.js" defer></script>
<script src="/ui/static/ui.js" defer></script>
<meta name="htmx-config" content='{"includeIndicatorStyles":false}'>
</head>
<body>
<header><a href="/ui/repos">unireg</a><a href="/ui/repos">Repositories</a><span class="who">${who ? html`signed in as <b>${who}</b>` : 'open registry (no sign-in)'}</span></header>
<main>
${
  crumbs.length > 0
    ? html`<nav class="crumbs">${crumbs.map(([label, href], i) => html`${i > 0 ? ' / ' : ''}${href ? html`<a href="${href}">${label}</a>` : label}`)}</nav>`
    : ''
}
${body}
</main>
</body>
</html>`;
}

/** Links of a repository's pages, with the name as a query parameter (names hold slashes). */
export const links = {
  repos: (q?: string) => `/ui/repos${q ? `?q=${encodeURIComponent(q)}` : ''}`,
  tags: (repo: string) => `/ui/tags?repo=${encodeURIComponent(repo)}`,
  manifest: (repo: string, ref: string) => `/ui/manifest?repo=${encodeURIComponent(repo)}&ref=${encodeURIComponent(ref)}`,
  unikernel: (repo: string, tag: string) => `/ui/unikernel?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`,
  remove: (repo: string, ref: string) => `/ui/delete?repo=${encodeURIComponent(repo)}&ref=${encodeURIComponent(ref)}`,
};

export function repoCrumbs(repo: string): [string, string?][] {
  return [
    ['Repositories', links.repos()],
    [repo, links.tags(repo)],
  ];
}
