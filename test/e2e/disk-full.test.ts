/**
 * A full disk, for real: the storage root on a 64 MiB tmpfs, filled with a
 * filler file until the kernel says ENOSPC, then pushes over HTTP (blobs into
 * the spool, chunks into a session, manifests into LevelDB). While full: 507
 * with the OCI JSON envelope and Retry-After, never a 500; reads still work and
 * nothing half-written shows. After the filler is deleted: pushes work again in
 * the same process, and after a restart everything acknowledged is still there.
 *
 * Also: upload directories made read-only (a read-only bind mount) answer 503
 * UNAVAILABLE (EROFS) with Retry-After, and work again once writable.
 *
 * Needs root (mount); skipped with a printed reason otherwise (fails under CI).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  abs,
  bin,
  buildImage,
  MT,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  startUpload,
  withQuery,
  type Image,
} from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor, run, type Gate } from '../helpers/tools.js';

const VOLUME = '64m';
const REPO = 'full/app';

interface OciError {
  code: string;
  message: string;
  detail?: { reason?: string };
}

/** Asserts a 507 with the OCI envelope naming the full volume, and Retry-After. */
async function expectFull(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 507, `${what}: expected 507, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what);
  const body = JSON.parse(text) as { errors: OciError[] };
  assert.equal(body.errors[0]?.code, 'UNAVAILABLE', `${what}: ${text}`);
  assert.match(body.errors[0]?.message ?? '', /no space left on the storage volume/, what);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
}

/** Mounts a tmpfs of `size` on a fresh directory; its path, or the reason it could not (recorded in `gate`). */
async function mountTmpfs(gate: Gate, prefix: string, size: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { timeout: 15_000 });
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    gate.block(`cannot mount a tmpfs (needs CAP_SYS_ADMIN): ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/** Writes `path` until the volume refuses another byte. */
async function fill(path: string): Promise<void> {
  const fh = await open(path, 'w');
  const data = Buffer.alloc(1 << 20, 0x5a);
  try {
    for (const size of [1 << 20, 4096, 1]) {
      for (let i = 0; i < 100_000; i++) {
        try {
          await fh.write(data, 0, size);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await fh.close();
  }
}

/** A manifest of new bytes over `base`'s blobs (so only LevelDB is written when it is pushed). */
function variant(base: Image, n: number): Image {
  return buildImage(base.config, base.layers, { annotations: { 'test.variant': String(n) } });
}

describe('a full storage volume', { concurrency: false }, () => {
  let gate: Gate;
  let mnt: string | undefined;
  let mounted = false;
  let root: string;
  let srv: TestServer | undefined;
  let url: string;
  let before1: Image;
  const acknowledged: Image[] = [];
  /** A chunked upload started before the disk filled. */
  let session: string;
  const sessionData = randomBlob(3 << 20);
  const firstChunk = 100_000;
  const refused = randomBlob(2 << 20);

  before(async () => {
    gate = await gateFor({ root: true });
    if (gate.blocked) return;
    mnt = await mountTmpfs(gate, 'unireg-full-', VOLUME);
    if (mnt === undefined) return;
    mounted = true;
    root = join(mnt, 'root');
    await mkdir(root);
    srv = await startTestServer({}, root);
    url = srv.url;
  });

  after(async () => {
    await srv?.stop().catch(() => undefined);
    if (mounted && mnt) await run('umount', [mnt], { timeout: 15_000, allowFailure: true });
    if (mnt) await rm(mnt, { recursive: true, force: true });
  });

  const blobOk = async (digest: string, bytes: Buffer) => {
    const res = await fetch(`${url}/v2/${REPO}/blobs/${digest}`);
    assert.equal(res.status, 200, `GET blob ${digest}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), `blob ${digest} byte-identical`);
  };
  const manifestOk = async (ref: string, image: Image) => {
    const res = await fetch(`${url}/v2/${REPO}/manifests/${ref}`, { headers: { Accept: MT.ociManifest } });
    assert.equal(res.status, 200, `GET manifest ${ref}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(image.bytes), `manifest ${ref} byte-identical`);
  };
  const imageOk = async (ref: string, image: Image) => {
    await manifestOk(ref, image);
    for (const blob of [image.config, ...image.layers]) await blobOk(sha256(blob), blob);
  };
  const sessionRange = async () => {
    const res = await fetch(abs(url, session));
    assert.equal(res.status, 204, 'upload session status');
    return res.headers.get('range');
  };

  test('before: an image and the first chunk of an upload', async (t) => {
    if (!gate.check(t)) return;
    before1 = await pushImage(url, REPO, 'v1', { layers: 2 });
    session = await startUpload(url, REPO);
    const res = await fetch(abs(url, session), { method: 'PATCH', body: bin(sessionData.subarray(0, firstChunk)) });
    assert.equal(res.status, 202);
  });

  test('full: blob, chunk and manifest pushes are 507 with an OCI error, never 500', async (t) => {
    if (!gate.check(t)) return;
    await fill(join(mnt!, 'filler'));

    // A monolithic blob: refused, nothing visible, its temp file gone.
    const digest = sha256(refused);
    await expectFull(
      await fetch(`${url}/v2/${REPO}/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: bin(refused),
      }),
      'monolithic blob',
    );
    assert.equal((await fetch(`${url}/v2/${REPO}/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'no partial blob');
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'the spooled temp file is removed');

    // A server-side pack: the kernel part spools to tmp/ and is refused the same way.
    const form = new FormData();
    form.set('arch', 'x86_64');
    form.set('plat', 'qemu');
    form.set('tag', 'packed');
    form.set('kernel', new Blob([bin(refused)]), 'kernel');
    await expectFull(
      await fetch(`${url}/v2/${REPO}/_unikraft/pack`, { method: 'POST', body: form, signal: AbortSignal.timeout(30_000) }),
      'pack',
    );
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'the kernel part is removed');

    // A chunk into the session: refused, and the session stands where it stood.
    await expectFull(
      await fetch(abs(url, session), { method: 'PATCH', body: bin(sessionData.subarray(firstChunk)) }),
      'chunk',
    );
    assert.equal(await sessionRange(), `0-${firstChunk - 1}`, 'the session offset did not move');

    // Manifests only write LevelDB: push new ones until it runs out of room too.
    let full = 0;
    for (let n = 0; n < 400 && full < 5; n++) {
      const image = variant(before1, n);
      const res = await putManifest(url, REPO, `m${n}`, image.bytes);
      if (res.status === 201) {
        acknowledged.push(image);
        await res.arrayBuffer();
        continue;
      }
      await expectFull(res, `manifest m${n}`);
      full++;
    }
    assert.equal(full, 5, 'LevelDB writes fail once the volume is full');

    // Starting a session needs a LevelDB write as well.
    const post = await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    await expectFull(post, 'new upload session');

    assert.equal((await fetch(`${url}/v2/`)).status, 200);
  });

  test('full: reads still work, byte-identical', async (t) => {
    if (!gate.check(t)) return;
    await imageOk('v1', before1);
    for (const [i, image] of acknowledged.entries()) await manifestOk(image.digest, image);
    const tags = (await (await fetch(`${url}/v2/${REPO}/tags/list`)).json()) as { tags: string[] };
    assert.ok(tags.tags.includes('v1'));
    assert.equal(await sessionRange(), `0-${firstChunk - 1}`);
  });

  test('space freed: pushes work again without a restart', async (t) => {
    if (!gate.check(t)) return;
    await rm(join(mnt!, 'filler'));
    const after1 = await pushImage(url, REPO, 'v2', { layers: 2 });
    await imageOk('v2', after1);
    acknowledged.push(after1);

    const manifest = variant(before1, 10_000);
    const res = await putManifest(url, REPO, 'after', manifest.bytes);
    assert.equal(res.status, 201, await res.text());
    acknowledged.push(manifest);

    // The session takes the rest and commits.
    const rest = await fetch(abs(url, session), { method: 'PATCH', body: bin(sessionData.subarray(firstChunk)) });
    assert.equal(rest.status, 202, await rest.text());
    const done = await fetch(abs(url, withQuery(abs(url, session), { digest: sha256(sessionData) })), { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    await blobOk(sha256(sessionData), sessionData);

    // The blob refused while full goes in now.
    const again = await fetch(`${url}/v2/${REPO}/blobs/uploads/?digest=${sha256(refused)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bin(refused),
    });
    assert.equal(again.status, 201, await again.text());
    await imageOk('v1', before1);
  });

  test('after a restart, everything acknowledged is still there', async (t) => {
    if (!gate.check(t)) return;
    await srv!.stop();
    srv = await startTestServer({}, root);
    url = srv.url;
    await imageOk('v1', before1);
    for (const image of acknowledged) await manifestOk(image.digest, image);
    await blobOk(sha256(sessionData), sessionData);
    await blobOk(sha256(refused), refused);
  });
});

/** Asserts a 503 with the OCI envelope and Retry-After. */
async function expectUnavailable(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, `${what}: expected 503, got ${res.status}: ${text}`);
  const body = JSON.parse(text) as { errors: OciError[] };
  assert.equal(body.errors[0]?.code, 'UNAVAILABLE', `${what}: ${text}`);
  assert.equal(body.errors[0]?.detail?.reason, 'EROFS', what);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
}

describe('read-only upload directories (EROFS)', { concurrency: false }, () => {
  let gate: Gate;
  let mnt: string | undefined;
  const mounts: string[] = [];
  let srv: TestServer | undefined;

  before(async () => {
    gate = await gateFor({ root: true });
    if (gate.blocked) return;
    mnt = await mountTmpfs(gate, 'unireg-ro-', '16m');
    if (mnt === undefined) return;
    mounts.push(mnt);
    await mkdir(join(mnt, 'root'));
    srv = await startTestServer({}, join(mnt, 'root'));
  });

  after(async () => {
    await srv?.stop().catch(() => undefined);
    for (const point of mounts.reverse()) await run('umount', [point], { timeout: 15_000, allowFailure: true });
    if (mnt) await rm(mnt, { recursive: true, force: true });
  });

  /** Makes `dir` read-only by bind-mounting it read-only onto itself. */
  const readOnly = async (dir: string) => {
    await run('mount', ['--bind', dir, dir], { timeout: 15_000 });
    mounts.push(dir);
    await run('mount', ['-o', 'remount,bind,ro', dir], { timeout: 15_000 });
  };

  test('uploads are 503 UNAVAILABLE with Retry-After; reads work; writable again: pushes work', async (t) => {
    if (!gate.check(t)) return;
    const url = srv!.url;
    const root = join(mnt!, 'root');
    const image = await pushImage(url, REPO, 'v1');
    const session = await startUpload(url, REPO);
    for (const dir of ['tmp', 'uploads']) await readOnly(join(root, dir));

    const blob = randomBlob(100_000);
    const post = (data: Buffer) =>
      fetch(`${url}/v2/${REPO}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: bin(data) });
    await expectUnavailable(await post(blob), 'monolithic blob');
    await expectUnavailable(await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: 'POST' }), 'new session');
    await expectUnavailable(await fetch(abs(url, session), { method: 'PATCH', body: bin(blob) }), 'chunk');
    const res = await fetch(`${url}/v2/${REPO}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(image.bytes), 'reads work');

    for (const dir of mounts.splice(1).reverse()) await run('umount', [dir], { timeout: 15_000 });
    assert.equal((await post(blob)).status, 201);
    assert.equal((await fetch(abs(url, session), { method: 'PATCH', body: bin(blob) })).status, 202);
  });
});
