/** Builds the authenticator (and, in token mode with the local issuer, the token service) from the config. */
import type { Logger } from 'pino';
import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import type { Layout } from '../storage/fs/layout.js';
import { BasicAuthenticator, NoAuthenticator, TokenAuthenticator, type Authenticator } from './authenticator.js';
import { FailedLogins } from './failed-logins.js';
import { Logins } from './logins.js';
import { PasswordPool } from './password-pool.js';
import { AccessPolicy } from './policy.js';
import { loadSigningKey, type SigningKey } from './signing-key.js';
import { TokenService } from './token-service.js';
import { TokenIssuer, TokenVerifier } from './tokens.js';
import { UserDirectory } from './users.js';

export interface Auth {
  authenticator: Authenticator;
  /** Set when unireg issues tokens itself (token mode without an external issuer). */
  tokens?: TokenService;
}

/**
 * `loadKey` gives the token signing key: by default the file under the data root;
 * the composition root passes the metadata-store one when replicas share the store.
 */
export async function setupAuth(
  config: Config,
  layout: Layout,
  log: Logger,
  loadKey: () => Promise<SigningKey> = () => loadSigningKey(layout.tokenKeyPath, log),
): Promise<Auth> {
  const auth = config.auth;
  if (auth.mode === 'none') return { authenticator: new NoAuthenticator() };
  const policy = new AccessPolicy(auth.access, auth.groups);
  const pool = new PasswordPool(auth.passwordChecks.threads, auth.passwordChecks.queue);
  const users = await UserDirectory.open(auth.users, auth.htpasswd, log, pool);
  const logins = new Logins(users, new FailedLogins(auth.failedLogins.limit, durationMs(auth.failedLogins.window)));
  if (auth.mode === 'basic') return { authenticator: new BasicAuthenticator(logins, policy, auth.basicRealm) };

  const settings = { issuer: auth.token.issuer, service: auth.token.service };
  const challenge = { realm: auth.token.realm, service: auth.token.service };
  if (auth.token.jwks !== '') {
    const verifier = await TokenVerifier.forJwksFile(auth.token.jwks, settings, log);
    log.info({ issuer: settings.issuer, jwks: auth.token.jwks }, 'trusting an external token issuer');
    return { authenticator: new TokenAuthenticator(verifier, policy, challenge) };
  }
  const key = await loadKey();
  const verifier = TokenVerifier.forLocalKey(key, settings, log);
  const seconds = (d: number | string) => Math.max(1, Math.round(durationMs(d) / 1000));
  const issuer = new TokenIssuer(key, settings, seconds(auth.token.expiry), seconds(auth.token.refreshExpiry));
  return {
    authenticator: new TokenAuthenticator(verifier, policy, challenge),
    tokens: new TokenService(issuer, verifier, key, logins, policy, settings.service, auth.basicRealm),
  };
}
