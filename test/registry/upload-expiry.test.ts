/** Upload sessions expire: the sweeper removes the record and the data file; an expired URL is unknown. */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ uploads: { expiry: '2s' } });
});
after(() => srv.destroy());

async function startUpload(repo: string): Promise<string> {
  const res = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202);
  const location = res.headers.get('location')!;
  const patch = await fetch(`${srv.url}${location}`, { method: 'PATCH', body: 'some bytes' });
  assert.equal(patch.status, 202);
  return location;
}

test('an expired session answers 404 BLOB_UPLOAD_UNKNOWN and its file is gone', async () => {
  const location = await startUpload('exp/a');
  const id = location.split('/').pop()!;
  assert.deepEqual(await readdir(join(srv.root, 'uploads')), [id]);
  await new Promise((ok) => setTimeout(ok, 2100));
  const res = await fetch(`${srv.url}${location}`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'BLOB_UPLOAD_UNKNOWN');
  assert.deepEqual(await readdir(join(srv.root, 'uploads')), []);
});

test('the sweeper removes expired sessions nobody touches, keeps live ones, and drops orphan files', async () => {
  const stale = await startUpload('exp/b');
  await new Promise((ok) => setTimeout(ok, 2100));
  const live = await startUpload('exp/c');
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
