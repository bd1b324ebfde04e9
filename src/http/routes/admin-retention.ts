/**
 * `POST /_unireg/retention[?dryRun=true]`: applies the retention rules now and
 * answers what was deleted (or, with dryRun, what would be), with counts. Needs
 * the `admin` action (guard.admin).
 */
import type { Context } from 'koa';
import { RequestInvalidError } from '../../domain/errors.js';
import { queryString } from '../params.js';
import { jsonBody } from '../respond.js';
import type { RouteGroup } from './types.js';

/** `dryRun=true|1` or `false|0` (absent: false). */
export function dryRunParam(ctx: Context): boolean {
  const value = queryString(ctx, 'dryRun');
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new RequestInvalidError('dryRun must be true or false', { dryRun: value });
}

export const adminRetentionRoutes: RouteGroup = (router, { registry, guard }) => {
  router.post('/_unireg/retention', guard.admin, async (ctx) => {
    const dryRun = dryRunParam(ctx);
    jsonBody(ctx, await registry.retention.run({ dryRun }));
  });
};
