/**
 * The `proxy` settings: unireg as a pull-through cache of other registries (docs/proxy.md).
 *
 *   proxy:
 *     allowPush: false
 *     upstreams:     (file only)
 *       - { prefix, url, username?, password?, manifestTTL?, include?, exclude?, default? }
 *
 * A pull of `PREFIX/path:tag` goes to the upstream's `path:tag`. At most one
 * upstream is the `default`, used for names under no prefix (Docker's
 * `registry-mirrors`).
 */
import { z } from 'zod';
import { REPO_GLOB } from './auth-schema.js';
import { duration } from './duration.js';

const glob = z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards');

const upstream = z
  .object({
    /** The local repository prefix (one or more path components): `hub` serves `hub/library/alpine`. */
    prefix: z.string().regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, 'expected a repository name prefix, e.g. hub or mirrors/quay'),
    /** The upstream registry's base URL (http or https), e.g. https://registry-1.docker.io. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).refine((u) => !/\/v2\/?$/.test(u), 'give the registry base URL, without /v2/'),
    /** Credentials for the upstream (Basic, or for its token service); empty: anonymous. */
    username: z.string().default(''),
    password: z.string().default(''),
    /** Manifests pulled by tag are revalidated with the upstream (HEAD, digest compare) once they are older than this. */
    manifestTTL: duration.default('5m'),
    /** Repository globs (the path after the prefix) served from the upstream; default: all. */
    include: z.array(glob).default(['**']),
    /** Repository globs (the path after the prefix) never fetched, even if included. */
    exclude: z.array(glob).default([]),
    /** This upstream serves names under no configured prefix (Docker `registry-mirrors`), unless a local repository has the name. */
    default: z.boolean().default(false),
  })
  .strict()
  .refine((u) => (u.username === '') === (u.password === ''), 'set both username and password, or neither');

export type UpstreamConfig = z.infer<typeof upstream>;

export const proxySchema = z
  .object({
    /** Let clients push into repositories under a proxied prefix (default: refused with 403 DENIED). */
    allowPush: z.boolean().default(false),
    /** The upstream registries (file only). */
    upstreams: z
      .array(upstream)
      .default([])
      .refine((list) => list.filter((u) => u.default).length <= 1, 'at most one upstream can be the default')
      .refine((list) => {
        const prefixes = list.map((u) => u.prefix);
        return prefixes.every((p, i) => prefixes.every((q, j) => i === j || (p !== q && !p.startsWith(`${q}/`))));
      }, 'upstream prefixes must be distinct and none may lie under another'),
  })
  .strict()
  .prefault({});
