/** What every route group is given. */
import type Router from '@koa/router';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Auth } from '../../auth/setup.js';
import type { Registry } from '../../registry/registry.js';
import type { BodyBudget } from '../body-budget.js';
import type { Guard } from '../guard.js';

export interface RouteDeps {
  registry: Registry;
  config: Config;
  log: Logger;
  auth: Auth;
  /** Route middleware checking the caller's rights: every route but the token service's uses one. */
  guard: Guard;
  /** Request bodies held in memory, all requests together (`http.bodyBudget`). */
  bodies: BodyBudget;
}

export type RouteGroup = (router: Router, deps: RouteDeps) => void;
