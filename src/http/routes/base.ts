/** `GET /v2/`: the API version check every client starts with. */
import type { RouteGroup } from './types.js';

export const baseRoutes: RouteGroup = (router, { guard }) => {
  router.get('/v2/', guard.hello, (ctx) => {
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = '{}';
  });
};
