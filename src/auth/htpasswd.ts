/** Reading htpasswd files: `user:hash` lines; only bcrypt hashes (`htpasswd -B`) are accepted. */

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export interface HtpasswdContents {
  users: Map<string, string>;
  /** Lines that were skipped, by number and reason (never the hash). */
  skipped: { line: number; reason: string }[];
}

export function parseHtpasswd(text: string): HtpasswdContents {
  const users = new Map<string, string>();
  const skipped: HtpasswdContents['skipped'] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    const hash = colon > 0 ? line.slice(colon + 1) : '';
    if (name === '') skipped.push({ line: index + 1, reason: 'not user:hash' });
    else if (!BCRYPT.test(hash)) skipped.push({ line: index + 1, reason: `${name}: not a bcrypt hash (use htpasswd -B)` });
    else if (users.has(name)) skipped.push({ line: index + 1, reason: `${name}: listed twice, the first entry is used` });
    else users.set(name, hash);
  });
  return { users, skipped };
}
