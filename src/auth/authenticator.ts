/**
 * Authenticators: who is calling (from the Authorization header) and, when a
 * request may not proceed, the error that tells the client what to do next.
 *
 *   none   everyone may do everything (loopback, or allowInsecureOpen);
 *   basic  Basic credentials on each request; rights from the access rules;
 *   token  a bearer token on each request; rights are what the token carries.
 *
 * Refusals: a caller without credentials (or whose token could be widened by
 * asking again) gets 401 with a challenge; an authenticated caller the rules do
 * not allow gets 403 DENIED. The check runs before any handler looks at storage,
 * so a refusal says nothing about whether the repository exists.
 */
import type { AuthConfig } from '../config/auth-schema.js';
import { AccessDeniedError, AuthenticationRequiredError } from './errors.js';
import { basicChallenge, bearerChallenge, parseAuthorization } from './headers.js';
import type { Logins } from './logins.js';
import { ANONYMOUS, type AccessPolicy, type Principal } from './policy.js';
import { covers, formatScope, type AccessEntry, type Need } from './scope.js';
import type { TokenVerifier } from './tokens.js';

export interface RequestIdentity {
  authorization: string | undefined;
  /** The client's address, for counting failed logins. */
  client: string;
  /** `https://host:port` as the client reached us, for the token realm. */
  origin: string;
}

/** The authenticated caller of one request. */
export interface Caller {
  readonly principal: Principal;
  allows(need: Need): boolean;
  /** Whether a repository shows in this caller's catalog. */
  visible(repo: string): boolean;
}

export interface Authenticator {
  readonly mode: AuthConfig['mode'];
  /**
   * The caller; throws a 401 for bad or missing credentials where credentials are
   * required (its challenge names `need`, the access the request is for).
   */
  authenticate(req: RequestIdentity, need?: Need): Promise<Caller>;
  /** Whether the caller may use the API at all (`GET /v2/`): in basic mode an anonymous caller may not. */
  admits(caller: Caller): boolean;
  /** The error for a caller that may not do `need` (undefined need: may not even say hello). */
  refusal(caller: Caller, need: Need | undefined, req: RequestIdentity): Error;
}

function describe(need: Need | undefined): string {
  return need ? formatScope(need) : 'registry';
}

const OPEN_CALLER: Caller = { principal: ANONYMOUS, allows: () => true, visible: () => true };

export class NoAuthenticator implements Authenticator {
  readonly mode = 'none';
  async authenticate(): Promise<Caller> {
    return OPEN_CALLER;
  }
  admits(): boolean {
    return true;
  }
  refusal(_caller: Caller, need: Need | undefined): Error {
    return new AccessDeniedError(describe(need));
  }
}

/** Rights straight from the access rules. */
class PolicyCaller implements Caller {
  constructor(
    readonly principal: Principal,
    private readonly policy: AccessPolicy,
  ) {}
  allows(need: Need): boolean {
    if (need.type === 'registry') return this.policy.mayUseRegistry(this.principal, need.name);
    return need.actions.every((a) => this.policy.can(this.principal, need.name, a));
  }
  visible(repo: string): boolean {
    return this.policy.can(this.principal, repo, 'pull');
  }
}

export class BasicAuthenticator implements Authenticator {
  readonly mode = 'basic';
  constructor(
    private readonly logins: Logins,
    private readonly policy: AccessPolicy,
    private readonly realm: string,
  ) {}

  private challenge(message: string, need?: Need): AuthenticationRequiredError {
    return new AuthenticationRequiredError(message, basicChallenge(this.realm), need ? { access: formatScope(need) } : {});
  }

  async authenticate(req: RequestIdentity): Promise<Caller> {
    const presented = parseAuthorization(req.authorization);
    switch (presented.kind) {
      case 'none':
        return new PolicyCaller(ANONYMOUS, this.policy);
      case 'basic': {
        const user = await this.logins.check(req.client, presented.username, presented.password);
        if (!user) throw this.challenge('invalid username or password');
        return new PolicyCaller(user, this.policy);
      }
      default:
        throw this.challenge('this registry takes Basic credentials');
    }
  }

  admits(caller: Caller): boolean {
    return caller.principal.name !== undefined;
  }

  refusal(caller: Caller, need: Need | undefined): Error {
    if (caller.principal.name === undefined) return this.challenge(need ? 'credentials required for this access' : 'credentials required', need);
    return new AccessDeniedError(describe(need));
  }
}

/** Rights from a verified token; the rules only decide what the catalog shows and 401 vs 403. */
class TokenCaller implements Caller {
  constructor(
    readonly principal: Principal,
    private readonly access: AccessEntry[],
    private readonly policy: AccessPolicy,
  ) {}
  allows(need: Need): boolean {
    return covers(this.access, need);
  }
  visible(repo: string): boolean {
    return this.policy.can(this.principal, repo, 'pull');
  }
}

export interface TokenAuthSettings {
  /** The token endpoint; empty: `<origin>/auth/token`. */
  realm: string;
  service: string;
}

export class TokenAuthenticator implements Authenticator {
  readonly mode = 'token';
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly policy: AccessPolicy,
    private readonly settings: TokenAuthSettings,
  ) {}

  private challenge(req: RequestIdentity, message: string, need?: Need, error?: 'invalid_token' | 'insufficient_scope') {
    const realm = this.settings.realm || `${req.origin}/auth/token`;
    const scope = need ? formatScope(need) : undefined;
    const detail = scope ? { access: scope } : {};
    return new AuthenticationRequiredError(message, bearerChallenge({ realm, service: this.settings.service, scope, error }), detail);
  }

  async authenticate(req: RequestIdentity, need?: Need): Promise<Caller> {
    const presented = parseAuthorization(req.authorization);
    if (presented.kind !== 'bearer') throw this.challenge(req, 'authentication required: get a token from the realm', need);
    let verified;
    try {
      verified = await this.verifier.verifyAccess(presented.token);
    } catch {
      throw this.challenge(req, 'invalid token', need, 'invalid_token');
    }
    return new TokenCaller({ name: verified.subject }, verified.access, this.policy);
  }

  /** Any valid token, an anonymous one included. */
  admits(): boolean {
    return true;
  }

  refusal(caller: Caller, need: Need | undefined, req: RequestIdentity): Error {
    if (!need) return this.challenge(req, 'a token is required');
    const who = caller.principal;
    // Anonymous: logging in may help; the challenge says what to ask for (as Distribution
    // does, insufficient_scope, which also tells Docker to stop retrying).
    if (who.name === undefined) return this.challenge(req, 'the anonymous token does not grant this access', need, 'insufficient_scope');
    // A new token could carry what this one lacks: say how to ask for it. Otherwise the rules say no.
    if (new PolicyCaller(who, this.policy).allows(need)) return this.challenge(req, 'the token does not grant this access', need, 'insufficient_scope');
    return new AccessDeniedError(describe(need));
  }
}
