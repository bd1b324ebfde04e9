/**
 * `/livez`, `/readyz` (no authentication) and `/metrics` (the `metrics`
 * action) on the main listener; src/metrics/listener.ts serves the same on
 * the optional separate metrics listener.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Guard } from '../http/guard.js';
import type { Health, HealthAnswer } from './health.js';
import type { Metrics } from './metrics.js';

export interface Observability {
  health: Health;
  /** Absent when metrics.enabled is false. */
  metrics?: Metrics;
}

function answer(ctx: Context, { status, body }: HealthAnswer): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

export function observabilityRoutes(router: Router, guard: Guard, ops: Observability): void {
  router.get('/livez', (ctx) => answer(ctx, ops.health.live()));
  router.get('/readyz', async (ctx) => answer(ctx, await ops.health.ready()));
  const metrics = ops.metrics;
  if (metrics) {
    router.get('/metrics', guard.metrics, async (ctx) => {
      const { contentType, body } = await metrics.render();
      ctx.status = 200;
      ctx.set('Content-Type', contentType);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = body;
    });
  }
}
