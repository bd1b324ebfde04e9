/** The unprivileged user QEMU runs as when unireg runs as root: uid and gid from /etc/passwd. */
import { readFile } from 'node:fs/promises';
import type { BootUser } from './qemu.js';

export class BootUserError extends Error {
  override readonly name = 'BootUserError';
}

/** undefined when unireg is not root (QEMU then runs as unireg's own, already unprivileged, user). */
export async function bootUser(name: string, passwd = '/etc/passwd'): Promise<BootUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const text = await readFile(passwd, 'utf8');
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined && /^\d+$/.test(uid) && /^\d+$/.test(gid)) {
      const ids = { uid: Number(uid), gid: Number(gid) };
      if (ids.uid === 0 || ids.gid === 0) throw new BootUserError(`unikernel.bootCheck.user ${name} is root: choose an unprivileged user`);
      return { name, ...ids };
    }
  }
  throw new BootUserError(`unikernel.bootCheck.user ${name} is not in ${passwd}`);
}
