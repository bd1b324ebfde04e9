/**
 * Hashing on the hashing thread (src/oci/hash-thread.ts) gives node:crypto's digests: bytes in
 * ordinary buffers (copied at the call) and in shared memory (read in place, as the upload
 * spool's buffers are), copies that go their own way, digests that leave the hash running,
 * many hashes at once, sha512.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ThreadHash } from '../../src/oci/hash-thread.js';

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
