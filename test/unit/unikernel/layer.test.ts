import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import tar from 'tar-stream';
import { requireTool, skipOrFail } from '../../helpers/tools.js';
import { UnikernelInputError } from '../../../src/unikernel/errors.js';
import { BLOCK_SIZE, layerBytes, layerSize, tarHeader, tarPadding } from '../../../src/unikernel/layer.js';
import { INITRD_MODE, INITRD_PATH, KERNEL_MODE, KERNEL_PATH } from '../../../src/unikernel/names.js';

const KERNEL = Buffer.from('hello unikernel\n');
const VECTOR = 'sha256:4064d9f61d3a33c84a862fdda874fb0968c2965e4b4b5010fb93e4ccd95515e8';
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Extracted {
  header: tar.Header;
  data: Buffer;
}

async function extract(bytes: Buffer): Promise<Extracted[]> {
  const out: Extracted[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      out.push({ header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  ex.end(bytes);
  await done;
  return out;
}

async function tarStreamPack(name: string, data: Buffer, mode: number): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, mode, size: data.length, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** GNU tar is required (skipped with a reason on a developer machine without it, failed under CI). */
async function requireGnuTar(t: TestContext): Promise<boolean> {
  if (!(await requireTool(t, 'tar', 'sh'))) return false;
  const version = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  if (version.stdout?.includes('GNU tar') === true) return true;
  skipOrFail(t, `tar is not GNU tar (tar --version: ${JSON.stringify((version.stdout || version.stderr || '').split('\n')[0])}); Debian: apt-get install tar`);
  return false;
}

describe('layer tar bytes', () => {
  test('the format test vector: 2048 bytes with the documented digest', () => {
    const layer = layerBytes(KERNEL_PATH, KERNEL, KERNEL_MODE);
    assert.equal(layer.length, 2048);
    assert.equal(layerSize(KERNEL.length), 2048);
    assert.equal(sha256(layer), VECTOR);
  });

  test('streaming the pieces gives the same bytes', () => {
    const pieces = Buffer.concat([tarHeader(KERNEL_PATH, KERNEL.length, 0o755), KERNEL, tarPadding(KERNEL.length)]);
    assert.equal(sha256(pieces), VECTOR);
  });

  test('header fields: name without the leading /, octal fields, ustar magic, empty owner names', () => {
    const h = tarHeader(KERNEL_PATH, 16, 0o755);
    assert.equal(h.length, BLOCK_SIZE);
    const field = (start: number, end: number) => h.subarray(start, end).toString('latin1');
    assert.equal(field(0, 100).replace(/\0+$/, ''), 'unikraft/bin/kernel');
    assert.equal(field(100, 108), '0000755\0');
    assert.equal(field(108, 116), '0000000\0');
    assert.equal(field(116, 124), '0000000\0');
    assert.equal(field(124, 136), '00000000020\0');
    assert.equal(field(136, 148), '00000000000\0');
    assert.equal(field(156, 157), '0');
    assert.equal(field(257, 265), 'ustar\u000000');
    assert.equal(field(265, 329), '\0'.repeat(64), 'uname and gname are empty');
    assert.equal(field(329, 345), '0000000\u00000000000\0', 'devmajor and devminor are octal zero, as Go writes them');
    let sum = 0;
    for (let i = 0; i < BLOCK_SIZE; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    assert.equal(field(148, 156), `${sum.toString(8).padStart(6, '0')}\0 `);
  });

  test('padding: data to 512 bytes plus two zero blocks, no 10 KiB record', () => {
    assert.equal(tarPadding(0).length, 1024);
    assert.equal(tarPadding(1).length, 511 + 1024);
    assert.equal(tarPadding(512).length, 1024);
    assert.equal(tarPadding(513).length, 511 + 1024);
    assert.ok(tarPadding(100).every((b) => b === 0));
    assert.equal(layerSize(0), 1536);
    assert.equal(layerSize(512), 2048);
    assert.equal(layerSize(513), 2560);
    assert.equal(layerSize(10 * 1024 * 1024), 512 + 10 * 1024 * 1024 + 1024);
  });

  test('tar-stream reads back the entry: name, size, mode, mtime, owner, type', async () => {
    const initrd = Buffer.alloc(1000, 7);
    for (const [path, data, mode] of [
      [KERNEL_PATH, KERNEL, KERNEL_MODE],
      [INITRD_PATH, initrd, INITRD_MODE],
    ] as const) {
      const entries = await extract(layerBytes(path, data, mode));
      assert.equal(entries.length, 1);
      const [{ header, data: got }] = entries as [Extracted];
      assert.equal(header.name, path.slice(1));
      assert.equal(header.type, 'file');
      assert.equal(header.size, data.length);
      assert.equal(header.mode, mode);
      assert.equal(header.mtime.getTime(), 0);
      assert.equal(header.uid, 0);
      assert.equal(header.gid, 0);
      assert.equal(header.uname, '');
      assert.equal(header.gname, '');
      assert.deepEqual(got, data);
    }
  });

  test("tar-stream's pack of the same entry reads back identically", async () => {
    const ours = (await extract(layerBytes(KERNEL_PATH, KERNEL, KERNEL_MODE)))[0]?.header;
    const theirs = (await extract(await tarStreamPack('unikraft/bin/kernel', KERNEL, 0o755)))[0]?.header;
    assert.ok(ours && theirs);
    for (const key of ['name', 'type', 'size', 'mode', 'uid', 'gid', 'uname', 'gname'] as const) {
      assert.deepEqual(ours[key], theirs[key], key);
    }
    assert.equal(ours.mtime.getTime(), theirs.mtime.getTime());
  });

  test('GNU tar --format=ustar makes the same bytes, and tar -tvf lists the entry', async (t) => {
    if (!(await requireGnuTar(t))) return;
    const dir = await mkdtemp(join(tmpdir(), 'unireg-layer-'));
    try {
      const made = spawnSync('sh', ['-c', `mkdir -p unikraft/bin && printf 'hello unikernel\\n' > unikraft/bin/kernel && chmod 755 unikraft/bin/kernel && tar --format=ustar --mtime=@0 --owner=0 --group=0 --numeric-owner -b 1 -cf gnu.tar unikraft/bin/kernel`], { cwd: dir, encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      const gnu = await readFile(join(dir, 'gnu.tar'));
      assert.deepEqual(layerBytes(KERNEL_PATH, KERNEL, KERNEL_MODE), gnu);

      await writeFile(join(dir, 'ours.tar'), layerBytes(KERNEL_PATH, KERNEL, KERNEL_MODE));
      const listed = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvf', 'ours.tar'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout.trim(), /^-rwxr-xr-x 0\/0\s+16 1970-01-01 00:00:00 unikraft\/bin\/kernel$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('long paths use the USTAR prefix field', async () => {
    const path = `/${'d'.repeat(60)}/${'e'.repeat(60)}/kernel`;
    const entries = await extract(layerBytes(path, KERNEL, 0o755));
    assert.equal(entries[0]?.header.name, path.slice(1));
  });

  test('bad input is refused', () => {
    assert.throws(() => tarHeader('/', 1, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader('/ü', 1, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader(`/${'x'.repeat(101)}`, 1, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader(KERNEL_PATH, -1, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader(KERNEL_PATH, 1.5, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader(KERNEL_PATH, 8 * 1024 ** 3, 0o755), UnikernelInputError);
    assert.throws(() => tarHeader(KERNEL_PATH, 1, 0o10000), UnikernelInputError);
  });
});
