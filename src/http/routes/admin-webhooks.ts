/**
 * The webhook dead-letter list (needs the `admin` action; docs/webhooks.md):
 *   GET  /_unireg/webhooks/dead[?n=&last=]      dead events, oldest first per endpoint, paged
 *   POST /_unireg/webhooks/dead/replay[?id=]     queue them again (all, or the one with that CloudEvents id)
 */
import { RequestInvalidError } from '../../domain/errors.js';
import { DeadLetters } from '../../webhooks/dead-letters.js';
import { pageParams, queryString } from '../params.js';
import { jsonBody } from '../respond.js';
import type { RouteGroup } from './types.js';

export const adminWebhookRoutes: RouteGroup = (router, { registry, guard }) => {
  const dead = new DeadLetters(registry.deps.meta, registry.deps.webhooks);
  router.get('/_unireg/webhooks/dead', guard.admin, async (ctx) => {
    const { n, last } = pageParams(ctx);
    if (last !== undefined && !DeadLetters.validCursor(last)) throw new RequestInvalidError('last is not a cursor of this list', { last });
    jsonBody(ctx, await dead.list(Math.max(n, 1), last));
  });
  router.post('/_unireg/webhooks/dead/replay', guard.admin, async (ctx) => {
    const id = queryString(ctx, 'id');
    if (id === '') throw new RequestInvalidError('id must not be empty', { id });
    jsonBody(ctx, { replayed: await dead.replay(id) });
  });
};
