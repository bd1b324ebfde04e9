/**
 * `unireg copy-storage` between two embedded (fs + LevelDB) data roots, with real
 * server processes: content pushed over HTTP to one, the server stopped, the
 * storage copied, a server started on the copy serves the same catalog, tags,
 * manifests, referrers and blobs, digest for digest. A non-empty destination is
 * refused without --resume and resumed with it; a running source is refused; a
 * blob corrupted at the source is reported and not copied.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { Layout } from '../../src/storage/fs/layout.js';
import { runCli, serveProcess } from '../helpers/cli.js';
import { randomBlob, startUpload } from '../helpers/oci.js';
import { pushContent, snapshot, type Pushed, type Snapshot } from '../helpers/registry-content.js';
import { scratchDirs } from '../helpers/scratch.js';

const tmp = scratchDirs('unireg-copy-');

async function configFor(dir: string, root: string): Promise<string> {
  const file = join(dir, `${root.split('/').at(-1)}.yaml`);
  await writeFile(file, `http:\n  addr: 127.0.0.1:0\n  shutdownGrace: 2\nstorage:\n  root: ${root}\nlog:\n  level: info\n`);
  return file;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  process.kill(proc.pid!, 'SIGTERM');
  await exited;
}

describe('unireg copy-storage, fs+level to fs+level', () => {
  let dir: string;
  let src: string;
  let dst: string;
  let pushed: Pushed;
  let before_: Snapshot;
  const procs: ChildProcess[] = [];

  const serve = async (config: string) => {
    const started = await serveProcess(['--config', config]);
    procs.push(started.proc);
    return started;
  };

  before(async () => {
    dir = await tmp();
    src = await configFor(dir, join(dir, 'source'));
    dst = await configFor(dir, join(dir, 'dest'));
    const { proc, url } = await serve(src);
    pushed = await pushContent(url);
    await startUpload(url, 'app/a'); // a session in progress: left out of the copy
    before_ = await snapshot(url, pushed.repos);
    const running = await runCli(['copy-storage', '--from', src, '--to', dst]);
    assert.equal(running.code, 2, running.stderr);
    assert.match(running.stderr, /is running \(its LevelDB is locked\): stop it first/);
    await stop(proc);
  });
  after(async () => {
    for (const p of procs) await stop(p);
  });

  test('copies everything; a server on the copy serves it digest for digest', async () => {
    const res = await runCli(['copy-storage', '--from', src, '--to', dst]);
    assert.equal(res.code, 0, res.stderr + res.stdout);
    assert.match(res.stdout, new RegExp(`blobs: ${pushed.blobs.size} copied \\(8\\.\\d MB\\), 0 already there, 0 not copied, of ${pushed.blobs.size}`));
    assert.match(res.stdout, /metadata: \d+ records copied, 1 upload sessions in progress left out/);
    assert.match(res.stderr, /copy-storage: blobs \d+\/\d+/);
    process.stderr.write(`# ${res.stdout.split('\n').filter((l) => /^(blobs|took)/.test(l)).join('; ')}\n`);
    const { proc, url } = await serve(dst);
    try {
      assert.deepEqual(await snapshot(url, pushed.repos), before_);
      const tags = (await (await fetch(`${url}/v2/app/a/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, ['latest', 'multi', 'v1', 'v2']);
    } finally {
      await stop(proc);
    }
  });

  test('refuses a non-empty destination; --resume skips what is there', async () => {
    const again = await runCli(['copy-storage', '--from', src, '--to', dst]);
    assert.equal(again.code, 2, again.stdout);
    assert.match(again.stderr, /the destination is not empty .*--resume/);
    const resumed = await runCli(['copy-storage', '--from', src, '--to', dst, '--resume', '--verify', '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout) as { blobs: { copied: number; skipped: number; failed: unknown[] } };
    assert.deepEqual(summary.blobs, { ...summary.blobs, copied: 0, skipped: pushed.blobs.size, failed: [] });
  });

  test('a blob corrupt at the source is reported and not copied (exit 1)', async () => {
    const layout = new Layout(join(dir, 'source'));
    const path = layout.blobPath(parseDigest(pushed.big));
    const good = await readFile(path);
    await writeFile(path, randomBlob(good.length));
    try {
      const third = await configFor(dir, join(dir, 'third'));
      const res = await runCli(['copy-storage', '--from', src, '--to', third]);
      assert.equal(res.code, 1, res.stderr + res.stdout);
      assert.match(res.stdout, new RegExp(`NOT COPIED ${pushed.big}: content hashes to sha256:[0-9a-f]{64} \\(${good.length} bytes\\): corrupt at the source`));
      assert.match(res.stdout, new RegExp(`blobs: ${pushed.blobs.size - 1} copied .* 1 not copied`));
      const copy = new Layout(join(dir, 'third'));
      await assert.rejects(access(copy.blobPath(parseDigest(pushed.big))), /ENOENT/);
      for (const digest of pushed.blobs.keys()) if (digest !== pushed.big) await access(copy.blobPath(parseDigest(digest)));
    } finally {
      await writeFile(path, good);
    }
  });

  test('usage errors exit 2', async () => {
    for (const args of [[], ['--from', src], ['--from', src, '--to', src], ['--from', join(dir, 'none.yaml'), '--to', dst], ['--from', src, '--to', dst, '--concurrency', '0']]) {
      const res = await runCli(['copy-storage', ...args]);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /^unireg: copy-storage: /);
    }
  });
});
