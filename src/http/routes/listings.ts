/** Paged listings: `GET /v2/<name>/tags/list`, `GET /v2/_catalog`, `GET /v2/<name>/referrers/<digest>`. */
import { MediaType } from '../../oci/media-types.js';
import { digestParam, pageParams, queryString, repoParam, setNextLink } from '../params.js';
import { bytesBody, jsonBody } from '../respond.js';
import type { RouteGroup } from './types.js';

export const listingRoutes: RouteGroup = (router, { registry, guard }) => {
  router.get('/v2/_catalog', guard.catalog, async (ctx) => {
    const { n, last } = pageParams(ctx);
    const caller = guard.callerOf(ctx);
    const page = await registry.listings.repositories(n, last, (repo) => caller.visible(repo));
    if (page.next !== undefined) setNextLink(ctx, '/v2/_catalog', { n: String(n), last: page.next });
    jsonBody(ctx, { repositories: page.items });
  });

  router.get('/v2/*name/tags/list', guard.repo('pull'), async (ctx) => {
    const repo = repoParam(ctx);
    const { n, last } = pageParams(ctx);
    const page = await registry.listings.tags(repo, n, last);
    if (page.next !== undefined) setNextLink(ctx, `/v2/${repo}/tags/list`, { n: String(n), last: page.next });
    // Encoded by the listing service once per page: a page from its cache is not encoded again.
    bytesBody(ctx, page.body, 'application/json');
  });

  router.get('/v2/*name/referrers/:digest', guard.repo('pull'), async (ctx) => {
    const repo = repoParam(ctx);
    const subject = digestParam(ctx);
    const { n, last } = pageParams(ctx);
    const artifactType = queryString(ctx, 'artifactType') || undefined;
    const page = await registry.listings.referrers(repo, subject, n, artifactType, last);
    if (artifactType !== undefined) ctx.set('OCI-Filters-Applied', 'artifactType');
    if (page.next !== undefined) {
      const params: Record<string, string> = { n: String(n), last: page.next };
      if (artifactType !== undefined) params.artifactType = artifactType;
      setNextLink(ctx, `/v2/${repo}/referrers/${subject}`, params);
    }
    jsonBody(ctx, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: page.items }, MediaType.OciIndex);
  });
};
