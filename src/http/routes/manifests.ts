/** `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>` */
import { manifestLocation } from '../locations.js';
import { readLimited, repoParam } from '../params.js';
import { empty } from '../respond.js';
import type { RouteGroup } from './types.js';

export const manifestRoutes: RouteGroup = (router, { registry, config }) => {
  router.get('/v2/*name/manifests/:reference', async (ctx) => {
    const record = await registry.manifests.get(repoParam(ctx), String(ctx.params.reference));
    ctx.status = 200;
    ctx.set('Docker-Content-Digest', record.digest);
    ctx.set('ETag', `"${record.digest}"`);
    ctx.type = record.mediaType;
    if (ctx.method === 'HEAD') {
      ctx.length = record.bytes.length;
      return;
    }
    ctx.body = record.bytes;
  });

  router.put('/v2/*name/manifests/:reference', async (ctx) => {
    const repo = repoParam(ctx);
    const bytes = await readLimited(ctx, config.manifests.maxSize);
    const result = await registry.manifests.put(repo, String(ctx.params.reference), bytes, ctx.get('content-type'));
    const headers: Record<string, string> = {
      Location: manifestLocation(repo, result.digest),
      'Docker-Content-Digest': result.digest,
    };
    if (result.subject) headers['OCI-Subject'] = result.subject;
    empty(ctx, 201, headers);
  });

  router.delete('/v2/*name/manifests/:reference', async (ctx) => {
    await registry.manifests.delete(repoParam(ctx), String(ctx.params.reference));
    empty(ctx, 202);
  });
};
