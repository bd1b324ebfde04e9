/**
 * The token service (token mode with unireg as the issuer):
 *   GET  /auth/token        Docker's token request (Basic credentials or anonymous)
 *   POST /auth/token        OAuth2 password and refresh_token grants (docker login, podman)
 *   GET  /auth/jwks.json    the public signing key, for anyone verifying unireg's tokens
 * Nothing here is logged beyond the path: credentials and tokens stay out of logs.
 */
import type { Context } from 'koa';
import { RequestInvalidError } from '../../domain/errors.js';
import { leaseOf, withBodyLease } from '../body-budget.js';
import { identityOf } from '../guard.js';
import { queryList, queryString, readLimited } from '../params.js';
import type { RouteGroup } from './types.js';

const MAX_FORM = 64 * 1024;

function answer(ctx: Context, body: unknown): void {
  ctx.status = 200;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

export const tokenRoutes: RouteGroup = (router, { auth, bodies }) => {
  const tokens = auth.tokens;
  if (!tokens) return;

  router.get('/auth/token', async (ctx) => {
    const id = identityOf(ctx);
    const result = await tokens.get({
      authorization: id.authorization,
      client: id.client,
      service: queryString(ctx, 'service'),
      scopes: queryList(ctx, 'scope'),
      account: queryString(ctx, 'account'),
      offline: queryString(ctx, 'offline_token') === 'true',
    });
    answer(ctx, result);
  });

  router.post('/auth/token', withBodyLease(bodies), async (ctx) => {
    if (ctx.request.type !== 'application/x-www-form-urlencoded') {
      throw new RequestInvalidError('send the token request as application/x-www-form-urlencoded');
    }
    let body: Buffer;
    try {
      body = await readLimited(ctx, MAX_FORM, leaseOf(ctx));
    } catch (err) {
      if ((err as Error).name === 'ManifestTooLargeError') throw new RequestInvalidError('token request too large');
      throw err;
    }
    answer(ctx, await tokens.post(new URLSearchParams(body.toString('utf8')), identityOf(ctx).client));
  });

  router.get('/auth/jwks.json', (ctx) => answer(ctx, tokens.jwks()));
};
