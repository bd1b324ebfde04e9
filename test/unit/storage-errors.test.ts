/**
 * Storage failures as clients see them: the translation of errno and LevelDB
 * errors into StorageFullError / StorageUnavailableError, and their rows in the
 * one error table. Real failures where the machine can make them without root
 * (/dev/full answers every write with ENOSPC; a closed LevelDB), errno-shaped
 * errors for the codes only a broken disk or a busy system produces.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toOciError } from '../../src/http/oci-errors.js';
import { BlobUnknownError, StorageFullError, StorageUnavailableError } from '../../src/domain/errors.js';
import { spool } from '../../src/storage/fs/spool.js';
import { asStorageError, storageFailure } from '../../src/storage/io-errors.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';

function errno(code: string, message = `${code}: simulated`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('storage failures become domain errors', () => {
  test('a full volume (ENOSPC, EDQUOT) is StorageFullError', async () => {
    const real = await writeFile('/dev/full', 'x').then(
      () => assert.fail('/dev/full took a write'),
      (err: unknown) => err,
    );
    for (const err of [real, errno('EDQUOT')]) {
      const mapped = storageFailure(err);
      assert.ok(mapped instanceof StorageFullError, String(err));
      assert.equal(mapped.cause, err, 'the original error stays attached for the log');
    }
    assert.equal((storageFailure(real) as StorageFullError).reason, 'ENOSPC');
  });

  test('LevelDB reports a full disk only in its message: still StorageFullError', () => {
    const level = Object.assign(new Error('IO error: /data/meta/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });
    const mapped = storageFailure(level);
    assert.ok(mapped instanceof StorageFullError);
    assert.equal(mapped.reason, 'ENOSPC');
    const wrapped = Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: level });
    assert.ok(storageFailure(wrapped) instanceof StorageFullError, 'found in the cause chain');
  });

  test('I/O, permission, read-only and descriptor exhaustion are StorageUnavailableError', () => {
    for (const code of ['EIO', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EROFS', 'LEVEL_IO_ERROR', 'LEVEL_CORRUPTION', 'LEVEL_DATABASE_NOT_OPEN']) {
      const mapped = storageFailure(errno(code));
      assert.ok(mapped instanceof StorageUnavailableError, code);
      assert.equal(mapped.reason, code);
    }
  });

  test('bugs and client aborts pass through unchanged', () => {
    for (const err of [errno('ENOENT'), errno('EINVAL'), errno('ECONNRESET'), new TypeError('x is undefined'), new BlobUnknownError('sha256:00')]) {
      assert.equal(storageFailure(err), undefined, String(err));
      assert.equal(asStorageError(err), err);
    }
    assert.equal(asStorageError('a string'), 'a string');
  });

  test('spool: a write that hits ENOSPC is StorageFullError; a failing source is not translated', async () => {
    const fh = await open('/dev/full', 'w');
    try {
      await assert.rejects(spool([Buffer.alloc(3 << 20, 1)], fh, 0, createHash('sha256')), StorageFullError);
      async function* cutOff(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(10);
        throw errno('ECONNRESET', 'aborted');
      }
      await assert.rejects(spool(cutOff(), fh, 0, createHash('sha256')), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    } finally {
      await fh.close();
    }
  });

  test('a closed LevelDB is StorageUnavailableError, for reads and writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'unireg-level-closed-'));
    const kv = new LevelKv(join(dir, 'meta'));
    try {
      await kv.open();
      await kv.batch([{ type: 'put', key: 'a', value: Buffer.from('1') }]);
      await kv.close();
      await assert.rejects(kv.get('a'), StorageUnavailableError);
      await assert.rejects(kv.batch([{ type: 'put', key: 'b', value: Buffer.from('2') }]), StorageUnavailableError);
      await assert.rejects(kv.entries({ gt: '', lt: '~' }), StorageUnavailableError);
    } finally {
      await kv.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the error table rows for storage failures', () => {
  test('full: 507 UNAVAILABLE naming the cause, Retry-After, logged as the server\'s problem', () => {
    const e = toOciError(asStorageError(errno('ENOSPC')));
    assert.equal(e.status, 507);
    assert.equal(e.body.errors[0]?.code, 'UNAVAILABLE');
    assert.equal(e.body.errors[0]?.message, 'no space left on the storage volume');
    assert.deepEqual(e.body.errors[0]?.detail, { reason: 'ENOSPC' });
    assert.equal(e.headers['Retry-After'], String(StorageFullError.RETRY_AFTER_S));
    assert.equal(e.internal, true);
  });

  test('unavailable: 503 UNAVAILABLE with Retry-After; no path from the cause leaks', () => {
    const e = toOciError(asStorageError(errno('EIO', 'EIO: i/o error, open \'/secret/blobs/x\'')));
    assert.equal(e.status, 503);
    assert.equal(e.body.errors[0]?.code, 'UNAVAILABLE');
    assert.equal(e.headers['Retry-After'], String(StorageUnavailableError.RETRY_AFTER_S));
    assert.doesNotMatch(JSON.stringify(e.body), /secret/);
  });

  test('an untranslated errno error is still a 500 (a bug to fix, not a storage state)', () => {
    const e = toOciError(errno('ENOENT'));
    assert.equal(e.status, 500);
    assert.equal(e.body.errors[0]?.code, 'UNKNOWN');
  });
});
