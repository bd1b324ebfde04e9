/**
 * Bearer tokens in the Docker registry token format: a JWT with `iss`, `sub`,
 * `aud` (the service), `exp`, `nbf`, `iat`, `jti` and an `access` claim listing
 * `{type, name, actions}`.
 *
 * TokenIssuer signs access tokens and refresh tokens with the local ES256 key.
 * A refresh token (docker login's identity token) carries `token_use: refresh`
 * and a fingerprint of the user's password hash, so it dies with the password;
 * it is never accepted as an access token, nor an access token as a refresh one.
 *
 * TokenVerifier checks tokens against a key set (the local key, or an external
 * issuer's JWKS file): asymmetric algorithms only, issuer, audience, expiry and
 * not-before all required. A token it refuses is logged at debug with the reason
 * (jose's code and message, the key id it names), never with the token itself.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { isAccessList, type AccessEntry } from './scope.js';
import { SIGNING_ALG, type SigningKey } from './signing-key.js';

/** Algorithms accepted from an external issuer; never `none`, never HMAC (whose key would be the public one). */
const ASYMMETRIC = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const CLOCK_SKEW_S = 30;
const REFRESH_USE = 'refresh';

export interface VerifiedToken {
  /** The user, or undefined for an anonymous token. */
  subject: string | undefined;
  access: AccessEntry[];
}

export interface VerifiedRefresh {
  subject: string;
  fingerprint: string;
}

export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
  /** jose's error code (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ...) when jose refused it. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** The `kid` a token names, for the log; undefined when its header does not decode. */
function kidOf(token: string): string | undefined {
  try {
    const kid = decodeProtectedHeader(token).kid;
    return typeof kid === 'string' ? kid.slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

export interface TokenSettings {
  issuer: string;
  service: string;
}

/** Verified access tokens kept so a client's next requests skip the signature check. */
const VERIFIED_CACHE_MAX = 10_000;

export class TokenVerifier {
  private readonly verified = new Map<string, { token: VerifiedToken; untilMs: number }>();

  private constructor(
    private readonly keys: JWTVerifyGetKey,
    private readonly settings: TokenSettings,
    private readonly algorithms: string[],
    private readonly log: Logger | undefined,
  ) {}

  static forLocalKey(key: SigningKey, settings: TokenSettings, log?: Logger): TokenVerifier {
    return new TokenVerifier(createLocalJWKSet({ keys: [key.publicJwk] }), settings, [SIGNING_ALG], log);
  }

  static async forJwksFile(path: string, settings: TokenSettings, log?: Logger): Promise<TokenVerifier> {
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(set.keys) || set.keys.length === 0) throw new Error('no "keys"');
    } catch (err) {
      throw new InvalidTokenError(`cannot use auth.token.jwks ${path}: ${(err as Error).message}`);
    }
    return new TokenVerifier(createLocalJWKSet(set), settings, ASYMMETRIC, log);
  }

  private async payload(token: string, audience: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        algorithms: this.algorithms,
        issuer: this.settings.issuer,
        audience,
        clockTolerance: CLOCK_SKEW_S,
        requiredClaims: ['exp', 'iat'],
      });
      return payload;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new InvalidTokenError((err as Error).message, typeof code === 'string' ? code : undefined);
    }
  }

  /** Runs a check of `token` as a `use` token, logging a refusal's reason at debug. */
  private async checked<T>(use: 'access' | 'refresh', token: string, check: () => Promise<T>): Promise<T> {
    try {
      return await check();
    } catch (err) {
      if (err instanceof InvalidTokenError) {
        this.log?.debug({ use, reason: err.message, code: err.code, kid: kidOf(token) }, 'token rejected');
      }
      throw err;
    }
  }

  /**
   * The subject and access of a valid access token. A token that verified once is
   * remembered (by its exact bytes) until it expires: clients send the same
   * token on every request, and an ES256 check costs more than serving a manifest.
   */
  async verifyAccess(token: string): Promise<VerifiedToken> {
    const hit = this.verified.get(token);
    if (hit && hit.untilMs > Date.now()) return hit.token;
    return this.checked('access', token, () => this.verifyAccessUncached(token));
  }

  private async verifyAccessUncached(token: string): Promise<VerifiedToken> {
    const payload = await this.payload(token, this.settings.service);
    if (payload.token_use !== undefined) throw new InvalidTokenError('not an access token');
    const access = payload.access ?? [];
    if (!isAccessList(access)) throw new InvalidTokenError('malformed access claim');
    const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    const verified = { subject, access };
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
    this.verified.set(token, { token: verified, untilMs: (payload.exp ?? 0) * 1000 });
    return verified;
  }

  verifyRefresh(token: string): Promise<VerifiedRefresh> {
    return this.checked('refresh', token, () => this.verifyRefreshUncached(token));
  }

  private async verifyRefreshUncached(token: string): Promise<VerifiedRefresh> {
    const payload = await this.payload(token, this.settings.service);
    if (payload.token_use !== REFRESH_USE) throw new InvalidTokenError('not a refresh token');
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.pwh !== 'string') {
      throw new InvalidTokenError('malformed refresh token');
    }
    return { subject: payload.sub, fingerprint: payload.pwh };
  }
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly settings: TokenSettings,
    private readonly accessTtlS: number,
    private readonly refreshTtlS: number,
  ) {}

  private async sign(claims: JWTPayload, subject: string, ttl: number): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: SIGNING_ALG, kid: this.key.kid, typ: 'JWT' });
    // An anonymous token has no subject.
    if (subject !== '') jwt.setSubject(subject);
    const token = await jwt
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.service)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** An access token for `subject` ('' = anonymous) carrying exactly `access`. */
  access(subject: string, access: AccessEntry[]): Promise<IssuedToken> {
    return this.sign({ access }, subject, this.accessTtlS);
  }

  refresh(subject: string, fingerprint: string): Promise<IssuedToken> {
    return this.sign({ token_use: REFRESH_USE, pwh: fingerprint }, subject, this.refreshTtlS);
  }
}
