/**
 * `POST /_unireg/gc[?dryRun=true]`: runs a garbage collection now and answers
 * its report (figures; in a dry run also the lists of what would go). Needs
 * the `admin` action. 409 GC_IN_PROGRESS while another GC runs.
 */
import { RequestInvalidError } from '../../domain/errors.js';
import { queryString } from '../params.js';
import { jsonBody } from '../respond.js';
import type { RouteGroup } from './types.js';

function flag(value: string | undefined, name: string): boolean {
  if (value === undefined || /^(false|0|no)$/i.test(value)) return false;
  if (value === '' || /^(true|1|yes)$/i.test(value)) return true;
  throw new RequestInvalidError(`${name} must be true or false`, { [name]: value });
}

export const adminGcRoutes: RouteGroup = (router, { registry, guard }) => {
  router.post('/_unireg/gc', guard.admin, async (ctx) => {
    const report = await registry.gc.run({ dryRun: flag(queryString(ctx, 'dryRun'), 'dryRun') });
    jsonBody(ctx, report);
  });
};
