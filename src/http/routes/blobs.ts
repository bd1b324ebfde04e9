/** `GET|HEAD|DELETE /v2/<name>/blobs/<digest>` */
import { empty } from '../respond.js';
import { sendBlob } from '../send-blob.js';
import { parseRange } from '../range.js';
import { digestParam, repoParam } from '../params.js';
import type { RouteGroup } from './types.js';

export const blobRoutes: RouteGroup = (router, { registry, guard }) => {
  router.get('/v2/*name/blobs/:digest', guard.repo('pull'), async (ctx) => {
    const repo = repoParam(ctx);
    const digest = digestParam(ctx);
    ctx.set('Docker-Content-Digest', digest);
    ctx.set('Accept-Ranges', 'bytes');
    ctx.set('ETag', `"${digest}"`);
    if (ctx.method === 'HEAD') {
      const size = await registry.blobs.stat(repo, digest);
      ctx.status = 200;
      ctx.type = 'application/octet-stream';
      ctx.length = size;
      return;
    }
    // storage.blobs.redirect: the object store serves whole-blob GETs; Range GETs are answered here.
    if (!ctx.get('range')) {
      const location = await registry.blobs.redirect(repo, digest);
      if (location !== undefined) {
        ctx.status = 307;
        ctx.set('Location', location);
        ctx.set('Cache-Control', 'no-store');
        return;
      }
    }
    const size = await registry.blobs.stat(repo, digest);
    const blob = await registry.blobs.open(repo, digest, parseRange(ctx.get('range') || undefined, size));
    ctx.type = 'application/octet-stream';
    const start = blob.range?.start ?? 0;
    const length = blob.range ? blob.range.end - blob.range.start + 1 : blob.size;
    if (blob.range) {
      ctx.status = 206;
      ctx.set('Content-Range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`);
    } else {
      ctx.status = 200;
    }
    ctx.length = length;
    await sendBlob(ctx, blob.file, start, length);
  });

  router.delete('/v2/*name/blobs/:digest', guard.repo('delete'), async (ctx) => {
    await registry.blobs.delete(repoParam(ctx), digestParam(ctx));
    empty(ctx, 202);
  });
};
