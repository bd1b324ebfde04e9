/** UserDirectory and htpasswd parsing: who may log in, and how long it takes to be told no. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { pino } from 'pino';
import { parseHtpasswd } from '../../src/auth/htpasswd.js';
import { PasswordPool } from '../../src/auth/password-pool.js';
import { HtpasswdError, UserDirectory, usualCost } from '../../src/auth/users.js';

/** The real worker pool, recording the hash each comparison was made against (no timing involved). */
class RecordingPool extends PasswordPool {
  readonly compared: string[] = [];
  constructor() {
    super(2, 64);
  }
  override compare(password: string, hash: string): Promise<boolean> {
    this.compared.push(hash);
    return super.compare(password, hash);
  }
}

const costOf = (hash: string) => Number(hash.slice(4, 6));

const log = pino({ level: 'silent' });

describe('htpasswd parsing', () => {
  test('keeps bcrypt entries, skips comments, other hash kinds and repeats (saying why, without the hash)', () => {
    const good = bcrypt.hashSync('pw', 4);
    const text = [
      '# a comment',
      '',
      `alice:${good}`,
      `bob:${good.replace('$2b$', '$2y$')}`,
      'carol:$apr1$salt$0123456789abcdefghijkl',
      'dave:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=',
      `alice:${good}`,
      'no-colon-here',
    ].join('\n');
    const parsed = parseHtpasswd(text);
    assert.deepEqual([...parsed.users.keys()], ['alice', 'bob']);
    assert.deepEqual(
      parsed.skipped.map((s) => s.line),
      [5, 6, 7, 8],
    );
    for (const s of parsed.skipped) assert.ok(!s.reason.includes('$apr1$') && !s.reason.includes(good), s.reason);
  });
});

describe('UserDirectory', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unireg-users-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('config users and htpasswd users both log in; the config entry wins for a name in both', async () => {
    const file = join(dir, 'both');
    await writeFile(file, `alice:${bcrypt.hashSync('file-pw', 4)}\nbob:${bcrypt.hashSync('bob-pw', 4)}\n`);
    const users = await UserDirectory.open({ alice: bcrypt.hashSync('config-pw', 4) }, file, log);
    assert.equal(await users.verify('alice', 'config-pw'), true);
    assert.equal(await users.verify('alice', 'file-pw'), false);
    assert.equal(await users.verify('bob', 'bob-pw'), true);
    assert.equal(await users.verify('bob', 'BOB-PW'), false);
    assert.equal(await users.verify('nobody', 'bob-pw'), false);
  });

  test('a missing htpasswd file stops the start', async () => {
    await assert.rejects(UserDirectory.open({}, join(dir, 'missing'), log), HtpasswdError);
  });

  test('a remembered success does not outlive a password change', async () => {
    const users = await UserDirectory.open({}, join(dir, 'both'), log);
    assert.equal(await users.verify('bob', 'bob-pw'), true);
    const before = await users.fingerprint('bob');
    await writeFile(join(dir, 'both'), `bob:${bcrypt.hashSync('new-pw', 4)}\n`);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(await users.verify('bob', 'bob-pw'), false);
    assert.equal(await users.verify('bob', 'new-pw'), true);
    assert.notEqual(await users.fingerprint('bob'), before);
  });

  for (const cost of [5, 10]) {
    test(`an unknown name costs a bcrypt comparison at the users' cost too (cost ${cost}), so timing does not tell names apart`, async () => {
      const pool = new RecordingPool();
      const alice = bcrypt.hashSync('pw', cost);
      const users = await UserDirectory.open({ alice, bob: bcrypt.hashSync('pw', cost) }, '', log, pool);
      assert.equal(await users.verify('alice', 'wrong'), false);
      assert.deepEqual(pool.compared, [alice], 'a known name is compared against its own hash');
      for (let i = 0; i < 3; i++) assert.equal(await users.verify(`nobody-${i}`, `wrong-${i}`), false);
      assert.equal(pool.compared.length, 4, 'every unknown name costs one real comparison');
      const dummies = pool.compared.slice(1);
      assert.ok(dummies.every((h) => h !== alice && /^\$2[aby]\$\d{2}\$/.test(h)), 'against a real bcrypt hash that is no user\'s');
      assert.deepEqual(dummies.map(costOf), [cost, cost, cost], 'at the cost the users\' hashes have');
    });
  }

  test('a burst of requests with the same new credentials costs one bcrypt comparison, not one each', async () => {
    const pool = new RecordingPool();
    const users = await UserDirectory.open({ alice: bcrypt.hashSync('pw', 10) }, '', log, pool);
    const results = await Promise.all(Array.from({ length: 32 }, () => users.verify('alice', 'pw')));
    assert.ok(results.every(Boolean));
    assert.equal(pool.compared.length, 1, `32 concurrent checks made ${pool.compared.length} comparisons`);
  });

  test('usualCost: the cost most hashes use', () => {
    const h = (cost: number) => `$2b$${String(cost).padStart(2, '0')}$${'a'.repeat(53)}`;
    assert.equal(usualCost([]), 10);
    assert.equal(usualCost([h(5), h(5), h(12)]), 5);
    assert.equal(usualCost([h(5), h(12)]), 12);
  });
});
