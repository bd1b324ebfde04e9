/**
 * decodeEntry (what `unireg verify` reads): every stored form decodes, damaged
 * records come back `unreadable` with a reason, never as an exception and never
 * misread. Tags and links are read in both their plain and their JSON forms.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { decodeEntry, decodeLinkSize } from '../../src/storage/metadata/entry-codec.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { encodeManifest } from '../../src/storage/metadata/manifest-codec.js';
import type { Digest } from '../../src/oci/digest.js';

const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;
const D = digest('x');

test('tags decode from a plain digest and from {digest, pushedAt}', () => {
  for (const value of [D, JSON.stringify({ digest: D, pushedAt: 1700000000000 })]) {
    const e = decodeEntry(keys.tag('r/a', 'v1'), Buffer.from(value));
    assert.equal(e.kind, 'tag');
    assert.equal(e.kind === 'tag' && e.digest, D);
  }
  for (const bad of ['nope', '{"digest": 5}', '{broken']) {
    const e = decodeEntry(keys.tag('r/a', 'v1'), Buffer.from(bad));
    assert.equal(e.kind, 'unreadable', bad);
    assert.equal(e.kind === 'unreadable' && e.what, 'tag');
  }
});

test('link sizes decode from a decimal and from JSON with size; anything else is unreadable', () => {
  assert.equal(decodeLinkSize(Buffer.from('42')), 42);
  assert.equal(decodeLinkSize(Buffer.from('{"size":42,"linkedAt":1}')), 42);
  for (const bad of ['', '-1', '4.5', 'abc', '{"size":"4"}', '{x']) assert.equal(decodeLinkSize(Buffer.from(bad)), undefined, bad);
  assert.equal(decodeEntry(keys.link('r/a', D), Buffer.from('abc')).kind, 'unreadable');
  assert.equal(decodeEntry(keys.link('r/a', 'sha256:short'), Buffer.from('1')).kind, 'unreadable');
});

test('manifests, sessions, referrers, repositories and unknown keys', () => {
  const m = encodeManifest({ digest: D, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from('{}') });
  const ok = decodeEntry(keys.manifest('r/a', D), m);
  assert.equal(ok.kind, 'manifest');
  const bad = decodeEntry(keys.manifest('r/a', D), Buffer.from([0, 0, 0, 9, 123]));
  assert.equal(bad.kind, 'unreadable');
  assert.match(bad.kind === 'unreadable' ? bad.reason : '', /^bad manifest header/);
  assert.equal(bad.kind === 'unreadable' && bad.record, `m r/a ${D}`);
  const id = '00000000-0000-4000-8000-000000000001';
  assert.equal(decodeEntry(keys.upload(id), Buffer.from(JSON.stringify({ id, repo: 'r', offset: 0, startedAt: 1, updatedAt: 1 }))).kind, 'upload');
  assert.equal(decodeEntry(keys.upload(id), Buffer.from(JSON.stringify({ id: 'other', repo: 'r', offset: 0, startedAt: 1, updatedAt: 1 }))).kind, 'unreadable');
  assert.equal(decodeEntry(keys.referrer('r/a', D, D), Buffer.from('{}')).kind, 'referrer');
  assert.equal(decodeEntry(keys.referrer('r/a', D, D), Buffer.from('{')).kind, 'unreadable');
  assert.equal(decodeEntry(keys.repo('r/a'), Buffer.from('{}')).kind, 'repository');
  const unknown = decodeEntry('z\u0000what', Buffer.from(''));
  assert.deepEqual(unknown, { key: 'z\u0000what', kind: 'unreadable', what: 'unknown record', reason: 'unknown key', record: 'z what' });
});
