import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { scanPages, type SortedKv } from '../../src/storage/kv.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { MemoryKv } from '../../src/storage/memory/memory-kv.js';

const key = (i: number) => `k\u0000${String(i).padStart(4, '0')}`;
const RANGE = { gt: 'k\u0000', lt: 'k\u0001' };

async function withLevel(run: (kv: LevelKv) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-level-scan-'));
  const kv = new LevelKv(join(dir, 'meta'));
  await kv.open();
  try {
    await run(kv);
  } finally {
    await kv.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function fill(kv: SortedKv, n: number): Promise<void> {
  const ops = Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: key(i), value: Buffer.from(`v${i}`) }));
  // Keys just outside the range on both sides: the scan must not return them.
  ops.push({ type: 'put', key: 'j', value: Buffer.from('below') }, { type: 'put', key: 'k\u0001', value: Buffer.from('above') });
  await kv.batch(ops);
}

async function collect(pages: AsyncIterable<[string, Buffer][]>): Promise<{ sizes: number[]; entries: [string, string][] }> {
  const sizes: number[] = [];
  const entries: [string, string][] = [];
  for await (const page of pages) {
    sizes.push(page.length);
    for (const [k, v] of page) entries.push([k, v.toString()]);
  }
  return { sizes, entries };
}

/** The keys of a scan of RANGE in pages of 100, running `afterFirstPage` once the first page is in. */
async function scanKeys(kv: SortedKv, afterFirstPage: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  for await (const page of scanPages(kv, RANGE, 100, false)) {
    const first = seen.length === 0;
    seen.push(...page.map(([k]) => k));
    if (first) await afterFirstPage();
  }
  return seen;
}

test('LevelDB scan: the range in pages of the given size, with or without values, as entries() reads it', async () => {
  await withLevel(async (kv) => {
    await fill(kv, 250);
    const expected = (await kv.entries(RANGE)).map(([k, v]): [string, string] => [k, v.toString()]);
    assert.equal(expected.length, 250);
    const withValues = await collect(scanPages(kv, RANGE, 100, true));
    assert.deepEqual(withValues.sizes, [100, 100, 50]);
    assert.deepEqual(withValues.entries, expected);
    const keysOnly = await collect(scanPages(kv, RANGE, 100, false));
    assert.deepEqual(
      keysOnly.entries,
      expected.map(([k]) => [k, '']),
    );
    // The fallback (a store without scan) pages the same way.
    const memory = new MemoryKv();
    await fill(memory, 250);
    assert.deepEqual(await collect(scanPages(memory, RANGE, 100, true)), withValues);
  });
});

test('LevelDB scan: values larger than the byte budget of one iterator read (pages then come back short) are all read', async () => {
  await withLevel(async (kv) => {
    const big = Buffer.alloc(1024, 7);
    await kv.batch(Array.from({ length: 300 }, (_, i) => ({ type: 'put' as const, key: key(i), value: big })));
    const { sizes, entries } = await collect(scanPages(kv, RANGE, 100, true));
    assert.equal(entries.length, 300, `pages of ${sizes.join(', ')}`);
    assert.ok(sizes.every((n) => n > 0 && n <= 100));
    assert.ok(entries.every(([, v]) => v === big.toString()));
  });
});

test('LevelDB scan: every page comes from the one iterator the scan began with', async () => {
  await withLevel(async (kv) => {
    await fill(kv, 250);
    // Written after the first page, ahead of where the scan stands: a scan that opened a new
    // iterator per page would see the new key and miss the deleted one.
    const seen = await scanKeys(kv, () =>
      kv.batch([
        { type: 'put', key: `${key(200)}+new`, value: Buffer.from('new') },
        { type: 'del', key: key(220) },
      ]),
    );
    assert.equal(seen.length, 250);
    assert.ok(!seen.includes(`${key(200)}+new`), 'a key written after the scan began is not in it');
    assert.ok(seen.includes(key(220)), 'a key deleted after the scan began is still in it');
  });
});

test('LevelDB scan: a reopen of the database mid-scan (it closes open iterators) does not end the scan', async () => {
  await withLevel(async (kv) => {
    await fill(kv, 250);
    const seen = await scanKeys(kv, async () => {
      await kv.close();
      await kv.open();
    });
    assert.deepEqual(
      seen,
      Array.from({ length: 250 }, (_, i) => key(i)),
      'every key once, in order',
    );
  });
});
