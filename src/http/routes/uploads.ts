/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, `?digest=` single
 * request, `?mount=&from=`), then `PATCH|PUT|GET|DELETE` on the session URL.
 */
import type { Context } from 'koa';
import { parseDigest, tryParseDigest, type Digest } from '../../oci/digest.js';
import { DigestInvalidError } from '../../domain/errors.js';
import type { UploadSession } from '../../storage/types.js';
import { ownedChunks } from '../../storage/owned-chunks.js';
import { blobLocation, uploadLocation, uploadRange } from '../locations.js';
import { chunkOf, contentLength, hasBody, queryString, repoParam } from '../params.js';
import { empty } from '../respond.js';
import type { RouteGroup } from './types.js';

function sessionHeaders(session: UploadSession): Record<string, string> {
  return {
    Location: uploadLocation(session.repo, session.id),
    Range: uploadRange(session.offset),
    'Docker-Upload-UUID': session.id,
  };
}

function created(ctx: Context, repo: string, digest: Digest): void {
  empty(ctx, 201, { Location: blobLocation(repo, digest), 'Docker-Content-Digest': digest });
}

export const uploadRoutes: RouteGroup = (router, { registry, guard }) => {
  const push = guard.repo('pull', 'push');

  router.post('/v2/*name/blobs/uploads{/}', push, async (ctx) => {
    const repo = repoParam(ctx);
    const mount = queryString(ctx, 'mount');
    if (mount !== undefined) {
      const digest = tryParseDigest(mount);
      // Only from repositories the caller may pull; otherwise an ordinary upload starts (202).
      const caller = guard.callerOf(ctx);
      const readable = (from: string) => caller.allows({ type: 'repository', name: from, actions: ['pull'] });
      if (digest && (await registry.blobs.mount(repo, digest, queryString(ctx, 'from'), readable))) {
        return created(ctx, repo, digest);
      }
    }
    const single = queryString(ctx, 'digest');
    if (single !== undefined && mount === undefined) {
      const digest = parseDigest(single);
      await registry.uploads.monolithic(repo, digest, { body: ownedChunks(ctx.req), length: contentLength(ctx) });
      return created(ctx, repo, digest);
    }
    const session = await registry.uploads.start(repo);
    empty(ctx, 202, { ...sessionHeaders(session), 'Content-Length': '0' });
  });

  router.patch('/v2/*name/blobs/uploads/:id', push, async (ctx) => {
    const session = await registry.uploads.append(repoParam(ctx), String(ctx.params.id), chunkOf(ctx));
    empty(ctx, 202, sessionHeaders(session));
  });

  router.put('/v2/*name/blobs/uploads/:id', push, async (ctx) => {
    const repo = repoParam(ctx);
    const raw = queryString(ctx, 'digest');
    if (raw === undefined) throw new DigestInvalidError('', 'the closing PUT needs ?digest=');
    const digest = parseDigest(raw);
    await registry.uploads.complete(repo, String(ctx.params.id), digest, hasBody(ctx) ? chunkOf(ctx) : undefined);
    created(ctx, repo, digest);
  });

  router.get('/v2/*name/blobs/uploads/:id', push, async (ctx) => {
    const session = await registry.uploads.status(repoParam(ctx), String(ctx.params.id));
    empty(ctx, 204, sessionHeaders(session));
  });

  router.delete('/v2/*name/blobs/uploads/:id', push, async (ctx) => {
    await registry.uploads.cancel(repoParam(ctx), String(ctx.params.id));
    empty(ctx, 204);
  });
};
