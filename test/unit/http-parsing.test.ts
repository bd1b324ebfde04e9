import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseContentRange, parseRange } from '../../src/http/range.js';
import { toOciError } from '../../src/http/oci-errors.js';
import { uploadRange } from '../../src/http/locations.js';
import { BlobUploadInvalidError, ManifestTooLargeError, UploadRangeError } from '../../src/domain/errors.js';

describe('Range for blob GETs', () => {
  test('single ranges, open ends and suffixes', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 99 });
    assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 99 });
  });
  test('unsatisfiable and ignorable ranges', () => {
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-2', 100), undefined);
    assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
    assert.equal(parseRange('items=0-1', 100), undefined);
    assert.equal(parseRange(undefined, 100), undefined);
  });
});

describe('Content-Range for upload chunks', () => {
  test('the spec form and the forms clients also send', () => {
    assert.deepEqual(parseContentRange('0-21'), { start: 0, end: 21 });
    assert.deepEqual(parseContentRange('bytes 22-41/42'), { start: 22, end: 41 });
    assert.deepEqual(parseContentRange('bytes=22-41'), { start: 22, end: 41 });
    assert.equal(parseContentRange(undefined), undefined);
  });
  test('malformed ranges are BLOB_UPLOAD_INVALID', () => {
    for (const bad of ['abc', '5-2', '-1-2', '1-', '0-99999999999999999999']) {
      assert.throws(() => parseContentRange(bad), BlobUploadInvalidError, bad);
    }
  });
});

describe('the error table', () => {
  test('an out-of-order chunk is 416 and tells where the session stands', () => {
    const e = toOciError(new UploadRangeError('a/b', 'id-1', 22, 0));
    assert.equal(e.status, 416);
    assert.equal(e.body.errors[0]?.code, 'BLOB_UPLOAD_INVALID');
    assert.deepEqual(e.headers, { Location: '/v2/a/b/blobs/uploads/id-1', Range: '0-21', 'Docker-Upload-UUID': 'id-1' });
  });
  test('an oversized manifest is 413', () => {
    assert.equal(toOciError(new ManifestTooLargeError(10)).status, 413);
  });
  test('unknown errors are 500 UNKNOWN without leaking their message', () => {
    const e = toOciError(new Error('secret path /x/y'));
    assert.equal(e.status, 500);
    assert.equal(e.internal, true);
    assert.doesNotMatch(JSON.stringify(e.body), /secret/);
  });
  test('a cut-off request body is the client\'s fault, not a 500', () => {
    const err = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    assert.equal(toOciError(err).status, 400);
  });
  test('the upload Range header is 0-<last byte>', () => {
    assert.equal(uploadRange(0), '0-0');
    assert.equal(uploadRange(1), '0-0');
    assert.equal(uploadRange(42), '0-41');
  });
});
