/**
 * Request-body chunks freed as soon as the spool has copied them (src/storage/owned-chunks.ts):
 * only chunks of a body marked as owned, only chunks that are a whole ArrayBuffer of their
 * own, and the spooled file still holds exactly the bytes sent. On a real file in the temp
 * directory, and through a real server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FsUploadArea } from '../../src/storage/fs/fs-upload-area.js';
import { spool } from '../../src/storage/fs/spool.js';
import { chunksOwned, ownedChunks, releaseChunk } from '../../src/storage/owned-chunks.js';
import { abs, pushBlob, startUpload, withQuery } from '../helpers/oci.js';
import { startTestServer } from '../helpers/server.js';

/** A Buffer over an ArrayBuffer of its own, as Node's HTTP parser makes per read. */
function own(bytes: Buffer): Buffer {
  const chunk = Buffer.from(new ArrayBuffer(bytes.length));
  bytes.copy(chunk);
  return chunk;
}

/** `data` as chunks of their own of irregular sizes; every chunk handed out is kept in `seen`. */
function* chunksOf(data: Buffer, seen: Buffer[]): Generator<Buffer> {
  const sizes = [65536, 1, 4095, 300_000, 65536, 7];
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - at);
    const chunk = own(data.subarray(at, at + n));
    seen.push(chunk);
    yield chunk;
    at += n;
  }
}

describe('owned request chunks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unireg-owned-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a chunk that is a whole ArrayBuffer of its own is freed at once', () => {
    const chunk = own(randomBytes(65536));
    releaseChunk(chunk);
    assert.equal(chunk.buffer.byteLength, 0, 'the ArrayBuffer is detached');
    assert.equal(chunk.length, 0);
  });

  test('slices and pooled buffers are left alone', () => {
    const whole = own(randomBytes(8192));
    const slice = whole.subarray(0, 4096);
    const copy = Buffer.from(whole);
    releaseChunk(slice);
    assert.equal(whole.buffer.byteLength, 8192, 'a slice never detaches the buffer under it');
    assert.deepEqual(slice, copy.subarray(0, 4096));
    const pooled = Buffer.from('small, from the allocation pool');
    const pool = pooled.buffer.byteLength;
    releaseChunk(pooled);
    assert.equal(pooled.buffer.byteLength, pool);
    assert.equal(pooled.toString(), 'small, from the allocation pool');
  });

  async function spoolChunks(name: string, data: Buffer, mark: boolean) {
    const seen: Buffer[] = [];
    const source = chunksOf(data, seen);
    if (mark) ownedChunks(source);
    assert.equal(chunksOwned(source), mark);
    const path = join(dir, name);
    const fh = await open(path, 'w+');
    const hash = createHash('sha256');
    try {
      const written = await spool(source, fh, 0, hash);
      return { written, seen, digest: hash.digest('hex'), file: await readFile(path) };
    } finally {
      await fh.close();
    }
  }

  test('the spool frees each chunk of an owned body after copying it, and writes every byte', async () => {
    const data = randomBytes(3 * (1 << 20) + 12345);
    const { written, seen, digest, file } = await spoolChunks('owned', data, true);
    assert.equal(written, data.length);
    assert.ok(file.equals(data), 'the file holds the bytes sent');
    assert.equal(digest, createHash('sha256').update(data).digest('hex'));
    assert.ok(seen.length > 10);
    assert.deepEqual(
      seen.filter((c) => c.buffer.byteLength !== 0).length,
      0,
      'every chunk was detached once copied',
    );
  });

  test('chunks of a body not marked as owned are left to their owner', async () => {
    const data = randomBytes((1 << 20) + 777);
    const { written, seen, file } = await spoolChunks('not-owned', data, false);
    assert.equal(written, data.length);
    assert.ok(file.equals(data));
    assert.ok(Buffer.concat(seen).equals(data), 'the caller still has every chunk intact');
  });
});

describe('owned request chunks in the server', () => {
  test('the chunks of a monolithic and of a chunked push are freed as they are spooled', async () => {
    const srv = await startTestServer();
    try {
      const stats = (srv.registry.deps.uploadArea as FsUploadArea).spoolStats;
      const repo = 'owned/chunks';
      const before = stats.releasedBytes;
      const whole = randomBytes(4 * (1 << 20) + 5);
      const wholeDigest = await pushBlob(srv.url, repo, whole);
      const monolithic = stats.releasedBytes - before;
      // Node's parser hands each read (up to 64 KiB) over as a buffer of its own: nearly every byte is freed early.
      assert.ok(monolithic >= whole.length * 0.9, `released ${monolithic} of ${whole.length} bytes (monolithic)`);

      const parts = randomBytes(3 * (1 << 20) + 11);
      let location = abs(srv.url, await startUpload(srv.url, repo));
      for (let at = 0; at < parts.length; at += 1 << 20) {
        const part = parts.subarray(at, Math.min(parts.length, at + (1 << 20)));
        const res = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + part.length - 1}` },
          body: part,
        });
        assert.equal(res.status, 202, await res.text());
        location = abs(srv.url, res.headers.get('location'));
      }
      const partsDigest = `sha256:${createHash('sha256').update(parts).digest('hex')}`;
      const put = await fetch(withQuery(location, { digest: partsDigest }), { method: 'PUT' });
      assert.equal(put.status, 201, await put.text());
      const chunked = stats.releasedBytes - before - monolithic;
      assert.ok(chunked >= parts.length * 0.9, `released ${chunked} of ${parts.length} bytes (chunked)`);

      for (const [digest, data] of [[wholeDigest, whole], [partsDigest, parts]] as const) {
        const res = await fetch(`${srv.url}/v2/${repo}/blobs/${digest}`);
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(data), 'the stored blob is the body');
      }
    } finally {
      await srv.destroy();
    }
  });
});
