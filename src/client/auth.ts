/**
 * What the client commands put in `Authorization`, found the way Docker clients
 * find it: a probe of `GET /v2/` without credentials, then the challenge decides.
 *
 *   2xx (mode none, or an open API root)   Basic when there are credentials, else nothing
 *   401 Basic (or no usable challenge)     Basic from the credentials, else nothing
 *   401 Bearer realm=,service=             a token from the realm for the scope
 *                                          (Basic credentials on the token request, or
 *                                          none: an anonymous token), sent as Bearer
 *   anything else                          as for 2xx: the real request will tell
 *
 * Without credentials the real request may still succeed (anonymous pulls); when it
 * fails, `requestFailure` says what to do. Messages name hosts and realms, never the
 * password or the token.
 */
import { basicAuthorization, type Credentials } from './credentials.js';
import { ClientError, bytesBody, describeFailure, exchange, type Exchange } from './http.js';
import { urlTarget, type Target } from './target.js';

/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lower case: `basic`, `bearer`, ... */
  scheme: string;
  /** Parameter names in lower case; quoted values unquoted. */
  params: Record<string, string>;
  /** A token68 in place of parameters (`Negotiate abc==`). */
  token68?: string;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*(?=[ \t]*(?:,|$))/y;

/**
 * Every challenge in `WWW-Authenticate` (RFC 9110 11.6.1): several challenges may
 * share one header (and Node joins repeated headers with `, `), parameters are
 * comma-separated, values are tokens or quoted strings (which may hold commas,
 * `=` and `\`-escapes). Malformed parts are skipped, never thrown on.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  const text = typeof header === 'string' ? header : header ? header.join(', ') : '';
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: string) => {
    while (i < text.length && chars.includes(text[i]!)) i++;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return undefined;
    i = re.lastIndex;
    return m[0];
  };
  const quoted = (): string => {
    let value = '';
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      value += text[i];
      i++;
    }
    i++; // the closing quote (or past the end)
    return value;
  };
  let current: Challenge | undefined;
  while (i < text.length) {
    skip(' \t,');
    if (i >= text.length) break;
    const name = match(TOKEN);
    if (name === undefined) {
      // Not a token: skip this element (a quoted string is skipped whole).
      if (text[i] === '"') quoted();
      else i++;
      continue;
    }
    skip(' \t');
    if (text[i] === '=') {
      // name=value: a parameter of the current challenge.
      i++;
      skip(' \t');
      const value = text[i] === '"' ? quoted() : (match(TOKEN) ?? '');
      const key = name.toLowerCase();
      if (current && current.token68 === undefined && !Object.hasOwn(current.params, key)) current.params[key] = value;
      continue;
    }
    // A token not followed by `=`: the scheme of a new challenge.
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    const t68 = match(TOKEN68);
    if (t68 !== undefined) current.token68 = t68;
  }
  return out;
}

/** The first challenge of `scheme` (lower case) in a response, if any. */
function challengeOf(res: Exchange, scheme: string): Challenge | undefined {
  return parseChallenges(res.headers['www-authenticate']).find((c) => c.scheme === scheme);
}

/** What to tell a user without credentials who got a 401. */
export const LOGIN_HINT = 'the registry wants credentials: use --user or docker login';

/** Header values are sent as given: refuse anything that is not a plain visible string. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** A Bearer token from the realm of `challenge` for `scope`. */
async function fetchToken(target: Target, challenge: Challenge, creds: Credentials | undefined, scope: string): Promise<string> {
  const realmText = challenge.params.realm;
  if (!realmText) throw new ClientError(`${target.scheme}://${target.host} asks for a Bearer token but names no realm to get it from`);
  let url: URL;
  try {
    // A relative realm is relative to the registry (not usual, but harmless to allow).
    url = new URL(realmText, `${target.scheme}://${target.host}/`);
  } catch {
    throw new ClientError(`${target.scheme}://${target.host} names a token realm that is not a URL: ${JSON.stringify(realmText.slice(0, 200))}`);
  }
  // Where the messages say the token came from: never the query or any user:password@.
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  let realm: Target;
  try {
    realm = urlTarget(url);
  } catch {
    throw new ClientError(`the token realm ${where} is not an http or https URL`);
  }
  const service = challenge.params.service;
  let res: Exchange;
  try {
    if (creds?.identityToken) {
      // docker login's refresh token: the OAuth2 refresh_token grant, as Docker uses it.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'unireg', scope });
      if (service) form.set('service', service);
      res = await exchange(realm, {
        method: 'POST',
        path: url.pathname + url.search,
        body: bytesBody('application/x-www-form-urlencoded', form.toString()),
      });
    } else {
      if (service) url.searchParams.set('service', service);
      url.searchParams.append('scope', scope);
      if (creds) url.searchParams.set('account', creds.username);
      res = await exchange(realm, {
        method: 'GET',
        path: `${url.pathname}${url.search}`,
        headers: creds ? { Authorization: basicAuthorization(creds) } : {},
      });
    }
  } catch (err) {
    throw new ClientError(`cannot get a token from ${where}: ${(err as Error).message}`);
  }
  if (res.status !== 200) {
    const hint = res.status === 401 && !creds ? ` (${LOGIN_HINT})` : '';
    throw new ClientError(`cannot get a token from ${where}: ${describeFailure(res.status, res.statusMessage, res.body)}${hint}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new ClientError(`cannot get a token from ${where}: the answer is not JSON`);
  }
  const { token, access_token: accessToken } = (typeof body === 'object' && body !== null ? body : {}) as { token?: unknown; access_token?: unknown };
  const value = typeof token === 'string' && token !== '' ? token : typeof accessToken === 'string' && accessToken !== '' ? accessToken : undefined;
  if (value === undefined) throw new ClientError(`cannot get a token from ${where}: the answer holds no token`);
  if (!HEADER_SAFE.test(value)) throw new ClientError(`cannot get a token from ${where}: the token holds characters a header cannot carry`);
  return value;
}

/**
 * The `Authorization` value for requests to `target` that need `scope`
 * (`repository:REPO:pull,push`), or undefined to send none. Throws a one-line
 * ClientError when the registry cannot be reached or no token can be had.
 */
export async function authorize(target: Target, creds: Credentials | undefined, scope: string): Promise<string | undefined> {
  const probe = await exchange(target, { method: 'GET', path: '/v2/' });
  // An identity token only buys tokens; it is no password for Basic.
  const basic = creds && !creds.identityToken ? basicAuthorization(creds) : undefined;
  // An open API root (mode none), or an answer that is not a challenge: Basic if there
  // are credentials (a registry that only guards some repositories takes them, one that
  // guards nothing ignores them), and the real request reports what goes wrong.
  if (probe.status !== 401) return basic;
  const bearer = challengeOf(probe, 'bearer');
  if (bearer) return `Bearer ${await fetchToken(target, bearer, creds, scope)}`;
  // Basic, or a 401 without a challenge this client knows: credentials if there are some.
  // Without them the request goes anonymous: rules may still let anonymous callers pull.
  return basic;
}

/**
 * The one-line failure of a request the registry refused or failed: the OCI
 * error, with a hint on 401 without credentials and, on 403, who was refused.
 */
export function requestFailure(res: Exchange, creds: Credentials | undefined): string {
  const base = describeFailure(res.status, res.statusMessage, res.body);
  if (res.status === 401 && !creds) return `${base} (${LOGIN_HINT})`;
  if (res.status === 403) return `${base} (${creds ? `as user ${creds.username}` : 'without credentials'})`;
  return base;
}
