/**
 * Upload bytes written past the page cache (src/storage/fs/direct-io.ts): whole aligned
 * buffers go through the O_DIRECT handle, the rest through the ordinary one, and the file
 * holds exactly the bytes sent whatever the start offset and chunking. On a real file in
 * the temp directory (ext4 here; a file system without O_DIRECT gets ordinary writes, and
 * the byte checks still hold).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AlignedBuffers, DIRECT_ALIGN, openDirect } from '../../src/storage/fs/direct-io.js';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { FsUploadArea } from '../../src/storage/fs/fs-upload-area.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { spool, spoolBuffers, type SpoolOptions, type SpoolStats } from '../../src/storage/fs/spool.js';
import { parseDigest } from '../../src/oci/digest.js';
import { hashThreads, setHashThreads, ThreadHash } from '../../src/oci/hash-thread.js';

/** `data` in pieces of irregular sizes, as sockets deliver it. */
function* pieces(data: Buffer): Generator<Buffer> {
  const sizes = [1, 4095, 65536, 7, 300_000, 1 << 20];
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - at);
    yield data.subarray(at, at + n);
    at += n;
  }
}

describe('direct writes of upload bytes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unireg-direct-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function spoolInto(name: string, prefix: Buffer, data: Buffer, useDirect: boolean) {
    const path = join(dir, name);
    await writeFile(path, prefix);
    const fh = await open(path, 'r+');
    const direct = useDirect ? await openDirect(path) : undefined;
    const stats = { directBytes: 0, releasedBytes: 0 };
    const hash = createHash('sha256');
    try {
      const written = await spool(pieces(data), fh, prefix.length, hash, direct === undefined ? { stats } : { direct, stats });
      await fh.sync();
      return { written, stats, digest: hash.digest('hex'), file: await readFile(path), direct: direct !== undefined };
    } finally {
      await direct?.close();
      await fh.close();
    }
  }

  /** Spools `source` into a new file `name`, then checks the file holds exactly `data`. */
  async function spoolChecked(name: string, source: Iterable<Buffer> | AsyncIterable<Buffer>, data: Buffer, options: SpoolOptions = {}): Promise<void> {
    const path = join(dir, name);
    await writeFile(path, Buffer.alloc(0));
    const fh = await open(path, 'r+');
    try {
      await spool(source, fh, 0, createHash('sha256'), options);
    } finally {
      await fh.close();
    }
    assert.ok((await readFile(path)).equals(data), `file ${name}`);
  }

  test('aligned buffers are page-aligned and reused', () => {
    const pool = new AlignedBuffers(1 << 20);
    const a = pool.take();
    assert.ok(pool.aligned(a));
    assert.equal(a.length, 1 << 20);
    assert.equal(a.byteOffset % DIRECT_ALIGN, 0);
    pool.give(a);
    assert.equal(pool.take(), a, 'a released buffer is handed out again');
    const ordinary = Buffer.alloc(1 << 20);
    assert.equal(pool.aligned(ordinary), false);
  });

  for (const start of [0, 1000, DIRECT_ALIGN]) {
    test(`a body spooled at offset ${start}: the whole buffers went direct, the file holds exactly the bytes`, async (t) => {
      const prefix = randomBytes(start);
      const data = randomBytes(5 * (1 << 20) + 12345);
      const got = await spoolInto(`at-${start}`, prefix, data, true);
      assert.equal(got.written, data.length);
      assert.equal(got.digest, createHash('sha256').update(data).digest('hex'));
      assert.ok(got.file.equals(Buffer.concat([prefix, data])), 'the file is the prefix followed by the body');
      if (!got.direct) {
        // CI runs on ext4, which takes O_DIRECT: there a refusal is a failure.
        if (process.env.CI === 'true') assert.fail(`O_DIRECT refused under ${dir}`);
        t.skip(`the file system under ${dir} refuses O_DIRECT: ordinary writes only`);
        return;
      }
      // Every whole aligned MiB after the first (which may only fill up to the block grid) goes direct.
      assert.ok(got.stats.directBytes >= 4 * (1 << 20), `direct bytes ${got.stats.directBytes}`);
      assert.equal(got.stats.directBytes % DIRECT_ALIGN, 0);
      assert.ok(got.stats.directBytes < data.length, 'the unaligned tail went the ordinary way');
    });
  }

  test('with the hashing thread reading the spool buffers in place, no buffer is refilled before it is hashed', async () => {
    // The pieces arrive at once, so only the spool's wait for each buffer's hash keeps the next fill
    // from overwriting bytes the thread has not read yet.
    const data = randomBytes(24 * (1 << 20) + 777);
    for (const useDirect of [true, false]) {
      const path = join(dir, `threaded-${useDirect}`);
      await writeFile(path, Buffer.alloc(0));
      const fh = await open(path, 'r+');
      const direct = useDirect ? await openDirect(path) : undefined;
      const hash = ThreadHash.create('sha256');
      try {
        await spool(pieces(data), fh, 0, hash, direct === undefined ? {} : { direct });
        assert.equal(await hash.digest(), createHash('sha256').update(data).digest('hex'), `direct handle: ${useDirect}`);
      } finally {
        hash.free();
        await direct?.close();
        await fh.close();
      }
    }
  });

  test('four spools at once over a pool of three hashing threads: every digest and file is right', async () => {
    setHashThreads(3, 60_000);
    try {
      const bodies = [0, 1, 2, 3].map((k) => randomBytes(6 * (1 << 20) + k * 4099));
      const done = await Promise.all(
        bodies.map(async (data, k) => {
          const path = join(dir, `pool-${k}`);
          await writeFile(path, Buffer.alloc(0));
          const fh = await open(path, 'r+');
          const direct = await openDirect(path);
          const hash = ThreadHash.create('sha256');
          try {
            await spool(pieces(data), fh, 0, hash, direct === undefined ? {} : { direct });
            await fh.sync();
            return { digest: await hash.digest(), running: hashThreads().running };
          } finally {
            hash.free();
            await direct?.close();
            await fh.close();
          }
        }),
      );
      for (const [k, data] of bodies.entries()) {
        assert.equal(done[k]!.digest, createHash('sha256').update(data).digest('hex'), `spool ${k}`);
        assert.ok((await readFile(join(dir, `pool-${k}`))).equals(data), `file ${k}`);
      }
      assert.equal(Math.max(...done.map((d) => d.running)), 3, 'the four hashes ran on three threads');
    } finally {
      setHashThreads(1);
    }
  });

  test('a lone spool takes more buffers while its writes lag; many at once stay within the shared budget', async () => {
    // The pieces are all there at once, so every write is still in flight when the next buffer is full:
    // a spool alone grows to its maximum (8), and ten at once keep to 2 each (the budget, 8, is spent).
    const lone: SpoolStats = { directBytes: 0, releasedBytes: 0 };
    const loneData = randomBytes(16 * (1 << 20));
    await spoolChecked('lone', pieces(loneData), loneData, { stats: lone });
    assert.equal(lone.maxBuffers, 8, 'a spool alone grows to 8 buffers');
    assert.equal(spoolBuffers().inUse, 0, 'every buffer was given back');

    // Ten at once, started a few I/O round trips apart: the first may grow while alone, and gives its extras
    // back as the others come; together they never hold more than 2 each.
    const before = spoolBuffers().peakInUse;
    const many = Array.from({ length: 10 }, (_, k) => randomBytes(6 * (1 << 20) + k));
    let peak = 0;
    await Promise.all(
      many.map(async (data, k) => {
        const watch = (function* () {
          for (const piece of pieces(data)) {
            peak = Math.max(peak, spoolBuffers().inUse);
            yield piece;
          }
        })();
        await spoolChecked(`many-${k}`, watch, data);
      }),
    );
    assert.ok(peak >= 16, `ten spools held ${peak} buffers at once`);
    assert.ok(peak <= 20, `ten spools at once held ${peak} buffers: at most 2 each once the budget is spent`);
    assert.ok(spoolBuffers().peakInUse <= Math.max(before, 20), `the pool grew to ${spoolBuffers().peakInUse}`);
    assert.equal(spoolBuffers().inUse, 0, 'every buffer was given back');
  });

  test('a spool holding extras gives them back when others arrive, even while its client sends nothing', async () => {
    let resume!: () => void;
    const paused = new Promise<void>((r) => (resume = r));
    const firstData = randomBytes(20 * (1 << 20));
    const first: SpoolStats = { directBytes: 0, releasedBytes: 0 };
    // 12 MiB at once, then nothing until the others are done: a client that stalls mid-body.
    async function* stalling() {
      yield* pieces(firstData.subarray(0, 12 << 20));
      await new Promise((r) => setTimeout(r, 200));
      await paused;
      yield* pieces(firstData.subarray(12 << 20));
    }
    const firstDone = spoolChecked('stalling', stalling(), firstData, { stats: first });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(first.maxBuffers, 8, 'alone, it grew to 8');
    const base = spoolBuffers().inUse;
    let peak = 0;
    // Each of the others sends 1.35 MiB (a buffer written, the second filling), then waits until all seven are that far: all hold their 2 buffers at once.
    const others = Array.from({ length: 7 }, (_, k) => randomBytes(4 * (1 << 20) + k));
    let arrived = 0;
    let allThere!: () => void;
    const barrier = new Promise<void>((r) => (allThere = r));
    let timer: NodeJS.Timeout | undefined;
    const noLater = new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`only ${arrived} of 7 spools got their buffers`)), 5000)));
    void barrier.then(() => clearTimeout(timer));
    await Promise.all(
      others.map(async (data, k) => {
        const watch = (async function* () {
          for (const [n, piece] of [...pieces(data)].entries()) {
            peak = Math.max(peak, spoolBuffers().inUse);
            if (n === 6 && ++arrived === 7) allThere();
            if (n === 6) await Promise.race([barrier, noLater]);
            yield piece;
          }
        })();
        await spoolChecked(`joiner-${k}`, watch, data);
      }),
    );
    resume();
    await firstDone; // and the stalled body is whole
    assert.equal(base, 8, 'the stalled spool held its 8 buffers');
    assert.ok(peak <= 16, `eight spools held ${peak} buffers at once: the stalled one gave its extras back`);
    assert.equal(spoolBuffers().inUse, 0, 'every buffer was given back');
  });

  test('without a direct handle nothing goes direct, and the bytes are the same', async () => {
    const data = randomBytes(3 * (1 << 20) + 1);
    const got = await spoolInto('ordinary', Buffer.alloc(0), data, false);
    assert.equal(got.stats.directBytes, 0);
    assert.ok(got.file.equals(data));
  });

  test('the fs upload area writes pushes directly, pull-through fills (readSoon) and directWrites: false through the cache', async (t) => {
    const data = randomBytes(4 * (1 << 20) + 3);
    const digest = parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    const staged = async (directWrites: boolean, readSoon: boolean) => {
      const layout = new Layout(await mkdtemp(join(dir, 'area-')));
      const blobs = new FsBlobStore(layout);
      const area = new FsUploadArea(layout, blobs, { directWrites });
      await area.init();
      const blob = await area.stage(pieces(data), createHash('sha256'), undefined, { readSoon });
      await blob.commit(digest);
      const chunks: Buffer[] = [];
      for await (const c of await blobs.read(digest)) chunks.push(c);
      assert.ok(Buffer.concat(chunks).equals(data), 'the stored blob is the body');
      return area.spoolStats.directBytes;
    };
    const pushed = await staged(true, false);
    if (pushed === 0 && process.env.CI !== 'true') {
      t.skip(`the file system under ${dir} refuses O_DIRECT`);
      return;
    }
    assert.ok(pushed >= 4 * (1 << 20), `a push went direct (${pushed} bytes)`);
    assert.equal(await staged(true, true), 0, 'a body read right away stays in the page cache');
    assert.equal(await staged(false, false), 0, 'directWrites: false');
  });
});
