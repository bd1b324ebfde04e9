/**
 * UserDirectory: who may log in. Users come from the config (`auth.users`) and
 * an htpasswd file (`auth.htpasswd`, re-read when it changes); a name in both
 * uses the config's entry.
 *
 * Password checks cost a bcrypt comparison (constant-time; an unknown name is
 * compared against a dummy hash of the cost most users' hashes have, so timing
 * does not tell names apart: `htpasswd -B` writes cost 5, configs often 10-12).
 * Clients send Basic credentials on every request, so a successful check is
 * remembered under an HMAC of name, password and hash with a per-process key
 * (neither the password nor its hash is kept) for a minute after its last use;
 * and concurrent checks of the same credentials share one bcrypt run, so a burst
 * of requests from a client that just connected costs one comparison, not one each.
 * Comparisons run on worker threads (./password-pool.ts): never on the event loop,
 * at most `auth.passwordChecks.threads` at once, with a bounded queue.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parseHtpasswd } from './htpasswd.js';
import { PasswordPool } from './password-pool.js';

const CACHE_MS = 60_000;
const CACHE_MAX = 10_000;
const RECHECK_FILE_MS = 2_000;
const DEFAULT_COST = 10;

/** The cost most of `hashes` use (the higher one on a tie); DEFAULT_COST when there are none. */
export function usualCost(hashes: Iterable<string>): number {
  const counts = new Map<number, number>();
  for (const hash of hashes) {
    const cost = Number(hash.slice(4, 6));
    if (Number.isInteger(cost)) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = DEFAULT_COST;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) [best, bestCount] = [cost, count];
  }
  return best;
}

export class HtpasswdError extends Error {
  override readonly name = 'HtpasswdError';
}

export class UserDirectory {
  private fileUsers = new Map<string, string>();
  private fileStamp = '';
  private lastFileCheck = 0;
  private readonly cache = new Map<string, number>();
  private readonly checking = new Map<string, Promise<boolean>>();
  private readonly cacheKey = randomBytes(32);
  /** A bcrypt hash of a random string nobody knows, compared against for unknown names. */
  private dummyHash = '';

  private constructor(
    private readonly configUsers: ReadonlyMap<string, string>,
    private readonly file: string,
    private readonly log: Logger,
    private readonly pool: PasswordPool,
  ) {}

  /** Reads the htpasswd file (if any) now: a missing or unreadable file stops the start. */
  static async open(
    users: Readonly<Record<string, string>>,
    file: string,
    log: Logger,
    pool: PasswordPool = new PasswordPool(2, 64),
  ): Promise<UserDirectory> {
    const dir = new UserDirectory(new Map(Object.entries(users)), file, log, pool);
    if (file !== '') {
      try {
        await dir.reload(true);
      } catch (err) {
        throw new HtpasswdError(`cannot read auth.htpasswd ${file}: ${(err as Error).message}`);
      }
    } else {
      await dir.matchDummyCost();
    }
    return dir;
  }

  private async matchDummyCost(): Promise<void> {
    const cost = usualCost([...this.configUsers.values(), ...this.fileUsers.values()]);
    if (this.dummyHash === '' || Number(this.dummyHash.slice(4, 6)) !== cost) {
      this.dummyHash = await this.pool.hash(randomBytes(18).toString('base64'), cost);
    }
  }

  private async reload(force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.lastFileCheck < RECHECK_FILE_MS) return;
    this.lastFileCheck = now;
    const info = await stat(this.file);
    const stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
    if (!force && stamp === this.fileStamp) return;
    const parsed = parseHtpasswd(await readFile(this.file, 'utf8'));
    for (const s of parsed.skipped) this.log.warn({ file: this.file, line: s.line, reason: s.reason }, 'htpasswd line skipped');
    this.fileUsers = parsed.users;
    this.fileStamp = stamp;
    await this.matchDummyCost();
    this.log.info({ file: this.file, users: parsed.users.size }, 'htpasswd loaded');
  }

  private async hashOf(name: string): Promise<string | undefined> {
    if (this.file !== '') {
      await this.reload().catch((err: unknown) => {
        this.log.warn({ file: this.file, err: (err as Error).message }, 'cannot re-read htpasswd; keeping the users read before');
      });
    }
    return this.configUsers.get(name) ?? this.fileUsers.get(name);
  }

  /** A short fingerprint of the user's current hash: tokens bound to it die when the password changes. */
  async fingerprint(name: string): Promise<string | undefined> {
    const hash = await this.hashOf(name);
    return hash === undefined ? undefined : createHash('sha256').update(hash).digest('base64url').slice(0, 16);
  }

  async verify(name: string, password: string): Promise<boolean> {
    const hash = await this.hashOf(name);
    const key = createHmac('sha256', this.cacheKey)
      .update(`${name}\0${password}\0${hash ?? ''}`)
      .digest('base64');
    const until = this.cache.get(key);
    if (hash !== undefined && until !== undefined && until > Date.now()) {
      this.cache.set(key, Date.now() + CACHE_MS);
      return true;
    }
    let pending = this.checking.get(key);
    if (!pending) {
      pending = this.compare(key, password, hash).finally(() => this.checking.delete(key));
      this.checking.set(key, pending);
    }
    return pending;
  }

  private async compare(key: string, password: string, hash: string | undefined): Promise<boolean> {
    const ok = await this.pool.compare(password, hash ?? this.dummyHash);
    if (!ok || hash === undefined) return false;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(key, Date.now() + CACHE_MS);
    return true;
  }
}
