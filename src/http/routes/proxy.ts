/**
 * Pull-through cache routes (src/proxy/, docs/proxy.md), registered before the
 * ordinary ones for the same paths: requests for repositories under no
 * upstream, and cached blobs, pass on (`next`) to the ordinary routes.
 *
 *   GET|HEAD /v2/<name>/manifests/<reference>   fresh from the store, revalidated, fetched, or stale
 *   GET|HEAD /v2/<name>/blobs/<digest>          fetched once from the upstream, streamed to every waiting client
 *   POST uploads, PUT manifests, pack           refused under a proxied prefix unless proxy.allowPush
 */
import type { Context, Next } from 'koa';
import type { Proxy } from '../../proxy/proxy.js';
import { digestParam, repoParam } from '../params.js';
import type { Guard } from '../guard.js';
import type { RouteGroup } from './types.js';

/** Response headers of a manifest served from the cache while the upstream was failing. */
export const STALE_HEADERS = { Warning: '110 - "Response is Stale"', 'X-Unireg-Cache': 'stale' } as const;

export function proxyRoutes(proxy: Proxy | undefined): RouteGroup {
  return (router, { guard }) => {
    if (proxy === undefined) return;
    const refusePush = async (ctx: Context, next: Next) => {
      proxy.checkPush(repoParam(ctx));
      await next();
    };
    router.post('/v2/*name/blobs/uploads{/}', refusePush);
    router.put('/v2/*name/manifests/:reference', refusePush);
    router.post('/v2/*name/_unikraft/pack', refusePush);
    router.get('/v2/*name/manifests/:reference', manifest(proxy, guard));
    router.get('/v2/*name/blobs/:digest', blob(proxy, guard));
  };
}

function manifest(proxy: Proxy, guard: Guard) {
  const pull = guard.repo('pull');
  return async (ctx: Context, next: Next) => {
    const repo = repoParam(ctx);
    const match = proxy.match(repo);
    if (match === undefined) return next();
    await pull(ctx, async () => {
      const { record, stale } = await proxy.manifests.get(match, repo, String(ctx.params.reference));
      ctx.status = 200;
      ctx.set('Docker-Content-Digest', record.digest);
      ctx.set('ETag', `"${record.digest}"`);
      if (stale) ctx.set(STALE_HEADERS);
      ctx.type = record.mediaType;
      if (ctx.method === 'HEAD') {
        ctx.length = record.bytes.length;
        return;
      }
      ctx.body = record.bytes;
    });
  };
}

function blob(proxy: Proxy, guard: Guard) {
  const pull = guard.repo('pull');
  return async (ctx: Context, next: Next) => {
    const repo = repoParam(ctx);
    const match = proxy.match(repo);
    if (match === undefined) return next();
    const digest = digestParam(ctx);
    // A cached blob is an ordinary one: the blob route serves it (with its own access check).
    if (await proxy.blobs.cached(repo, digest)) {
      proxy.stats.hits++;
      return next();
    }
    await pull(ctx, async () => {
      ctx.set('Docker-Content-Digest', digest);
      ctx.set('ETag', `"${digest}"`);
      if (ctx.method === 'HEAD') {
        const size = await proxy.blobs.size(match, digest);
        ctx.status = 200;
        ctx.type = 'application/octet-stream';
        if (size !== undefined) ctx.length = size;
        return;
      }
      // A range asks for part of the blob: wait for the whole to be stored, then serve the part.
      const answer = await proxy.blobs.fetch(match, repo, digest, ctx.get('range') === '');
      if (answer.kind === 'stored') return next();
      ctx.status = 200;
      ctx.type = 'application/octet-stream';
      ctx.set('Accept-Ranges', 'bytes');
      if (answer.start.size !== undefined) ctx.length = answer.start.size;
      // A failed fetch ends the response early (never a complete wrong blob): cut the connection.
      answer.stream.once('error', (err) => ctx.res.destroy(err));
      ctx.body = answer.stream;
    });
  };
}
