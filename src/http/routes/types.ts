/** What every route group is given. */
import type Router from '@koa/router';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Registry } from '../../registry/registry.js';

export interface RouteDeps {
  registry: Registry;
  config: Config;
  log: Logger;
}

export type RouteGroup = (router: Router, deps: RouteDeps) => void;
