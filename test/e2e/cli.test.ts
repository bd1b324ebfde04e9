/** The `unireg` command as a real process: start, serve, refuse bad config, stop cleanly on signals. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: 'pipe' });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', (d: Buffer) => stdout.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exit = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  return { child, stdout, stderr, exit };
}

async function waitForUp(url: string, r: Run): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (r.child.exitCode !== null) assert.fail(`exited early: ${r.stderr.join('')}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.fail('server did not come up');
}

describe('unireg serve', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'unireg-cli-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('serves from a config file with env overrides, logs each request, stops on SIGTERM', async () => {
    const dir = await tmp();
    const port = await freePort();
    const config = join(dir, 'unireg.yaml');
    await writeFile(config, `http:\n  addr: 127.0.0.1:1\nstorage:\n  root: ${join(dir, 'data')}\n`);
    const r = run(['serve', '--config', config], { UNIREG_HTTP_ADDR: `127.0.0.1:${port}` });
    await waitForUp(`http://127.0.0.1:${port}/v2/`, r);
    const res = await fetch(`http://127.0.0.1:${port}/v2/`);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    r.child.kill('SIGTERM');
    assert.equal(await r.exit, 0, r.stderr.join(''));
    const lines = r.stdout.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const logged = lines.find((l) => l.msg === 'request' && l.path === '/v2/');
    assert.ok(logged, 'one structured line per request');
    for (const field of ['method', 'status', 'bytesOut', 'ms', 'reqId']) assert.ok(field in logged, field);
    assert.ok(lines.some((l) => l.msg === 'unireg stopped'), 'LevelDB closed on shutdown');
  });

  test('an in-flight upload finishes during a graceful shutdown', async () => {
    const dir = await tmp();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = run(['serve'], { UNIREG_HTTP_ADDR: `127.0.0.1:${port}`, UNIREG_STORAGE_ROOT: dir, UNIREG_LOG_LEVEL: 'warn' });
    await waitForUp(`${base}/v2/`, r);
    const post = await fetch(`${base}/v2/slow/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location')!;
    // A PATCH whose body arrives in two parts, with SIGTERM sent in between.
    const status = new Promise<number>((ok, fail) => {
      const req = request(`${base}${location}`, { method: 'PATCH', headers: { 'Content-Length': '8' } }, (res) => {
        res.resume();
        ok(res.statusCode!);
      });
      req.once('error', fail);
      req.write('1234');
      setTimeout(() => {
        r.child.kill('SIGTERM');
        setTimeout(() => req.end('5678'), 300);
      }, 200);
    });
    assert.equal(await status, 202);
    assert.equal(await r.exit, 0);
  });

  test('SIGTERM with idle keep-alive connections exits when the last request ends, not after the grace period', { timeout: 60_000 }, async () => {
    // A grace period far longer than the test's timeout: waiting it out fails the test.
    const dir = await tmp();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = run(['serve'], { UNIREG_HTTP_ADDR: `127.0.0.1:${port}`, UNIREG_STORAGE_ROOT: dir, UNIREG_LOG_LEVEL: 'warn', UNIREG_HTTP_SHUTDOWN_GRACE: '10m' });
    await waitForUp(`${base}/v2/`, r);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const slowAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // 1. A keep-alive connection, idle after its response.
      const idle = await new Promise<Socket>((ok, fail) => {
        const req = request(`${base}/v2/`, { agent }, (res) => {
          assert.equal(res.headers.connection, 'keep-alive');
          res.resume();
          res.once('end', () => ok(req.socket!));
        });
        req.once('error', fail).end();
      });
      const idleClosed = new Promise<void>((ok) => idle.once('close', () => ok()));
      // 2. A connection that has not sent a request yet.
      const silent = connect(port, '127.0.0.1');
      await new Promise<void>((ok, fail) => silent.once('connect', ok).once('error', fail));
      const silentClosed = new Promise<void>((ok) => silent.once('close', () => ok()));
      // 3. A request in flight on a keep-alive connection: its body ends after the SIGTERM.
      const post = await fetch(`${base}/v2/slow/blobs/uploads/`, { method: 'POST' });
      const slow = await new Promise<{ status: number; connection: string | undefined; closed: Promise<void> }>((ok, fail) => {
        const req = request(`${base}${post.headers.get('location')!}`, { method: 'PATCH', agent: slowAgent, headers: { 'Content-Length': '8' } }, (res) => {
          const socket = req.socket!;
          const closed = socket.destroyed ? Promise.resolve() : new Promise<void>((done) => socket.once('close', () => done()));
          res.resume();
          res.once('end', () => ok({ status: res.statusCode!, connection: res.headers.connection, closed }));
        });
        req.once('error', fail);
        req.write('1234');
        setTimeout(() => {
          r.child.kill('SIGTERM');
          setTimeout(() => req.end('5678'), 300);
        }, 200);
      });
      assert.equal(slow.status, 202, 'the request in flight finishes');
      assert.equal(slow.connection, 'close', 'a response finished during shutdown closes its connection');
      // The server ends every connection itself, and the process exits without waiting out the grace period.
      await Promise.all([idleClosed, silentClosed, slow.closed]);
      assert.equal(await r.exit, 0, r.stderr.join(''));
      assert.doesNotMatch(r.stdout.join(''), /grace period over/, 'no connection had to be cut');
    } finally {
      agent.destroy();
      slowAgent.destroy();
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  test('bad configuration exits 2 and names the key', async () => {
    const r = run(['serve'], { UNIREG_HTTP_ADDR: 'not-an-address', UNIREG_STORAGE_ROOT: await tmp() });
    assert.equal(await r.exit, 2);
    assert.match(r.stderr.join(''), /http\.addr \(from UNIREG_HTTP_ADDR\)/);
    const u = run(['serve'], { UNIREG_STORGE_ROOT: '/x' });
    assert.equal(await u.exit, 2);
    assert.match(u.stderr.join(''), /UNIREG_STORGE_ROOT/);
  });

  test('a second server on the same data root refuses to start', async () => {
    const dir = await tmp();
    const port = await freePort();
    const first = run(['serve'], { UNIREG_HTTP_ADDR: `127.0.0.1:${port}`, UNIREG_STORAGE_ROOT: dir, UNIREG_LOG_LEVEL: 'warn' });
    await waitForUp(`http://127.0.0.1:${port}/v2/`, first);
    const second = run(['serve'], { UNIREG_HTTP_ADDR: `127.0.0.1:${await freePort()}`, UNIREG_STORAGE_ROOT: dir });
    assert.equal(await second.exit, 1);
    assert.match(second.stderr.join(''), /cannot start/);
    first.child.kill('SIGINT');
    assert.equal(await first.exit, 0);
  });

  test('open on a public address refuses to start; auth problems stop the start with their reason', async () => {
    const open = run(['serve'], { UNIREG_HTTP_ADDR: '0.0.0.0:1', UNIREG_STORAGE_ROOT: await tmp() });
    assert.equal(await open.exit, 2);
    assert.match(open.stderr.join(''), /auth\.mode: .*no authentication.*allowInsecureOpen/);
    const noFile = run(['serve'], { UNIREG_AUTH_MODE: 'basic', UNIREG_AUTH_HTPASSWD: '/nonexistent/htpasswd', UNIREG_STORAGE_ROOT: await tmp() });
    assert.equal(await noFile.exit, 1);
    assert.match(noFile.stderr.join(''), /cannot start: cannot read auth\.htpasswd \/nonexistent\/htpasswd/);
  });

  test('--help, help and serve --help print the usage on stdout; a bad serve option exits 2 with one line and the usage', async () => {
    for (const args of [['--help'], ['help'], ['-h'], []]) {
      const r = run(args, {});
      assert.equal(await r.exit, 0, args.join(' '));
      assert.match(r.stdout.join(''), /^usage: unireg serve \[--config FILE\]\n {7}unireg pack /, args.join(' '));
      assert.equal(r.stderr.join(''), '');
    }
    const serveHelp = run(['serve', '--help'], {});
    assert.equal(await serveHelp.exit, 0, serveHelp.stderr.join(''));
    assert.match(serveHelp.stdout.join(''), /^usage: unireg serve \[--config FILE\]\n[\s\S]*--config FILE/);
    const bad = run(['serve', '--bogus'], {});
    assert.equal(await bad.exit, 2);
    const stderr = bad.stderr.join('');
    assert.match(stderr, /^unireg: Unknown option '--bogus'.*\nusage: unireg serve/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });

  test('unknown commands exit 2 with usage', async () => {
    const r = run(['frobnicate'], {});
    assert.equal(await r.exit, 2);
    assert.match(r.stderr.join(''), /usage: unireg serve/);
  });
});
