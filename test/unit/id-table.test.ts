import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdTable } from '../../src/metrics/id-table.js';
import { manifestId } from '../../src/metrics/stored.js';
import type { Digest } from '../../src/oci/digest.js';

/** A small deterministic generator, so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('IdTable agrees with a Map through random sets, replacements and deletes', () => {
  const rand = rng(7);
  const table = new IdTable();
  const ref = new Map<number, number>();
  // Few distinct ids relative to the operations, so the same ids are set, replaced and deleted often;
  // ids clustered in a narrow range as well as spread over 52 bits, so runs of neighbouring slots form.
  const ids = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? Math.floor(rand() * 2 ** 52) : 1000 + i));
  for (let n = 0; n < 200_000; n++) {
    const id = ids[Math.floor(rand() * ids.length)]!;
    if (rand() < 0.6) {
      const value = Math.floor(rand() * 2 ** 40);
      assert.equal(table.set(id, value), ref.get(id), `set ${id} at step ${n}`);
      ref.set(id, value);
    } else {
      assert.equal(table.delete(id), ref.get(id), `delete ${id} at step ${n}`);
      ref.delete(id);
    }
    assert.equal(table.size, ref.size);
  }
  for (const id of ids) assert.equal(table.get(id), ref.get(id), `get ${id}`);
});

test('IdTable grows past its first capacity and keeps every entry', () => {
  const table = new IdTable();
  for (let i = 0; i < 50_000; i++) table.set(i * 7919, i);
  assert.equal(table.size, 50_000);
  for (let i = 0; i < 50_000; i++) assert.equal(table.get(i * 7919), i);
  assert.equal(table.get(1), undefined);
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.get(7919), undefined);
});

test('IdTable refuses ids it cannot hold exactly', () => {
  const table = new IdTable();
  assert.throws(() => table.set(2 ** 52, 1), RangeError);
  assert.throws(() => table.set(-1, 1), RangeError);
  assert.throws(() => table.set(0.5, 1), RangeError);
  assert.equal(table.set(2 ** 52 - 1, 3), undefined);
  assert.equal(table.get(2 ** 52 - 1), 3);
});

test('manifestId: one digest in two repositories is two ids, and ids fit the table', () => {
  const digest = `sha256:${'ab'.repeat(32)}` as Digest;
  const a = manifestId('org/a', digest);
  const b = manifestId('org/b', digest);
  assert.notEqual(a, b);
  assert.equal(manifestId('org/a', digest), a);
  assert.notEqual(manifestId('org/a', `sha256:${'cd'.repeat(32)}` as Digest), a);
  for (const id of [a, b]) assert.ok(Number.isSafeInteger(id) && id >= 0 && id < 2 ** 52, String(id));
});
