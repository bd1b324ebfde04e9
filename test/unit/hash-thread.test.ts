/**
 * Hashing on the hashing thread (src/oci/hash-thread.ts) gives node:crypto's digests: bytes in
 * ordinary buffers (copied at the call) and in shared memory (read in place, as the upload
 * spool's buffers are), copies that go their own way, digests that leave the hash running,
 * many hashes at once, sha512; the pool: hashes that run at once spread over threads up to its
 * size, copies stay on their source's thread, idle threads past the first stop.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashThreads, setHashThreads, ThreadHash } from '../../src/oci/hash-thread.js';

const hex = (algorithm: string, ...parts: Buffer[]) => {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

test('the thread hashes ordinary and shared buffers to node:crypto digests', async () => {
  const a = randomBytes(3 << 20);
  const before = Buffer.from(a);
  const b = randomBytes(12345);
  const shared = Buffer.from(new SharedArrayBuffer(b.length));
  b.copy(shared);
  const hash = ThreadHash.create('sha256');
  const pending = hash.update(a);
  a.fill(0); // an ordinary buffer is copied at the call: changing it afterwards changes nothing
  await pending;
  await hash.update(shared);
  assert.equal(await hash.digest(), hex('sha256', before, b));
  hash.free();
});

test('a copy goes its own way; a digest leaves the hash running', async () => {
  const x = randomBytes(100_000);
  const y = randomBytes(70_000);
  const z = randomBytes(5);
  const hash = ThreadHash.create('sha256');
  await hash.update(x);
  const fork = hash.copy();
  assert.equal(await hash.digest(), hex('sha256', x), 'digest of x');
  await hash.update(y);
  await fork.update(z);
  assert.equal(await hash.digest(), hex('sha256', x, y), 'the hash went on after its digest');
  assert.equal(await fork.digest(), hex('sha256', x, z), 'the copy took only what it was fed');
  hash.free();
  fork.free();
});

test('many hashes at once, sha256 and sha512, each gets its own bytes', async () => {
  const bodies = Array.from({ length: 24 }, (_, k) => [randomBytes(1 + k * 997), randomBytes(65536), randomBytes(k)]);
  const results = await Promise.all(
    bodies.map(async (parts, k) => {
      const algorithm = k % 2 === 0 ? 'sha256' : 'sha512';
      const hash = ThreadHash.create(algorithm);
      for (const p of parts) await hash.update(p);
      const got = await hash.digest();
      hash.free();
      return { got, want: hex(algorithm, ...parts) };
    }),
  );
  for (const { got, want } of results) assert.equal(got, want);
});

test('a freed hash is gone from the thread: using it fails clearly', async () => {
  const hash = ThreadHash.create('sha256');
  hash.free();
  await assert.rejects(hash.digest(), /hash thread: hash \d+ is not known/);
});

/** Feeds `parts` to a new hash and returns it with its expected digest. */
async function fed(parts: Buffer[]): Promise<{ hash: ThreadHash; want: string }> {
  const hash = ThreadHash.create('sha256');
  for (const p of parts) await hash.update(p);
  return { hash, want: hex('sha256', ...parts) };
}

test('hashes live at once spread over the pool up to its size, and stay right', async () => {
  setHashThreads(3, 60_000);
  try {
    const parts = Array.from({ length: 5 }, (_, k) => [randomBytes(200_000 + k), randomBytes(k * 31)]);
    const live = await Promise.all(parts.map((p) => fed(p)));
    assert.equal(hashThreads().running, 3, 'five live hashes, a pool of three: three threads');
    // A copy is made on its source's thread (a copy sent elsewhere would find no such hash there).
    const extra = randomBytes(4321);
    const copies = live.map(({ hash }) => hash.copy());
    await Promise.all(copies.map((c) => c.update(extra)));
    for (const [k, { hash, want }] of live.entries()) {
      assert.equal(await hash.digest(), want, `hash ${k}`);
      assert.equal(await copies[k]!.digest(), hex('sha256', ...parts[k]!, extra), `copy ${k}`);
      hash.free();
      copies[k]!.free();
    }
  } finally {
    setHashThreads(1);
  }
});

test('a pool of one keeps every hash on one thread', async () => {
  setHashThreads(1);
  try {
    const live = await Promise.all([1, 2, 3, 4].map((k) => fed([randomBytes(50_000 * k)])));
    assert.equal(hashThreads().running, 1);
    for (const { hash, want } of live) {
      assert.equal(await hash.digest(), want);
      hash.free();
    }
  } finally {
    setHashThreads(1);
  }
});

test('threads past the first stop once idle; a freed handle on a stopped thread fails clearly; new hashes still work', async () => {
  setHashThreads(2, 100);
  try {
    const a = await fed([randomBytes(10_000)]);
    const b = await fed([randomBytes(20_000)]);
    assert.equal(hashThreads().running, 2);
    a.hash.free();
    b.hash.free();
    const deadline = Date.now() + 5_000;
    while (hashThreads().running > 1 && Date.now() < deadline) await sleep(50);
    assert.equal(hashThreads().running, 1, 'the second thread stopped after 100 ms without a hash');
    // One of the two was on the stopped thread: its use fails with a clear message, no new worker appears.
    const results = await Promise.allSettled([a.hash.digest(), b.hash.digest()]);
    assert.ok(results.every((r) => r.status === 'rejected'));
    assert.ok(results.some((r) => r.status === 'rejected' && /its thread has stopped/.test(String(r.reason))));
    assert.equal(hashThreads().running, 1);
    const c = await fed([randomBytes(30_000)]);
    assert.equal(await c.hash.digest(), c.want);
    c.hash.free();
  } finally {
    setHashThreads(1);
  }
});

test('a pool size that is not a whole number of at least one is refused', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => setHashThreads(bad), /hash threads: .* is not a whole number/);
  assert.equal(hashThreads().max, 1);
});
