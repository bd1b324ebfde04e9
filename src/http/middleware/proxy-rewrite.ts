/**
 * Mirror requests to the pull-through cache's local names, before routing (so
 * the guard, the routes and the logs all see the local name):
 *
 *   GET /v2/library/alpine/manifests/3?ns=docker.io   (containerd hosts.toml mirror)
 *   GET /v2/library/alpine/manifests/3                (Docker registry-mirrors: the default upstream)
 *     → /v2/<prefix>/library/alpine/manifests/3
 *
 * Names already under a proxy prefix, and (without `ns`) names of existing
 * local repositories, are left as they are.
 */
import type { Middleware } from 'koa';
import type { Proxy } from '../../proxy/proxy.js';

const PULL_PATH = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

export function proxyRewrite(proxy: Proxy): Middleware {
  return async (ctx, next) => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      const m = PULL_PATH.exec(ctx.path);
      if (m !== null && !m[1]!.startsWith('_') && !m[3]!.startsWith('uploads')) {
        const ns = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
        const local = await proxy.localName(m[1]!, ns);
        if (local !== undefined) ctx.path = `/v2/${local}/${m[2]}/${m[3]}`;
      }
    }
    await next();
  };
}
