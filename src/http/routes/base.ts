/** `GET /v2/`: the API version check every client starts with. */
import type { RouteGroup } from './types.js';

export const baseRoutes: RouteGroup = (router) => {
  router.get('/v2/', (ctx) => {
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = '{}';
  });
};
