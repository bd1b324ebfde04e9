/** `GET /_unireg/usage`: each quota namespace with the bytes it uses and its limit (needs the `admin` action). */
import type { RouteGroup } from './types.js';

export const adminUsageRoutes: RouteGroup = (router, { registry, guard }) => {
  router.get('/_unireg/usage', guard.admin, async (ctx) => {
    const namespaces = await registry.quotas.report();
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ namespaces });
  });
};
