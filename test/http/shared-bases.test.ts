/**
 * Bases shared across repositories (kraftkit#2372): a manifest PUT that references
 * a blob its repository does not link, but another repository does, succeeds and
 * links the blob only when the caller may pull a repository that links it; any
 * other caller gets the spec's MANIFEST_BLOB_UNKNOWN and the blob stays unlinked.
 * With Basic auth and access rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AccessRule } from '../../src/config/auth-schema.js';
import { basic } from '../helpers/auth-http.js';
import { makeUsers, type Creds } from '../helpers/auth.js';
import { buildImage, expectError, randomBlob, sha256 } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('bases shared across repositories', () => {
  let srv: TestServer;
  const users = makeUsers();
  // alice may pull the base repository; bob may not. Both push to their applications.
  const access: AccessRule[] = [
    { repository: 'base/**', grants: { alice: ['pull', 'push'] } },
    { repository: 'apps/**', grants: { alice: ['pull', 'push'], bob: ['pull', 'push'] } },
  ];
  const as = (who: Creds) => ({ Authorization: basic(who.user, who.password) });
  const upload = async (who: Creds, repo: string, data: Buffer) => {
    const res = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      headers: { ...as(who), 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(data),
    });
    assert.equal(res.status, 201, await res.text());
  };
  const putManifest = (who: Creds, repo: string, ref: string, bytes: Buffer) =>
    fetch(`${srv.url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { ...as(who), 'Content-Type': OCI_MANIFEST }, body: new Uint8Array(bytes) });
  const base = randomBlob(4096);

  before(async () => {
    srv = await startTestServer({ auth: { mode: 'basic', users: users.hashes, access, failedLogins: { limit: 1000 } } });
    // The base image, pushed by alice.
    const config = randomBlob(50);
    await upload(users.alice, 'base/os', config);
    await upload(users.alice, 'base/os', base);
    assert.equal((await putManifest(users.alice, 'base/os', 'v1', buildImage(config, [base]).bytes)).status, 201);
  });
  after(() => srv.destroy());

  test('a caller who may pull a repository linking the blob: the manifest is stored and the blob linked', async () => {
    const config = randomBlob(60);
    const app = randomBlob(300);
    await upload(users.alice, 'apps/a', config);
    await upload(users.alice, 'apps/a', app);
    // Before: apps/a does not link the base layer.
    assert.equal((await fetch(`${srv.url}/v2/apps/a/blobs/${sha256(base)}`, { method: 'HEAD', headers: as(users.alice) })).status, 404);
    const image = buildImage(config, [base, app]);
    const res = await putManifest(users.alice, 'apps/a', 'v1', image.bytes);
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    const blob = await fetch(`${srv.url}/v2/apps/a/blobs/${sha256(base)}`, { headers: as(users.alice) });
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(base), 'the repository now serves the shared base');
    // bob, who may pull apps/a, now reads the base through apps/a (the repository's own link): no leak of base/os.
    assert.equal((await fetch(`${srv.url}/v2/apps/a/blobs/${sha256(base)}`, { method: 'HEAD', headers: as(users.bob) })).status, 200);
    assert.equal((await fetch(`${srv.url}/v2/base/os/blobs/${sha256(base)}`, { method: 'HEAD', headers: as(users.bob) })).status, 403);
  });

  test('a caller who may not pull any repository linking the blob: MANIFEST_BLOB_UNKNOWN, nothing linked', async () => {
    const config = randomBlob(70);
    await upload(users.bob, 'apps/b', config);
    const secret = randomBlob(2048);
    await upload(users.alice, 'base/os', secret); // only base/os links this one
    const image = buildImage(config, [secret]);
    const res = await putManifest(users.bob, 'apps/b', 'v1', image.bytes);
    await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await fetch(`${srv.url}/v2/apps/b/blobs/${sha256(secret)}`, { method: 'HEAD', headers: as(users.bob) })).status, 404);
    assert.equal((await fetch(`${srv.url}/v2/apps/b/manifests/v1`, { method: 'HEAD', headers: as(users.bob) })).status, 404);
    // A digest the registry does not hold at all: the same answer for anyone.
    const unknown = buildImage(config, [randomBlob(10)]);
    await expectError(await putManifest(users.alice, 'apps/a', 'v2', unknown.bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
  });
});
