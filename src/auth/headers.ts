/** The Authorization header in, and WWW-Authenticate challenges out. */

export type Presented =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'malformed'; scheme: string };

/** What the client sent. Basic with an empty user and password (some clients send it) means anonymous. */
export function parseAuthorization(header: string | undefined): Presented {
  if (header === undefined || header.trim() === '') return { kind: 'none' };
  const match = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(header);
  if (!match) return { kind: 'malformed', scheme: '' };
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;
  if (scheme === 'bearer') return { kind: 'bearer', token: value };
  if (scheme !== 'basic') return { kind: 'malformed', scheme };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return { kind: 'malformed', scheme };
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'malformed', scheme };
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (username === '' && password === '') return { kind: 'none' };
  return { kind: 'basic', username, password };
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

export function basicChallenge(realm: string): string {
  return `Basic realm=${quoted(realm)}`;
}

export interface BearerChallenge {
  realm: string;
  service: string;
  scope?: string;
  error?: 'invalid_token' | 'insufficient_scope';
}

export function bearerChallenge(c: BearerChallenge): string {
  const parts = [`realm=${quoted(c.realm)}`, `service=${quoted(c.service)}`];
  if (c.scope) parts.push(`scope=${quoted(c.scope)}`);
  if (c.error) parts.push(`error=${quoted(c.error)}`);
  return `Bearer ${parts.join(',')}`;
}
