/**
 * `unireg verify` on a real data root: images pushed over HTTP, the server
 * stopped, then damage done by hand (a corrupt blob, a deleted blob file, an
 * orphan file, a dangling link, unreadable records, a session without its file).
 * verify finds each (exit 1, exact findings), --repair fixes them (corrupt
 * content quarantined, never silently deleted), a second verify is clean, and
 * the server then serves everything the repair did not take away.
 */
import assert from 'node:assert/strict';
import { access, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { LevelKv } from '../../src/storage/level/level-kv.js';
import { keys } from '../../src/storage/metadata/keys.js';
import { KvMetadataStore } from '../../src/storage/metadata/kv-metadata-store.js';
import { CLI, runCli } from '../helpers/cli.js';
import { abs, pushImage, randomBlob, sha256, startUpload, type Image } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { requireTool, run } from '../helpers/tools.js';

interface Json {
  clean: boolean;
  counts: Record<string, number>;
  findings: Record<string, unknown>[];
  repair?: { actions: { action: string; finding: Record<string, unknown>; quarantine?: string }[]; remaining: unknown[] };
}

const d = (s: string) => parseDigest(s);

describe('unireg verify', () => {
  let srv: TestServer;
  let root: string;
  let layout: Layout;
  let a: Image;
  let b: Image;
  let c: Image;
  let sessionId: string;
  const orphan = randomBlob(321);
  const nothing = sha256('no such blob');
  const badManifest = sha256('bad manifest record');
  const badUpload = '00000000-0000-4000-8000-00000000bad0';
  let garbage: Buffer;

  before(async () => {
    srv = await startTestServer();
    root = srv.root;
    layout = new Layout(root);
    a = await pushImage(srv.url, 'v/a', 'a', { layers: 2 });
    b = await pushImage(srv.url, 'v/b', 'b');
    c = await pushImage(srv.url, 'v/c', 'c', { layers: 2 });
    const location = await startUpload(srv.url, 'v/a');
    sessionId = (await fetch(abs(srv.url, location))).headers.get('docker-upload-uuid')!;
  });
  after(async () => {
    await srv.destroy();
  });

  const verify = (...args: string[]) => runCli(['verify', '--root', root, ...args]);

  test('refuses while the server holds the data root', async () => {
    const res = await verify();
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /is running \(its LevelDB is locked\): stop it/);
  });

  test('finds each kind of damage, exactly (exit 1)', async () => {
    await srv.stop();
    // A corrupt blob (same length, other bytes), a deleted blob file, an orphan file.
    garbage = randomBlob(a.layers[0]!.length);
    await writeFile(layout.blobPath(d(sha256(a.layers[0]!))), garbage);
    await rm(layout.blobPath(d(sha256(b.layers[0]!))));
    await mkdir(dirname(layout.blobPath(d(sha256(orphan)))), { recursive: true });
    await writeFile(layout.blobPath(d(sha256(orphan))), orphan);
    await rm(layout.uploadPath(sessionId));
    // A dangling link, a manifest record with a bad header, an upload record that is not JSON.
    const kv = new LevelKv(layout.metaDir);
    const meta = new KvMetadataStore(kv);
    await meta.open();
    await meta.linkBlob('v/c', d(nothing), 5);
    await meta.linkBlob('v/c', d(sha256(c.config)), c.config.length + 7);
    const header = Buffer.from('{"mediaType": oops');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    await kv.batch([
      { type: 'put', key: keys.manifest('v/c', badManifest), value: Buffer.concat([len, header, Buffer.from('{}')]) },
      { type: 'put', key: keys.upload(badUpload), value: Buffer.from('{not json') },
    ]);
    await meta.close();

    const res = await verify('--json');
    assert.equal(res.code, 1, res.stderr);
    const report = JSON.parse(res.stdout) as Json;
    assert.equal(report.clean, false);
    const unreadable = report.findings.filter((f) => f.kind === 'unreadableRecord');
    assert.match(String(unreadable.find((f) => f.what === 'manifest')?.reason), /^bad manifest header/);
    const expected = [
      { kind: 'corruptBlob', digest: sha256(a.layers[0]!), actual: sha256(garbage), size: garbage.length },
      { kind: 'danglingLink', repo: 'v/b', digest: sha256(b.layers[0]!) },
      { kind: 'danglingLink', repo: 'v/c', digest: nothing },
      { kind: 'missingReference', repo: 'v/b', manifest: b.digest, digest: sha256(b.layers[0]!) },
      { kind: 'orphanBlob', digest: sha256(orphan), size: orphan.length },
      { kind: 'sizeMismatch', repo: 'v/c', digest: sha256(c.config), linkSize: c.config.length + 7, fileSize: c.config.length },
      { kind: 'staleUpload', id: sessionId, repo: 'v/a', reason: 'file missing' },
      { kind: 'unreadableRecord', record: `m v/c ${badManifest}`, what: 'manifest', reason: unreadable.find((f) => f.what === 'manifest')?.reason },
      { kind: 'unreadableRecord', record: `u ${badUpload}`, what: 'upload session', reason: 'value is not JSON' },
    ];
    const byJson = (x: unknown, y: unknown) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1);
    assert.deepEqual([...report.findings].sort(byJson), [...expected].sort(byJson));
    assert.equal(report.counts.blobs, 3 + 2 + 3 - 1 + 1, 'every blob file rehashed (one deleted, one orphan)');

    const text = await verify();
    assert.equal(text.code, 1);
    assert.match(text.stdout, /problems \(8\):/);
    assert.match(text.stdout, new RegExp(`corrupt blob ${sha256(a.layers[0]!)} .*hashes to ${sha256(garbage)}`));
    assert.match(text.stdout, /notices \(1\):\n {2}orphan blob/);
  });

  test('--repair fixes them, quarantining what it takes away; a second verify is clean', async () => {
    const res = await verify('--repair', '--json');
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const { repair } = JSON.parse(res.stdout) as Json;
    assert.ok(repair);
    assert.deepEqual(repair.remaining, []);
    const did = (action: string) => repair.actions.filter((x) => x.action === action);
    // The corrupt blob is moved aside with a note, never deleted.
    const moved = did('quarantined blob');
    assert.equal(moved.length, 1);
    assert.equal(moved[0]!.quarantine, layout.quarantineBlobPath(d(sha256(a.layers[0]!))));
    assert.ok((await readFile(moved[0]!.quarantine!)).equals(garbage));
    const note = JSON.parse(await readFile(`${moved[0]!.quarantine!}.note.json`, 'utf8')) as { actual: string };
    assert.equal(note.actual, sha256(garbage));
    // Images that lost a blob are removed, their exact bytes kept in quarantine.
    const manifests = did('removed manifest').map((x) => x.quarantine).sort();
    assert.deepEqual(manifests, [layout.quarantineManifestPath('v/a', d(a.digest)), layout.quarantineManifestPath('v/b', d(b.digest))].sort());
    assert.ok((await readFile(layout.quarantineManifestPath('v/a', d(a.digest)))).equals(a.bytes));
    assert.deepEqual(
      did('removed link').map((x) => x.finding.digest).sort(),
      [sha256(a.layers[0]!), sha256(b.layers[0]!), nothing].sort(),
    );
    assert.equal(did('removed record').length, 2);
    assert.deepEqual(did('fixed link size').map((x) => x.finding.digest), [sha256(c.config)]);
    assert.equal(did('removed upload').length, 1);
    assert.deepEqual(did('left for GC').map((x) => x.finding.digest), [sha256(orphan)]);

    const again = await verify();
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /\nclean\n$/);
    assert.match(again.stdout, /orphan blob/);
    // With a grace, old orphans go too; then nothing at all is found.
    assert.equal((await verify('--repair', '--orphan-grace', '0s')).code, 0);
    await assert.rejects(access(layout.blobPath(d(sha256(orphan)))));
    const last = JSON.parse((await verify('--json')).stdout) as Json;
    assert.deepEqual(last.findings, []);
  });

  test('the server then serves everything the repair did not take away', async () => {
    srv = await startTestServer({}, root);
    const get = (path: string) => fetch(`${srv.url}/v2/${path}`);
    const manifest = await get(`v/c/manifests/c`);
    assert.equal(manifest.status, 200);
    assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(c.bytes));
    for (const blob of [c.config, ...c.layers]) {
      const res = await get(`v/c/blobs/${sha256(blob)}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), String(blob.length));
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(blob));
    }
    // Sound blobs of repaired repositories stay; what went is unknown, not an error.
    const config = await get(`v/a/blobs/${sha256(a.config)}`);
    assert.equal(config.status, 200);
    assert.ok(Buffer.from(await config.arrayBuffer()).equals(a.config));
    assert.equal((await get(`v/a/blobs/${sha256(a.layers[1]!)}`)).status, 200);
    assert.equal((await get(`v/a/blobs/${sha256(a.layers[0]!)}`)).status, 404);
    assert.equal((await get(`v/a/manifests/a`)).status, 404);
    assert.equal((await get(`v/b/manifests/b`)).status, 404);
    assert.equal((await get(`v/c/blobs/${nothing}`)).status, 404);
  });

  test('shows a progress bar on a terminal', async (t) => {
    await srv.stop();
    // `script` (util-linux) gives the command a pseudo-terminal for stderr.
    if (!(await requireTool(t, 'script'))) return;
    const res = await run('script', ['-qec', `${process.execPath} ${CLI} verify --root ${root}`, '/dev/null'], { allowFailure: true, timeout: 60_000 });
    assert.equal(res.code, 0, res.stdout);
    assert.match(res.stdout, /rehashing .*%/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runCli(['verify', '--root', root, '--config', 'x.yaml'])).code, 2);
    assert.equal((await runCli(['verify', '--bogus'])).code, 2);
    assert.equal((await runCli(['verify', '--root', `${root}/nowhere`])).code, 2);
    assert.equal((await runCli(['verify', '--root', root, '--orphan-grace', '1h'])).code, 2);
    // A PostgreSQL metadata store is not what verify checks: it says so rather than check an unrelated LevelDB.
    const env = { UNIREG_STORAGE_ROOT: root, UNIREG_STORAGE_METADATA_DRIVER: 'postgres', UNIREG_STORAGE_METADATA_POSTGRES_URL: 'postgresql://u:p@127.0.0.1:1/db' };
    const pgRes = await runCli(['verify'], env);
    assert.equal(pgRes.code, 2, pgRes.stderr);
    assert.match(pgRes.stderr, /does not check a PostgreSQL metadata store/);
  });
});


