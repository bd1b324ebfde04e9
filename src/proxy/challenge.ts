/** `WWW-Authenticate` challenges of an upstream registry (RFC 7235; Docker's token flow). Pure. */

export type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

/** The first Basic or Bearer challenge of a header value; undefined for none or an unusable one. */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let p = re.exec(m[2]!); p !== null; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  const realm = params.realm;
  if (realm === undefined || !/^https?:\/\//i.test(realm)) return undefined;
  return { scheme: 'bearer', realm, service: params.service, scope: params.scope };
}
