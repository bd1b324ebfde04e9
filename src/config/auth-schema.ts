/**
 * The `auth` settings: who may do what (see docs/auth.md for the rules' order).
 *
 *   mode: none | basic | token
 *   users / htpasswd / groups     who the callers are (bcrypt hashes)
 *   access                        repository glob → principals → actions
 *   token                         the token service (own ES256 issuer, or an external one)
 *   failedLogins                  when repeated wrong credentials from one client get 429
 */
import { z } from 'zod';
import { duration } from './duration.js';

/**
 * `catalog` and `admin` are registry-wide: `catalog` lists what the caller may pull; `admin` runs the
 * maintenance endpoints (`/_unireg/*`: garbage collection, retention, usage) and is granted only by a
 * rule whose repository is `**`; `metrics` reads `/metrics` on the main listener, also only from a `**` rule.
 */
export const ACTIONS = ['pull', 'push', 'delete', 'catalog', 'admin', 'metrics'] as const;
export type Action = (typeof ACTIONS)[number];

/** A bcrypt hash as `htpasswd -B` or any bcrypt library writes it. */
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const USER = /^[A-Za-z0-9._@-]{1,128}$/;
const RESERVED = new Set(['anonymous', 'authenticated']);
/** Repository names with `*` (one path component) and `**` (any depth) wildcards. */
export const REPO_GLOB = /^[a-z0-9._\-/*]{1,255}$/;

/** Whether `name` is a user name that rules may name (not a group or reserved principal). */
export function isUserName(name: string): boolean {
  return USER.test(name) && !RESERVED.has(name);
}

const userName = z
  .string()
  .regex(USER, 'user names are letters, digits and . _ @ -')
  .refine((n) => !RESERVED.has(n), 'anonymous and authenticated are reserved principal names');

/** `alice`, `group:devs`, `anonymous` (every caller) or `authenticated` (any caller with valid credentials). */
const principal = z
  .string()
  .refine(
    (p) => RESERVED.has(p) || (p.startsWith('group:') && USER.test(p.slice(6))) || (USER.test(p) && !p.startsWith('group:')),
    'expected a user name, group:NAME, anonymous or authenticated',
  );

const rule = z
  .object({
    repository: z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards'),
    grants: z.record(principal, z.array(z.enum(ACTIONS))),
  })
  .strict();

export type AccessRule = z.infer<typeof rule>;

const DEFAULT_ACCESS: AccessRule[] = [{ repository: '**', grants: { authenticated: ['pull', 'push', 'delete', 'catalog'] } }];

export const authSchema = z
  .object({
    /** none: no checks (loopback only); basic: passwords on every request; token: Docker's bearer-token flow. */
    mode: z.enum(['none', 'basic', 'token']).default('none'),
    /** Let `mode: none` listen on a non-loopback address. */
    allowInsecureOpen: z.boolean().default(false),
    /** An htpasswd file with bcrypt entries (`htpasswd -B`); re-read when it changes. */
    htpasswd: z.string().default(''),
    /** Users defined in the config: name → bcrypt hash. */
    users: z.record(userName, z.string().regex(BCRYPT, 'expected a bcrypt hash ($2y$..., as htpasswd -B writes)')).default({}),
    /** Groups: name → member user names. Rules name them as `group:NAME`. */
    groups: z.record(z.string().regex(USER), z.array(userName)).default({}),
    /** Rules: repository glob → principal → actions. The most specific matching glob decides. */
    access: z.array(rule).default(DEFAULT_ACCESS),
    /** Realm named in Basic challenges. */
    basicRealm: z.string().min(1).default('unireg'),
    token: z
      .object({
        /** The `service` and the tokens' audience. */
        service: z.string().min(1).default('unireg'),
        /** The tokens' issuer (`iss`). */
        issuer: z.string().min(1).default('unireg'),
        /** Token endpoint URL in challenges; empty: this server's /auth/token as the client reached it. */
        realm: z.string().default(''),
        /** Lifetime of access tokens. */
        expiry: duration.default('5m'),
        /** Lifetime of refresh tokens (what `docker login` keeps as its identity token). */
        refreshExpiry: duration.default('30d'),
        /** Trust an external issuer instead of issuing: its JWKS file (then realm and issuer name that issuer). */
        jwks: z.string().default(''),
      })
      .strict()
      .prefault({}),
    failedLogins: z
      .object({
        /**
         * Wrong passwords one address may send for one user name within `window` before
         * it gets 429 TOOMANYREQUESTS for that name; 10× this for all names together.
         */
        limit: z.number().int().positive().default(5),
        /** How long failures are remembered, and how long a client that passed the limit waits. */
        window: duration.default('1m'),
      })
      .strict()
      .prefault({}),
    passwordChecks: z
      .object({
        /** Worker threads that run bcrypt comparisons, off the event loop. */
        threads: z.number().int().positive().max(64).default(2),
        /** Password checks that may wait for a thread; beyond, the request gets 503 TOOMANYREQUESTS. */
        queue: z.number().int().nonnegative().default(64),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({})
  .superRefine((auth, ctx) => {
    if (auth.mode === 'basic' && auth.htpasswd === '' && Object.keys(auth.users).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['htpasswd'], message: 'basic mode needs users: set auth.htpasswd (a file from htpasswd -B) or auth.users' });
    }
    if (auth.token.jwks !== '' && auth.token.realm === '') {
      ctx.addIssue({ code: 'custom', path: ['token', 'realm'], message: 'an external issuer (auth.token.jwks) needs auth.token.realm, its token endpoint URL' });
    }
    for (const [group, members] of Object.entries(auth.groups)) {
      if (members.length === 0) ctx.addIssue({ code: 'custom', path: ['groups', group], message: 'a group needs members' });
    }
  });

export type AuthConfig = z.infer<typeof authSchema>;
