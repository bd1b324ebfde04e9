/** Logins: a name and password checked against the users, with failures counted per client. */
import type { Principal } from './policy.js';
import type { FailedLogins } from './failed-logins.js';
import type { UserDirectory } from './users.js';

export class Logins {
  constructor(
    readonly users: UserDirectory,
    private readonly failures: FailedLogins,
  ) {}

  /** Throws TooManyAttemptsError while `client` is held back (call before looking at credentials). */
  holdBack(client: string): Promise<void> {
    return this.failures.check(client);
  }

  /** The user, or undefined (and one more failure for `client`) when the password is wrong. */
  async check(client: string, username: string, password: string): Promise<Principal | undefined> {
    await this.failures.check(client, username);
    if (await this.users.verify(username, password)) return { name: username };
    await this.failures.failed(client, username);
    return undefined;
  }

  /** Counts a failure that was not a password (a refresh token that no longer holds). */
  failed(client: string): Promise<void> {
    return this.failures.failed(client);
  }
}
