import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { parseManifest, referrerDescriptor } from '../../src/oci/manifest.js';
import { parseRepoName, parseTag } from '../../src/oci/names.js';
import { DigestInvalidError, ManifestInvalidError, NameInvalidError, TagInvalidError } from '../../src/domain/errors.js';

const hex64 = 'a'.repeat(64);

describe('digests', () => {
  test('accepts sha256 and sha512 with lowercase hex', () => {
    assert.equal(parseDigest(`sha256:${hex64}`), `sha256:${hex64}`);
    assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`), `sha512:${'b'.repeat(128)}`);
  });
  for (const bad of [
    'sha256:abc',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    `sha512:${hex64}`,
    'sha256',
    '',
    `sha256:${hex64}/../x`,
  ]) {
    test(`rejects ${JSON.stringify(bad.slice(0, 30))}`, () => assert.throws(() => parseDigest(bad), DigestInvalidError));
  }
  test('digestOf hashes the bytes given', () => {
    assert.equal(digestOf(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('names and tags', () => {
  for (const good of ['a', 'library/ubuntu', 'a.b_c__d--e/f-1', 'x/'.repeat(10) + 'y']) {
    test(`accepts name ${good}`, () => assert.equal(parseRepoName(good), good));
  }
  for (const bad of ['A', 'a//b', '../etc', 'a/../b', 'a_', '-a', 'a___b', 'a/', '', 'a'.repeat(256)]) {
    test(`rejects name ${JSON.stringify(bad.slice(0, 20))}`, () => assert.throws(() => parseRepoName(bad), NameInvalidError));
  }
  test('tags follow the spec grammar', () => {
    assert.equal(parseTag('v1.0_rc-1'), 'v1.0_rc-1');
    assert.equal(parseTag('_x'), '_x');
    assert.equal(parseTag('a'.repeat(128)), 'a'.repeat(128));
    for (const bad of ['.hidden', '-x', 'a'.repeat(129), 'a:b', 'a/b', '']) assert.throws(() => parseTag(bad), TagInvalidError);
  });
});

const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex64}`, size: 2 };
const ociManifest = (extra: object = {}) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [], ...extra }));

describe('manifest parsing', () => {
  test('an OCI image manifest lists its config and layers as blobs', () => {
    const layer = { ...config, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
    const parsed = parseManifest(ociManifest({ layers: [layer] }), 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(parsed.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(parsed.blobs.map((b) => b.mediaType), [config.mediaType, layer.mediaType]);
    assert.equal(parsed.artifactType, config.mediaType, 'artifactType falls back to the config media type');
  });

  test('the media type comes from Content-Type when the field is absent, and from the field when the header is generic', () => {
    const noField = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [] }));
    assert.equal(parseManifest(noField, 'application/vnd.docker.distribution.manifest.v2+json').mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(parseManifest(ociManifest(), 'application/json').mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(parseManifest(noField, undefined).mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  test('an index lists its children as manifests and keeps artifactType and subject', () => {
    const child = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hex64}`, size: 10 };
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: 'x/y',
      manifests: [child], subject: child, annotations: { a: 'b' },
    }));
    const parsed = parseManifest(body, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(parsed.manifests.map((m) => m.digest), [child.digest]);
    assert.equal(parsed.subject?.digest, child.digest);
    const d = referrerDescriptor(parsed, digestOf(body), body.length);
    assert.deepEqual(d, { mediaType: parsed.mediaType, digest: digestOf(body), size: body.length, artifactType: 'x/y', annotations: { a: 'b' } });
  });

  const invalid: [string, Buffer, string | undefined][] = [
    ['not JSON', Buffer.from('{nope'), undefined],
    ['an array', Buffer.from('[]'), undefined],
    ['schemaVersion 1', ociManifest({ schemaVersion: 1 }), undefined],
    ['mediaType differing from Content-Type', ociManifest(), 'application/vnd.oci.image.index.v1+json'],
    ['an unsupported media type', ociManifest(), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['a config with a bad digest', ociManifest({ config: { ...config, digest: 'sha256:xyz' } }), undefined],
    ['a negative size', ociManifest({ config: { ...config, size: -1 } }), undefined],
    ['layers that are not an array', ociManifest({ layers: {} }), undefined],
    ['data that does not match the digest', ociManifest({ config: { ...config, data: 'e30=' } }), undefined],
    ['a non-string annotation', ociManifest({ annotations: { a: 1 } }), undefined],
  ];
  for (const [what, body, type] of invalid) {
    test(`rejects ${what}`, () => assert.throws(() => parseManifest(body, type), ManifestInvalidError));
  }

  test('accepts embedded data that matches its descriptor', () => {
    const data = Buffer.from('{}');
    const embedded = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(data), size: 2, data: data.toString('base64') };
    assert.equal(parseManifest(ociManifest({ config: embedded }), undefined).blobs[0]?.data, embedded.data);
  });
});
