/** createApp: the Koa application and its middleware order. No I/O happens here. */
import Router from '@koa/router';
import Koa from 'koa';
import { errorHandler, unmatched } from './http/middleware/errors.js';
import { adminRetentionRoutes } from './http/routes/admin-retention.js';
import { adminUsageRoutes } from './http/routes/admin-usage.js';
import { requestLog } from './http/middleware/request-log.js';
import { httpMetrics } from './metrics/http-metrics.js';
import { observabilityRoutes, type Observability } from './metrics/routes.js';
import { baseRoutes } from './http/routes/base.js';
import { blobRoutes } from './http/routes/blobs.js';
import { listingRoutes } from './http/routes/listings.js';
import { manifestRoutes } from './http/routes/manifests.js';
import type { Auth } from './auth/setup.js';
import type { Config } from './config/schema.js';
import { BodyBudget } from './http/body-budget.js';
import { createGuard } from './http/guard.js';
import type { RouteDeps, RouteGroup } from './http/routes/types.js';
import type { Registry } from './registry/registry.js';
import type { Logger } from 'pino';
import { tokenRoutes } from './http/routes/token.js';
import { unikernelRoutes } from './http/routes/unikernel.js';
import { uploadRoutes } from './http/routes/uploads.js';
import { adminGcRoutes } from './http/routes/admin-gc.js';
import { uiRoutes } from './http/routes/ui.js';
import { adminWebhookRoutes } from './http/routes/admin-webhooks.js';
import { proxyRoutes } from './http/routes/proxy.js';
import { proxyRewrite } from './http/middleware/proxy-rewrite.js';
import type { Proxy } from './proxy/proxy.js';

const ROUTE_GROUPS: RouteGroup[] = [
  baseRoutes,
  uploadRoutes,
  blobRoutes,
  manifestRoutes,
  listingRoutes,
  unikernelRoutes,
  tokenRoutes,
  adminRetentionRoutes,
  adminUsageRoutes,
  adminGcRoutes,
  uiRoutes,
  adminWebhookRoutes,
];

export interface AppDeps {
  registry: Registry;
  config: Config;
  log: Logger;
  auth: Auth;
  /** The server-span middleware when tracing is on (src/tracing/). */
  tracing?: Koa.Middleware;
  /** Health endpoints and metrics (src/metrics/). */
  ops?: Observability;
  /** The pull-through cache, when `proxy.upstreams` are configured (src/proxy/). */
  proxy?: Proxy;
}

export function createApp(appDeps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  const deps: RouteDeps = {
    ...appDeps,
    guard: createGuard(appDeps.auth.authenticator),
    bodies: new BodyBudget(appDeps.config.http.bodyBudget),
  };
  // Proxied repositories first: their routes pass everything else on to the ordinary ones.
  proxyRoutes(appDeps.proxy)(router, deps);
  for (const group of ROUTE_GROUPS) group(router, deps);
  if (appDeps.ops) observabilityRoutes(router, deps.guard, appDeps.ops);

  app.use(requestLog(deps.log));
  if (appDeps.tracing) app.use(appDeps.tracing);
  if (appDeps.ops?.metrics) app.use(httpMetrics(appDeps.ops.metrics));
  app.use(errorHandler(deps.log));
  app.use(unmatched());
  if (appDeps.proxy) app.use(proxyRewrite(appDeps.proxy));
  app.use(router.routes());
  app.use(router.allowedMethods());
  // Errors after the response started (a blob read failing mid-stream) end here.
  app.on('error', (err: Error) => deps.log.warn({ err }, 'response failed after it started'));
  return app;
}
