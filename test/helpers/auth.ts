/**
 * Helpers for end-to-end tests of authentication: test users with bcrypt hashes,
 * the access rules the tests share, and a small registry client over node:https
 * (trusting the test CA) that answers challenges as real clients do: Basic
 * credentials on a `Basic` challenge; on a `Bearer` challenge a token from the
 * realm (GET, with Basic credentials when it has some) for the challenge's scope.
 * The tests use it to read back, with credentials, what a client pushed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import bcrypt from 'bcryptjs';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { basic, claimsOf } from './auth-http.js';
import { MANIFEST_ACCEPT, referenced, sha256 } from './images.js';
import { startTestServer, type TestServer } from './server.js';
import { tlsServerConfig, type TestPKI } from './tls.js';
import { describeRun, type RunResult } from './tools.js';

export interface Creds {
  user: string;
  password: string;
}

export interface TestUsers {
  /** pull, push, delete, catalog everywhere. */
  alice: Creds;
  /** pull everywhere (push only where `authenticated` may push, i.e. public/**). */
  bob: Creds;
  /** For `auth.users`: name → bcrypt hash. */
  hashes: Record<string, string>;
}

/** alice and bob with fresh random passwords (bcrypt cost 8: fast enough for tests). */
export function makeUsers(): TestUsers {
  const alice = { user: 'alice', password: `a-${randomBytes(9).toString('base64url')}` };
  const bob = { user: 'bob', password: `b-${randomBytes(9).toString('base64url')}` };
  return {
    alice,
    bob,
    hashes: { alice: bcrypt.hashSync(alice.password, 8), bob: bcrypt.hashSync(bob.password, 8) },
  };
}

/** public/** readable by anyone and writable by any valid user; everything else: alice everything, bob pull. */
export function testAccess(): AccessRule[] {
  return [
    { repository: 'public/**', grants: { anonymous: ['pull'], authenticated: ['pull', 'push'] } },
    { repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog'], bob: ['pull'] } },
  ];
}

/**
 * The `auth` overrides for startTestServer. Every client in a test comes from
 * 127.0.0.1, and failed logins are counted per address and name: with the default
 * limit (5 a minute) the tests' deliberate wrong passwords for alice would hold
 * back her later requests, so the limit is raised here.
 */
export function authConfig(
  mode: 'basic' | 'token',
  users: TestUsers,
): { mode: 'basic' | 'token'; users: Record<string, string>; access: AccessRule[]; failedLogins: { limit: number } } {
  return { mode, users: users.hashes, access: testAccess(), failedLogins: { limit: 1000 } };
}

/** `user:password` as the clients' --creds options take it. */
export const credsArg = (c: Creds) => `${c.user}:${c.password}`;

export const basicHeader = (c: Creds) => basic(c.user, c.password);

// ---------------------------------------------------------------------------
// HTTP(S)

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  agent?: Agent;
}

/** One request with node:http or node:https (with `agent`, which holds the CA). */
export function httpDo(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers: Record<string, string> = { ...opts.headers };
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      { method: opts.method ?? 'GET', headers, ...(u.protocol === 'https:' && opts.agent ? { agent: opts.agent } : {}), timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
}

/** The actions a token's `access` claim grants on repository `name`. */
export function grantedActions(token: string, name: string): string[] {
  const access = (claimsOf(token).access ?? []) as Array<{ type: string; name: string; actions: string[] }>;
  return access.filter((a) => a.type === 'repository' && a.name === name).flatMap((a) => a.actions).sort();
}

/**
 * A registry client for assertions: `base` is the server's URL (https://127.0.0.1:PORT).
 * Without creds it is anonymous (and still follows Bearer challenges, as clients do).
 */
export class RegistryClient {
  /** What the last request ended with (for messages). */
  last: { url: string; status: number; challenge?: string } | undefined;

  constructor(
    readonly base: string,
    readonly agent: Agent | undefined,
    readonly creds?: Creds,
  ) {}

  /** GET realm?service=&scope= (Basic with the creds, if any). */
  async token(realm: string, service: string, scopes: string[], extra: Record<string, string> = {}): Promise<{ status: number; body: TokenResponse; raw: HttpResponse }> {
    const u = new URL(realm);
    if (service) u.searchParams.set('service', service);
    for (const s of scopes) u.searchParams.append('scope', s);
    if (this.creds) u.searchParams.set('account', this.creds.user);
    for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
    const raw = await httpDo(u.toString(), { agent: this.agent, headers: this.creds ? { authorization: basicHeader(this.creds) } : {} });
    let body: TokenResponse = {};
    try {
      body = JSON.parse(raw.body.toString('utf8')) as TokenResponse;
    } catch {
      /* not JSON: left to the caller's status check */
    }
    return { status: raw.status, body, raw };
  }

  /** One request; answers a 401 challenge once (Basic or Bearer), as a client would. */
  async request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpResponse> {
    const url = `${this.base}${path}`;
    let res = await httpDo(url, { method, headers, body, agent: this.agent });
    if (res.status === 401) {
      const header = res.headers['www-authenticate'];
      const challenge = parseChallenge(Array.isArray(header) ? header[0] : header);
      let authorization: string | undefined;
      if (challenge?.scheme === 'basic' && this.creds) {
        authorization = basicHeader(this.creds);
      } else if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        const scopes = challenge.params.scope ? [challenge.params.scope] : [];
        const tok = await this.token(challenge.params.realm, challenge.params.service ?? '', scopes);
        const value = tok.body.token ?? tok.body.access_token;
        if (tok.status === 200 && value) authorization = `Bearer ${value}`;
      }
      if (authorization) res = await httpDo(url, { method, headers: { ...headers, authorization }, body, agent: this.agent });
    }
    const h = res.headers['www-authenticate'];
    this.last = { url, status: res.status, ...(h ? { challenge: String(h) } : {}) };
    return res;
  }

  manifest(method: 'HEAD' | 'GET', repo: string, ref: string): Promise<HttpResponse> {
    return this.request(method, `/v2/${repo}/manifests/${ref}`, { accept: MANIFEST_ACCEPT });
  }

  blob(repo: string, digest: string): Promise<HttpResponse> {
    return this.request('GET', `/v2/${repo}/blobs/${digest}`);
  }

  async tags(repo: string): Promise<{ status: number; tags: string[] }> {
    const res = await this.request('GET', `/v2/${repo}/tags/list`);
    if (res.status !== 200) return { status: res.status, tags: [] };
    return { status: res.status, tags: (JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? [] };
  }
}

/** Error code of an OCI error body (`{"errors":[{"code":...}]}`), if any. */
export function errorCode(res: HttpResponse): string | undefined {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

export function describeResponse(what: string, res: HttpResponse): string {
  const h = res.headers['www-authenticate'];
  return `${what}: HTTP ${res.status}${h ? ` (WWW-Authenticate: ${String(h)})` : ''} ${res.body.toString('utf8').slice(0, 300)}`;
}

/**
 * Reads `repo:ref` back through the registry's API with `client`'s credentials:
 * HEAD and GET answer 200 with `Docker-Content-Digest` = `expected.digest` = the
 * SHA-256 of the body (and the body is `expected.bytes`, when given); then every
 * blob the manifest refers to is served with its digest. Returns the manifest body.
 */
export async function expectStored(
  client: RegistryClient,
  repo: string,
  ref: string,
  expected: { digest: string; mediaType?: string; bytes?: Buffer },
): Promise<Buffer> {
  const what = `${repo}:${ref}`;
  const head = await client.manifest('HEAD', repo, ref);
  assert.equal(head.status, 200, describeResponse(`HEAD manifest ${what}`, head));
  assert.equal(head.headers['docker-content-digest'], expected.digest, `HEAD manifest ${what}: Docker-Content-Digest`);
  const get = await client.manifest('GET', repo, ref);
  assert.equal(get.status, 200, describeResponse(`GET manifest ${what}`, get));
  assert.equal(get.headers['docker-content-digest'], expected.digest, `GET manifest ${what}: Docker-Content-Digest`);
  assert.equal(sha256(get.body), expected.digest, `GET manifest ${what}: digest of the body`);
  if (expected.mediaType) assert.equal(get.headers['content-type'], expected.mediaType, `GET manifest ${what}: Content-Type`);
  if (expected.bytes) assert.ok(get.body.equals(expected.bytes), `GET manifest ${what}: body differs from the pushed bytes`);
  for (const d of referenced(get.body)) {
    const blob = await client.blob(repo, d.digest);
    assert.equal(blob.status, 200, describeResponse(`GET blob ${repo}@${d.digest}`, blob));
    assert.equal(sha256(blob.body), d.digest, `GET blob ${repo}@${d.digest}: digest of the body`);
  }
  return get.body;
}

/** Failure output that names an authentication or authorization problem. */
export const AUTH_FAILURE = /unauthori[sz]ed|authenticat|denied|forbidden|\b401\b|\b403\b|invalid username|password/i;
/** Failure output that would mean TLS, not credentials, was the problem. */
export const TLS_FAILURE = /x509|certificate|tls:|handshake|server gave HTTP response to HTTPS/i;

/** Asserts that a failed client run failed because of credentials or rights, not TLS. */
export function assertAuthFailure(output: string, what: string): void {
  assert.match(output, AUTH_FAILURE, `${what}: the failure should name authentication/authorization:\n${output}`);
  assert.doesNotMatch(output, TLS_FAILURE, `${what}: failed on TLS, not on credentials:\n${output}`);
}

export interface AuthServer {
  srv: TestServer;
  users: TestUsers;
  /** API client with alice's credentials (may do everything), to read back what a client pushed. */
  alice: RegistryClient;
  anonymous: RegistryClient;
}

/** A unireg over TLS (certificate from `pki`) with the test users and access rules of helpers/auth.ts. */
export async function startAuthServer(pki: TestPKI, mode: 'basic' | 'token'): Promise<AuthServer> {
  const users = makeUsers();
  const srv = await startTestServer({ http: tlsServerConfig(pki), auth: authConfig(mode, users) });
  return { srv, users, alice: new RegistryClient(srv.url, pki.agent, users.alice), anonymous: new RegistryClient(srv.url, pki.agent) };
}

/** Asserts that a client run failed, and for its credentials or rights (not TLS). */
export function expectRefused(r: RunResult, what: string): void {
  assert.notEqual(r.code, 0, `${what} should fail:\n${describeRun(r)}`);
  assertAuthFailure(r.stderr, what);
}
