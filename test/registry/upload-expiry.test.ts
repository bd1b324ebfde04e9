/** Upload sessions expire: the sweeper removes the record and the data file; an expired URL is unknown. */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectError, startUpload } from '../helpers/oci.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ uploads: { expiry: '2s' } });
});
after(() => srv.destroy());

/** A session with some bytes in its file. */
async function startWithBytes(repo: string): Promise<string> {
  const location = await startUpload(srv.url, repo);
  const patch = await fetch(`${srv.url}${location}`, { method: 'PATCH', body: 'some bytes' });
  assert.equal(patch.status, 202);
  return location;
}

test('an expired session answers 404 BLOB_UPLOAD_UNKNOWN and its file is gone', async () => {
  const location = await startWithBytes('exp/a');
  const id = location.split('/').pop()!;
  assert.deepEqual(await readdir(join(srv.root, 'uploads')), [id]);
  await new Promise((ok) => setTimeout(ok, 2100));
  await expectError(await fetch(`${srv.url}${location}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  assert.deepEqual(await readdir(join(srv.root, 'uploads')), []);
});

test('the sweeper removes expired sessions nobody touches, keeps live ones, and drops orphan files', async () => {
  const stale = await startWithBytes('exp/b');
  await new Promise((ok) => setTimeout(ok, 2100));
  const live = await startWithBytes('exp/c');
  const orphan = join(srv.root, 'uploads', '11111111-1111-4111-8111-111111111111');
  await writeFile(orphan, 'left behind by a crash');
  // The server's own sweeper runs every expiry/4 and may have got there first; either way it is gone.
  await srv.registry.uploads.sweep(Date.now() + 200);
  assert.equal(await srv.registry.deps.meta.getUpload(stale.split('/').pop()!), undefined);
  const files = (await readdir(join(srv.root, 'uploads'))).sort();
  const orphanName = '11111111-1111-4111-8111-111111111111';
  // An orphan younger than a minute is kept: a session being created writes its file just before its record.
  assert.deepEqual(files, [live.split('/').pop(), orphanName].sort());
  assert.ok(!files.includes(stale.split('/').pop()!));
  await srv.registry.uploads.sweep(Date.now() + 61_000);
  assert.ok(!(await readdir(join(srv.root, 'uploads'))).includes('11111111-1111-4111-8111-111111111111'));
});
