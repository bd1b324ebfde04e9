/** ManifestCache: invalidation by repository change (the entry point the change feed uses) and suspension while the feed is down. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import { ManifestCache } from '../../src/registry/manifest-cache.js';

const D1 = `sha256:${'1'.repeat(64)}` as Digest;
const D2 = `sha256:${'2'.repeat(64)}` as Digest;
const record = (digest: Digest) => ({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from('{}') });

test('invalidate drops exactly the changed tags and manifests of that repository', () => {
  const cache = new ManifestCache();
  cache.setTag('r', 'v1', D1);
  cache.setTag('r', 'v2', D2);
  cache.setTag('other', 'v1', D1);
  cache.setManifest('r', record(D1));
  cache.setManifest('r', record(D2));
  cache.invalidate('r', { tags: ['v1'], digests: [D2] });
  assert.equal(cache.getTag('r', 'v1'), undefined);
  assert.equal(cache.getTag('r', 'v2'), D2);
  assert.equal(cache.getTag('other', 'v1'), D1);
  assert.equal(cache.getManifest('r', D1)?.digest, D1);
  assert.equal(cache.getManifest('r', D2), undefined);
});

test('suspended: emptied, answers nothing and stores nothing (a read that began before is not cached); resumed: caches again', () => {
  const cache = new ManifestCache();
  cache.setTag('r', 'v1', D1);
  cache.setManifest('r', record(D1));
  const epoch = cache.epoch;
  cache.suspend();
  assert.equal(cache.suspended, true);
  assert.equal(cache.getTag('r', 'v1'), undefined);
  assert.equal(cache.getManifest('r', D1), undefined);
  cache.setTag('r', 'v1', D1);
  cache.setManifest('r', record(D1));
  assert.equal(cache.getTag('r', 'v1'), undefined);
  cache.resume();
  assert.equal(cache.getManifest('r', D1), undefined, 'nothing kept from before the suspension');
  cache.setTag('r', 'v1', D2, epoch);
  assert.equal(cache.getTag('r', 'v1'), undefined, 'a read begun before the suspension is not cached');
  cache.setTag('r', 'v1', D2);
  assert.equal(cache.getTag('r', 'v1'), D2);
});
