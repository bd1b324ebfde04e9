/** `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>` */
import { parseMatch } from '../../unikernel/filter.js';
import { filterRecord, hasVariantQuery } from '../../unikernel/served-filter.js';
import { leaseOf, withBodyLease } from '../body-budget.js';
import { manifestLocation } from '../locations.js';
import { queryList, queryString, readLimited, repoParam } from '../params.js';
import { empty } from '../respond.js';
import type { RouteGroup } from './types.js';

export const manifestRoutes: RouteGroup = (router, { registry, config, guard, bodies }) => {
  router.get('/v2/*name/manifests/:reference', guard.repo('pull'), async (ctx) => {
    const reference = String(ctx.params.reference);
    const record = await registry.manifests.get(repoParam(ctx), reference);
    ctx.status = 200;
    const query = {
      arch: queryString(ctx, 'arch'),
      plat: queryString(ctx, 'plat'),
      kconfig: queryList(ctx, 'kconfig'),
      match: parseMatch(queryString(ctx, 'match'), config.unikernel.kconfigMatch),
    };
    const filtered = hasVariantQuery(query) ? filterRecord(record, query, reference) : undefined;
    const served = filtered ?? record;
    ctx.set('Docker-Content-Digest', served.digest);
    ctx.set('ETag', `"${served.digest}"`);
    if (filtered) ctx.set('OCI-Filters-Applied', filtered.applied.join(','));
    ctx.type = record.mediaType;
    if (ctx.method === 'HEAD') {
      ctx.length = served.bytes.length;
      return;
    }
    ctx.body = served.bytes;
  });

  router.put('/v2/*name/manifests/:reference', guard.repo('pull', 'push'), withBodyLease(bodies), async (ctx) => {
    const repo = repoParam(ctx);
    const bytes = await readLimited(ctx, config.manifests.maxSize, leaseOf(ctx));
    const strategy = queryString(ctx, 'strategy') || undefined;
    const caller = guard.callerOf(ctx);
    const result = await registry.manifests.put(repo, String(ctx.params.reference), bytes, ctx.get('content-type'), {
      strategy,
      // A blob another repository links counts if the access rules let the caller pull that repository.
      acceptSource: (source) => caller.visible(source),
    });
    const headers: Record<string, string> = {
      Location: manifestLocation(repo, result.digest),
      'Docker-Content-Digest': result.digest,
    };
    if (result.subject) headers['OCI-Subject'] = result.subject;
    // The tag resolves to a merged unikernel index, not to the bytes pushed.
    if (result.tagDigest) headers['Unireg-Index-Digest'] = result.tagDigest;
    empty(ctx, 201, headers);
  });

  router.delete('/v2/*name/manifests/:reference', guard.repo('delete'), async (ctx) => {
    await registry.manifests.delete(repoParam(ctx), String(ctx.params.reference));
    empty(ctx, 202);
  });
};
