/**
 * Password checks run off the event loop, on a bounded pool: while wrong
 * passwords are being checked, a client whose login is already known is served
 * at once; and checks beyond the queue are refused with 503 and Retry-After
 * instead of piling up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { basic, PASSWORD } from '../helpers/auth-http.js';
import { expectError } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Cost 10: each check takes tens of ms of CPU (more on a busy machine), so 20 of them take a while. */
const SLOW_HASH = bcrypt.hashSync(PASSWORD, 10);

describe('password checks off the event loop', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: { mode: 'basic', users: { alice: SLOW_HASH }, failedLogins: { limit: 1000, window: '1m' }, passwordChecks: { threads: 2, queue: 64 } },
    });
  });
  after(() => srv.destroy());

  test('a logged-in client makes 30 requests in a row while 20 wrong-password checks run', async () => {
    const hello = () => fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice') } });
    assert.equal((await hello()).status, 200, 'first login (checked, then remembered)');

    let wrongDone = 0;
    const wrong = Array.from({ length: 20 }, (_, i) =>
      fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice', `wrong-${i}`) } }).then(async (res) => {
        await res.arrayBuffer();
        wrongDone++;
        return res.status;
      }),
    );
    // Each request takes a few turns of the event loop: on the event loop, the checks
    // (bcryptjs yields between slices of ~100 ms) would make every turn wait for them,
    // and the checks would all be done long before the 30th request.
    for (let i = 0; i < 30; i++) {
      const res = await hello();
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const pending = 20 - wrongDone;
    assert.ok(pending >= 10, `the logged-in requests waited for the checks: only ${pending} of 20 were still running`);
    assert.deepEqual(new Set(await Promise.all(wrong)), new Set([401]));
  });
});

describe('the password check queue', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      auth: { mode: 'basic', users: { alice: SLOW_HASH }, failedLogins: { limit: 1000, window: '1m' }, passwordChecks: { threads: 1, queue: 2 } },
    });
  });
  after(() => srv.destroy());

  test('checks beyond threads + queue get 503 TOOMANYREQUESTS with Retry-After; the others are answered', async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice', `wrong-${i}`) } })),
    );
    const statuses = responses.map((r) => r.status).sort();
    const refused = responses.filter((r) => r.status === 503);
    // 1 running + 2 waiting are answered; of the rest, those that arrive before a slot frees are refused.
    assert.ok(refused.length >= 1 && refused.length <= 7, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 401).length, 10 - refused.length);
    for (const r of refused) {
      assert.equal(r.headers.get('retry-after'), '1');
      await expectError(r, 503, 'TOOMANYREQUESTS');
    }
    // The right password still works once the flood has passed.
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic('alice') } })).status, 200);
  });
});
