/**
 * The token service behind `GET|POST /auth/token` (Docker's token protocol):
 *
 *   GET  ?service=&scope=...&account=[&offline_token=true]   Basic credentials or none (anonymous)
 *        → {token, access_token, expires_in, issued_at[, refresh_token]}
 *   POST grant_type=password (username, password[, access_type=offline]) or
 *        grant_type=refresh_token (refresh_token), with service, scope, client_id
 *        → {access_token, token_type, scope, expires_in, issued_at[, refresh_token]}
 *
 * The token carries the intersection of the scopes asked for and what the access
 * rules allow the caller; asking for more is not an error, the token just holds
 * less (as Docker Hub does). Wrong credentials are 401 and count as failed logins.
 */
import type { JSONWebKeySet } from 'jose';
import { AuthenticationRequiredError, TokenRequestError } from './errors.js';
import { basicChallenge, parseAuthorization } from './headers.js';
import type { Logins } from './logins.js';
import { ANONYMOUS, type AccessPolicy, type Principal } from './policy.js';
import { formatScope, parseScopes } from './scope.js';
import type { SigningKey } from './signing-key.js';
import type { TokenIssuer, TokenVerifier } from './tokens.js';

export interface TokenRequest {
  authorization: string | undefined;
  client: string;
  service: string | undefined;
  scopes: string[];
  account: string | undefined;
  offline: boolean;
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

export interface OAuthResponse {
  access_token: string;
  token_type: 'Bearer';
  scope: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

export class TokenService {
  constructor(
    private readonly issuer: TokenIssuer,
    private readonly verifier: TokenVerifier,
    private readonly key: SigningKey,
    private readonly logins: Logins,
    private readonly policy: AccessPolicy,
    private readonly service: string,
    private readonly realm: string,
  ) {}

  jwks(): JSONWebKeySet {
    return { keys: [this.key.publicJwk] };
  }

  private checkService(service: string | undefined): void {
    if (service !== undefined && service !== '' && service !== this.service) {
      throw new TokenRequestError(`unknown service ${JSON.stringify(service)}: this registry is ${JSON.stringify(this.service)}`);
    }
  }

  private refused(): AuthenticationRequiredError {
    return new AuthenticationRequiredError('invalid username or password', basicChallenge(this.realm));
  }

  private async login(client: string, username: string, password: string): Promise<Principal> {
    const user = await this.logins.check(client, username, password);
    if (!user) throw this.refused();
    return user;
  }

  private async accessToken(who: Principal, scopes: string[]) {
    const granted = this.policy.grant(who, parseScopes(scopes));
    const issued = await this.issuer.access(who.name ?? '', granted);
    return { issued, scope: granted.map(formatScope).join(' ') };
  }

  private async refreshToken(who: Principal): Promise<string | undefined> {
    if (who.name === undefined) return undefined;
    const fingerprint = await this.logins.users.fingerprint(who.name);
    return fingerprint === undefined ? undefined : (await this.issuer.refresh(who.name, fingerprint)).token;
  }

  /** `GET /auth/token`. */
  async get(req: TokenRequest): Promise<TokenResponse> {
    this.checkService(req.service);
    await this.logins.holdBack(req.client);
    const presented = parseAuthorization(req.authorization);
    let who: Principal = ANONYMOUS;
    if (presented.kind === 'basic') {
      if (req.account !== undefined && req.account !== '' && req.account !== presented.username) {
        throw new TokenRequestError('account does not match the credentials');
      }
      who = await this.login(req.client, presented.username, presented.password);
    } else if (presented.kind !== 'none') {
      throw new AuthenticationRequiredError('the token endpoint takes Basic credentials', basicChallenge(this.realm));
    }
    const { issued } = await this.accessToken(who, req.scopes);
    const out: TokenResponse = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    if (req.offline) {
      const refresh = await this.refreshToken(who);
      if (refresh) out.refresh_token = refresh;
    }
    return out;
  }

  /** `POST /auth/token` with an OAuth2 form. */
  async post(form: URLSearchParams, client: string): Promise<OAuthResponse> {
    this.checkService(form.get('service') ?? undefined);
    await this.logins.holdBack(client);
    const scopes = form.getAll('scope');
    const grant = form.get('grant_type');
    let who: Principal;
    let refresh: string | undefined;
    if (grant === 'password') {
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      if (username === '') throw new TokenRequestError('grant_type=password needs username and password');
      who = await this.login(client, username, password);
      if (form.get('access_type') === 'offline') refresh = await this.refreshToken(who);
    } else if (grant === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      let subject: string;
      let fingerprint: string;
      try {
        ({ subject, fingerprint } = await this.verifier.verifyRefresh(token));
      } catch {
        await this.logins.failed(client);
        throw new AuthenticationRequiredError('invalid refresh token', basicChallenge(this.realm));
      }
      // The refresh token dies with the user or the password it was issued for.
      if ((await this.logins.users.fingerprint(subject)) !== fingerprint) {
        await this.logins.failed(client);
        throw new AuthenticationRequiredError('refresh token no longer valid: log in again', basicChallenge(this.realm));
      }
      who = { name: subject };
      refresh = token;
    } else {
      throw new TokenRequestError('grant_type must be password or refresh_token');
    }
    const { issued, scope } = await this.accessToken(who, scopes);
    const out: OAuthResponse = { access_token: issued.token, token_type: 'Bearer', scope, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    if (refresh) out.refresh_token = refresh;
    return out;
  }
}
