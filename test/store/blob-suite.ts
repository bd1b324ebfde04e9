/**
 * The shared blob-store suite: the BlobStore and UploadArea contract that every blob
 * driver runs (blobs-fs.test.ts, blobs-s3.test.ts). Sessions are driven the way
 * UploadService drives them (append at the offset, persist offset + area state, commit
 * under the digest), and two UploadService instances sharing the stores take turns on
 * one upload, as two processes behind a balancer do.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import type { RegistryDeps } from '../../src/registry/deps.js';
import { InProcessLocks } from '../../src/registry/locks.js';
import { ManifestCache } from '../../src/registry/manifest-cache.js';
import { QuotaService } from '../../src/registry/quotas.js';
import type { UploadHashing } from '../../src/registry/upload-hash.js';
import { UploadService } from '../../src/registry/uploads.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { MemoryKv } from '../../src/storage/memory/memory-kv.js';
import type { Digest } from '../../src/oci/digest.js';
import type { BlobStore, UploadArea, UploadSession } from '../../src/storage/types.js';
import { BlobUploadUnknownError, BlobUnknownError } from '../../src/domain/errors.js';

export interface BlobDriverHandle {
  blobs: BlobStore;
  uploads: UploadArea;
  /** The data root (layout for the registry deps; scratch space). */
  root: string;
  /** How uploads keep their hash with this driver by default. */
  hashing: UploadHashing;
}

const MiB = 1 << 20;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

async function bytesOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

/** Splits `data` into pieces of `size` bytes (the last shorter). */
function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

/** A new session with its storage created in the area. */
async function openSession(area: UploadArea): Promise<UploadSession> {
  const id = randomUUID();
  const areaState = await area.create(id);
  const now = Date.now();
  return { id, repo: 'suite/repo', offset: 0, startedAt: now, updatedAt: now, ...(areaState !== undefined ? { areaState } : {}) };
}

/** Appends one chunk as UploadService does: the new offset and area state only once it is stored. */
async function appendChunk(area: UploadArea, session: UploadSession, body: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<UploadSession> {
  const result = await area.append(session, body, { update: () => undefined });
  const next: UploadSession = { ...session, offset: session.offset + result.written };
  if (result.areaState !== undefined) next.areaState = result.areaState;
  await result.settled?.();
  return next;
}

/** Uploads `data` in chunks of `chunk` bytes through a session and commits it; returns the digest. */
async function uploadInChunks(area: UploadArea, data: Buffer, chunk: number): Promise<Digest> {
  let session = await openSession(area);
  for (const piece of pieces(data, chunk)) session = await appendChunk(area, session, [piece]);
  assert.equal(session.offset, data.length);
  const digest = sha256(data);
  await area.commit(session, digest);
  return digest;
}

export function runBlobSuite(name: string, open: (t?: TestContext) => Promise<BlobDriverHandle | undefined>): void {
  describe(`blob driver: ${name}`, () => {
    const withDriver = (title: string, fn: (d: BlobDriverHandle) => Promise<void>, timeout = 120_000) =>
      test(title, { timeout }, async (t) => {
        const d = await open(t);
        if (d === undefined) return;
        await fn(d);
      });

    withDriver('a staged blob is stored under its digest; size, stat, read, ranged read and open', async ({ blobs, uploads }) => {
      const data = randomBytes(300_000);
      const digest = sha256(data);
      assert.equal(await blobs.size(digest), undefined);
      assert.equal(await blobs.stat(digest), undefined);
      const hash = createHash('sha256');
      const staged = await uploads.stage(pieces(data, 7_000), hash);
      assert.equal(staged.size, data.length);
      assert.equal(`sha256:${hash.digest('hex')}`, digest);
      assert.equal(await blobs.size(digest), undefined, 'nothing is visible before commit');
      const before = Date.now();
      await staged.commit(digest);
      await staged.discard();
      assert.equal(await blobs.size(digest), data.length);
      const info = await blobs.stat(digest);
      assert.equal(info?.size, data.length);
      assert.ok(info !== undefined && Math.abs(info.mtimeMs - before) < 120_000, `mtime ${info?.mtimeMs} is the ingest time (${before})`);
      assert.deepEqual(await bytesOf(await blobs.read(digest)), data);
      assert.deepEqual(await bytesOf(await blobs.read(digest, { start: 1000, end: 1999 })), data.subarray(1000, 2000));
      assert.deepEqual(await bytesOf(await blobs.read(digest, { start: data.length - 1, end: data.length - 1 })), data.subarray(-1));
      const file = await blobs.open(digest);
      try {
        const buffer = Buffer.alloc(5000);
        // Sequential reads, then a jump back.
        assert.equal(await file.read(buffer, 5000, 0), 5000);
        assert.deepEqual(buffer, data.subarray(0, 5000));
        assert.equal(await file.read(buffer, 5000, 5000), 5000);
        assert.deepEqual(buffer, data.subarray(5000, 10_000));
        const n = await file.read(buffer, 100, 123);
        assert.equal(n, 100);
        assert.deepEqual(buffer.subarray(0, 100), data.subarray(123, 223));
        assert.equal(await file.read(buffer, 100, data.length), 0, 'reading at the end gives 0');
      } finally {
        await file.close();
      }
      await blobs.remove(digest);
      assert.equal(await blobs.size(digest), undefined);
      await assert.rejects(blobs.read(digest), BlobUnknownError);
      await assert.rejects(blobs.open(digest), BlobUnknownError);
    });

    withDriver('ingest takes a verified local file in under its digest and removes the file', async ({ blobs, root }) => {
      const data = randomBytes(9 * MiB + 17);
      const digest = sha256(data);
      const file = join(root, `ingest-${randomUUID()}`);
      await writeFile(file, data);
      await blobs.ingest(file, digest);
      await assert.rejects(access(file), /ENOENT/, 'the local file is gone');
      assert.equal(sha256(await bytesOf(await blobs.read(digest))), digest);
      // Again with the digest already stored: the copy in place is kept, the file removed.
      await writeFile(file, data);
      await blobs.ingest(file, digest);
      await assert.rejects(access(file), /ENOENT/);
      assert.equal(await blobs.size(digest), data.length);
      await blobs.remove(digest);
    });

    withDriver('list finds every blob with its size', async ({ blobs, uploads }) => {
      const made = new Map<Digest, number>();
      for (let i = 0; i < 5; i++) {
        const data = randomBytes(100 + i);
        const staged = await uploads.stage([data], createHash('sha256'));
        await staged.commit(sha256(data));
        await staged.discard();
        made.set(sha256(data), data.length);
      }
      const listed = new Map<Digest, number>();
      for await (const info of blobs.list()) listed.set(info.digest, info.size);
      for (const [digest, size] of made) assert.equal(listed.get(digest), size, `${digest} listed`);
      for (const digest of made.keys()) await blobs.remove(digest);
    });

    withDriver('a discarded stage leaves nothing; an empty blob works', async ({ blobs, uploads }) => {
      const data = randomBytes(1000);
      const staged = await uploads.stage([data], createHash('sha256'));
      await staged.discard();
      assert.equal(await blobs.size(sha256(data)), undefined);
      const empty = Buffer.alloc(0);
      const zero = await uploads.stage([], createHash('sha256'));
      await zero.commit(sha256(empty));
      assert.equal(await blobs.size(sha256(empty)), 0);
      assert.deepEqual(await bytesOf(await blobs.read(sha256(empty))), empty);
    });

    withDriver('a session of tiny chunks (1 byte to 4 KiB) commits to the exact bytes', async ({ blobs, uploads }) => {
      const data = randomBytes(20_000);
      let session = await openSession(uploads);
      let at = 0;
      for (const size of [1, 1, 2, 3, 5, 8, 13, 21, 4096, 1, 4096]) {
        session = await appendChunk(uploads, session, [data.subarray(at, at + size)]);
        at += size;
      }
      session = await appendChunk(uploads, session, [data.subarray(at)]);
      const digest = sha256(data);
      await uploads.commit(session, digest);
      assert.deepEqual(await bytesOf(await blobs.read(digest)), data);
      await blobs.remove(digest);
    });

    withDriver('chunks across the part boundary (5 MiB S3 minimum, 8 MiB parts) and exact multiples', async ({ blobs, uploads }) => {
      for (const [size, chunk] of [
        [5 * MiB - 1, 5 * MiB],
        [5 * MiB + 1, 1 * MiB],
        [8 * MiB, 8 * MiB],
        [8 * MiB + 3, 3 * MiB],
        [17 * MiB + 5, 5 * MiB - 7],
      ] as const) {
        const data = randomBytes(size);
        const digest = await uploadInChunks(uploads, data, chunk);
        assert.equal(await blobs.size(digest), size, `${size} bytes in chunks of ${chunk}`);
        assert.deepEqual(sha256(await bytesOf(await blobs.read(digest))), digest);
        await blobs.remove(digest);
      }
    }, 300_000);

    withDriver('a cut chunk leaves the session at its offset; the retry and the commit give the exact bytes', async ({ blobs, uploads }) => {
      const data = randomBytes(12 * MiB);
      let session = await openSession(uploads);
      session = await appendChunk(uploads, session, [data.subarray(0, 3 * MiB)]);
      async function* cut(): AsyncGenerator<Buffer> {
        yield randomBytes(7 * MiB); // crosses a part boundary with bytes that must never count
        throw new Error('client went away');
      }
      await assert.rejects(uploads.append(session, cut(), { update: () => undefined }), /client went away/);
      // The retry of the same range, from the same state.
      session = await appendChunk(uploads, session, pieces(data.subarray(3 * MiB), 64 * 1024));
      const digest = sha256(data);
      await uploads.commit(session, digest);
      assert.equal(sha256(await bytesOf(await blobs.read(digest))), digest);
      await blobs.remove(digest);
    }, 180_000);

    withDriver('a chunk refused by its length check changes nothing', async ({ blobs, uploads }) => {
      const data = randomBytes(6000);
      let session = await openSession(uploads);
      session = await appendChunk(uploads, session, [data.subarray(0, 1000)]);
      await assert.rejects(
        uploads.append(session, [randomBytes(50)], { update: () => undefined }, (n) => {
          if (n !== 51) throw new Error(`length ${n}`);
        }),
        /length 50/,
      );
      session = await appendChunk(uploads, session, [data.subarray(1000)]);
      await uploads.commit(session, sha256(data));
      assert.deepEqual(await bytesOf(await blobs.read(sha256(data))), data);
      await blobs.remove(sha256(data));
    });

    withDriver('abort removes the session data; committing an aborted session fails as unknown', async ({ blobs, uploads }) => {
      const data = randomBytes(9 * MiB);
      let session = await openSession(uploads);
      session = await appendChunk(uploads, session, [data]);
      await uploads.abort(session.id, session.areaState);
      await assert.rejects(uploads.commit(session, sha256(data)), BlobUploadUnknownError);
      assert.equal(await blobs.size(sha256(data)), undefined);
    });

    withDriver('committing content that is already stored keeps one copy and ends the session', async ({ blobs, uploads }) => {
      const data = randomBytes(4000);
      const first = await uploadInChunks(uploads, data, 1000);
      const second = await uploadInChunks(uploads, data, 3000);
      assert.equal(first, second);
      assert.deepEqual(await bytesOf(await blobs.read(first)), data);
      await blobs.remove(first);
    });

    withDriver('two UploadService instances sharing the stores take turns on one upload (persisted hash state)', async (d) => {
      const meta = new KvMetadataStore(new MemoryKv());
      await meta.open();
      const config = configSchema.parse({ storage: { root: d.root } });
      const reads = { count: 0 };
      // Counts read-backs of the session: finishing the digest must not need any.
      const area: UploadArea = new Proxy(d.uploads, {
        get(target, prop, receiver) {
          if (prop === 'read') {
            return (session: UploadSession) => {
              reads.count++;
              return target.read(session);
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const deps = (): RegistryDeps => ({
        meta,
        blobs: d.blobs,
        uploadArea: area,
        uploadHashing: 'persisted',
        layout: new Layout(d.root),
        config,
        log: pino({ level: 'silent' }),
        locks: new InProcessLocks(),
        cache: new ManifestCache(),
        quotas: new QuotaService(meta, []),
      });
      const a = new UploadService(deps());
      const b = new UploadService(deps());
      const data = randomBytes(10 * MiB + 12_345);
      const session = await a.start('suite/repo');
      let at = 0;
      const sizes = [100, 3 * MiB, 1, 6 * MiB, 77_777];
      for (const [i, size] of sizes.entries()) {
        const service = i % 2 === 0 ? a : b;
        const piece = data.subarray(at, at + size);
        const updated = await service.append('suite/repo', session.id, { body: [piece], range: { start: at, end: at + size - 1 } });
        at += size;
        assert.equal(updated.offset, at);
        const stored = await meta.getUpload(session.id);
        assert.equal(stored?.offset, at, 'the offset is in the shared record');
        assert.ok(stored?.hashState, 'the hash state travels with the offset');
      }
      const digest = sha256(data);
      const size = await b.complete('suite/repo', session.id, digest, { body: [data.subarray(at)] });
      assert.equal(size, data.length);
      assert.equal(reads.count, 0, 'no process read the upload back to finish the digest');
      assert.equal(await meta.getUpload(session.id), undefined);
      assert.equal(await meta.getBlobLink('suite/repo', digest), data.length);
      assert.equal(sha256(await bytesOf(await d.blobs.read(digest))), digest);
      // A wrong digest on a session another instance fed is refused.
      const s2 = await a.start('suite/repo');
      await a.append('suite/repo', s2.id, { body: [randomBytes(10)] });
      await assert.rejects(b.complete('suite/repo', s2.id, digest), /digest/i);
      await d.blobs.remove(digest);
      await meta.close();
    }, 180_000);

    withDriver('sweep removes data of sessions that no longer exist, and keeps live ones', async ({ blobs, uploads }) => {
      const data = randomBytes(2000);
      let live = await openSession(uploads);
      live = await appendChunk(uploads, live, [data]);
      let gone = await openSession(uploads);
      gone = await appendChunk(uploads, gone, [randomBytes(3000)]);
      // Far in the future: every orphan is old enough.
      await uploads.sweep((id) => id === live.id, Date.now() + 48 * 3600_000, 60_000);
      await assert.rejects(uploads.commit(gone, sha256(Buffer.alloc(3000))), BlobUploadUnknownError);
      await uploads.commit(live, sha256(data));
      assert.deepEqual(await bytesOf(await blobs.read(sha256(data))), data);
      await blobs.remove(sha256(data));
    });
  });
}
