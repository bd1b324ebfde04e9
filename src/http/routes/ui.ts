/**
 * The web UI under /ui: server-rendered pages (src/ui/), htmx for in-place search.
 * Same users and rules as the API (src/ui/session.ts); errors become HTML pages
 * with the status and headers the API would send (a 401 keeps its Basic challenge,
 * so the browser asks for credentials).
 */
import type { Context, Middleware } from 'koa';
import type { Caller } from '../../auth/authenticator.js';
import type { Action } from '../../config/auth-schema.js';
import { parseRepoName } from '../../oci/names.js';
import { RequestInvalidError } from '../../domain/errors.js';
import { VariantsService } from '../../unikernel/variants-service.js';
import { asset } from '../../ui/assets.js';
import { html, type Html } from '../../ui/html.js';
import { layout, links } from '../../ui/layout.js';
import { confirmDeletePage } from '../../ui/pages/delete.js';
import { manifestPage } from '../../ui/pages/manifest.js';
import { reposPage } from '../../ui/pages/repos.js';
import { tagsPage } from '../../ui/pages/tags.js';
import { unikernelPage } from '../../ui/pages/unikernel.js';
import type { PullTarget } from '../../ui/pulls.js';
import { UiSessions } from '../../ui/session.js';
import { withBodyLease, leaseOf } from '../body-budget.js';
import { toOciError } from '../oci-errors.js';
import { queryString, readLimited } from '../params.js';
import type { RouteGroup } from './types.js';

const MAX_FORM = 16 * 1024;
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

function send(ctx: Context, page: Html, status = 200): void {
  ctx.set(SECURITY_HEADERS);
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page.text;
}

/** Errors of UI routes as HTML pages; the status and headers (challenges, Retry-After) are the API's. */
const htmlErrors: Middleware = async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    const mapped = toOciError(err);
    if (mapped.internal) throw err;
    const e = mapped.body.errors[0]!;
    ctx.set(mapped.headers);
    const detail = e.detail === undefined ? '' : html`<pre>${JSON.stringify(e.detail, null, 2)}</pre>`;
    send(ctx, layout({ title: 'Error' }, html`<h1>${mapped.status === 401 ? 'Sign-in required' : 'Something went wrong'}</h1><div class="error"><b>${e.code}</b>: ${e.message}</div>${detail}<p><a href="/ui/repos">Back to the repositories</a></p>`), mapped.status);
  }
};

function required(ctx: Context, key: string): string {
  const value = queryString(ctx, key);
  if (value === undefined || value === '') throw new RequestInvalidError(`the ${key} parameter is required`, { parameter: key });
  return value;
}

function pullTarget(ctx: Context, repo: string, ref: string): PullTarget {
  return { host: ctx.host, plainHttp: ctx.protocol === 'http', repo, ref };
}

export const uiRoutes: RouteGroup = (router, { registry, auth, config, bodies }) => {
  const sessions = new UiSessions(auth.authenticator);
  const variants = new VariantsService(registry);
  const need = (repo: string, ...actions: Action[]) => ({ type: 'repository' as const, name: repo, actions });
  const mayDelete = (caller: Caller, repo: string) => config.deletes.enabled && caller.allows(need(repo, 'delete'));
  /** The caller, allowed `actions` on the repository named by ?repo=. */
  const repoCaller = async (ctx: Context, ...actions: Action[]): Promise<{ caller: Caller; repo: string }> => {
    const repo = parseRepoName(required(ctx, 'repo'));
    const caller = await sessions.caller(ctx);
    sessions.require(ctx, caller, need(repo, ...actions));
    return { caller, repo };
  };

  router.get('/ui', (ctx) => ctx.redirect('/ui/repos'));

  router.get('/ui/static/:file', (ctx) => {
    const found = asset(String(ctx.params.file));
    if (found === undefined) return;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = found.type;
    ctx.body = found.body;
  });

  router.get('/ui/repos', htmlErrors, async (ctx) => {
    const caller = await sessions.caller(ctx);
    sessions.require(ctx, caller, { type: 'registry', name: 'catalog', actions: ['*'] });
    send(ctx, await reposPage(registry, caller, queryString(ctx, 'q') ?? '', queryString(ctx, 'last') || undefined));
  });

  router.get('/ui/tags', htmlErrors, async (ctx) => {
    const { caller, repo } = await repoCaller(ctx, 'pull');
    const deleted = queryString(ctx, 'deleted');
    send(ctx, await tagsPage(registry, caller, repo, queryString(ctx, 'last') || undefined, mayDelete(caller, repo), deleted));
  });

  router.get('/ui/manifest', htmlErrors, async (ctx) => {
    const { caller, repo } = await repoCaller(ctx, 'pull');
    const ref = required(ctx, 'ref');
    send(ctx, await manifestPage(registry, caller, repo, ref, pullTarget(ctx, repo, ref), mayDelete(caller, repo)));
  });

  router.get('/ui/unikernel', htmlErrors, async (ctx) => {
    const { caller, repo } = await repoCaller(ctx, 'pull');
    const tag = required(ctx, 'tag');
    const query = { tag, kconfig: queryString(ctx, 'kconfig') ?? '', a: queryString(ctx, 'a'), b: queryString(ctx, 'b') };
    send(ctx, await unikernelPage(variants, caller, repo, query, pullTarget(ctx, repo, tag)));
  });

  router.get('/ui/delete', htmlErrors, async (ctx) => {
    const { caller, repo } = await repoCaller(ctx, 'delete');
    send(ctx, await confirmDeletePage(registry, caller, repo, required(ctx, 'ref'), sessions.token(caller)));
  });

  router.post('/ui/delete', htmlErrors, withBodyLease(bodies), async (ctx) => {
    if (ctx.request.type !== 'application/x-www-form-urlencoded') throw new RequestInvalidError('send the confirmation form');
    const form = new URLSearchParams((await readLimited(ctx, MAX_FORM, leaseOf(ctx))).toString('utf8'));
    const repo = parseRepoName(form.get('repo') ?? '');
    const ref = form.get('ref') ?? '';
    const caller = await sessions.caller(ctx);
    sessions.checkPost(ctx, caller, form.get('token') ?? undefined);
    sessions.require(ctx, caller, need(repo, 'delete'));
    await registry.manifests.delete(repo, ref);
    ctx.redirect(`${links.tags(repo)}&deleted=${encodeURIComponent(ref)}`);
    ctx.status = 303;
  });
};
