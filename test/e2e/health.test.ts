/**
 * Health as a real process: /readyz turns 503 the moment SIGTERM arrives while a slow request holds
 * shutdown open (seen on the separate metrics listener, which stays up until the end), /livez stays
 * 200; and `unireg healthcheck` probes the address the configuration binds.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

interface Run {
  child: ChildProcess;
  stderr: string[];
  exit: Promise<number | null>;
}

function serve(env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH, UNIREG_LOG_LEVEL: 'warn', ...env }, stdio: 'pipe' });
  const stderr: string[] = [];
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exit = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  return { child, stderr, exit };
}

async function waitFor(url: string, r: Run): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (r.child.exitCode !== null) assert.fail(`exited early: ${r.stderr.join('')}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.fail(`${url} never answered 200`);
}

describe('health endpoints of a running process', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'unireg-health-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('SIGTERM: /readyz answers 503 while an in-flight request holds shutdown open; /livez stays 200', { timeout: 60_000 }, async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const base = `http://127.0.0.1:${port}`;
    const metrics = `http://127.0.0.1:${metricsPort}`;
    const r = serve({
      UNIREG_HTTP_ADDR: `127.0.0.1:${port}`,
      UNIREG_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      UNIREG_STORAGE_ROOT: await tmp(),
      UNIREG_HTTP_SHUTDOWN_GRACE: '10m',
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await waitFor(`${base}/readyz`, r);
      assert.equal((await fetch(`${metrics}/readyz`)).status, 200);
      const post = await fetch(`${base}/v2/slow/blobs/uploads/`, { method: 'POST' });
      let finish!: () => void;
      const slow = new Promise<number>((ok, fail) => {
        const req = request(`${base}${post.headers.get('location')!}`, { method: 'PATCH', agent, headers: { 'Content-Length': '8' } }, (res) => {
          res.resume();
          res.once('end', () => ok(res.statusCode!));
        });
        req.once('error', fail);
        req.write('1234');
        finish = () => req.end('5678');
      });
      await new Promise((ok) => setTimeout(ok, 200));
      r.child.kill('SIGTERM');
      // Shutdown is held open by the PATCH: readiness must already say no.
      let ready = 0;
      for (let i = 0; i < 50 && ready !== 503; i++) {
        const res = await fetch(`${metrics}/readyz`);
        ready = res.status;
        if (ready === 503) assert.equal(((await res.json()) as { status: string }).status, 'shutting down');
        else await new Promise((ok) => setTimeout(ok, 50));
      }
      assert.equal(ready, 503, '/readyz never turned 503 during shutdown');
      assert.equal((await fetch(`${metrics}/livez`)).status, 200);
      assert.equal(r.child.exitCode, null, 'the process is still draining');
      finish();
      assert.equal(await slow, 202, 'the in-flight request finishes');
      assert.equal(await r.exit, 0, r.stderr.join(''));
    } finally {
      agent.destroy();
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  test('unireg healthcheck probes the configured address: 0 while ready, 1 when nothing answers', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const env = { UNIREG_HTTP_ADDR: `127.0.0.1:${port}`, UNIREG_STORAGE_ROOT: await tmp() };
    const r = serve(env);
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, r);
      const ok = await runCli(['healthcheck'], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await runCli(['healthcheck', '--live'], env)).code, 0);
      r.child.kill('SIGTERM');
      assert.equal(await r.exit, 0);
      const down = await runCli(['healthcheck'], env);
      assert.equal(down.code, 1);
      assert.match(down.stderr, new RegExp(`127\\.0\\.0\\.1:${port}/readyz`));
    } finally {
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  test('unireg healthcheck: a server that answers 503 is unhealthy', { timeout: 30_000 }, async () => {
    const server = createHttpServer((_req, res) => res.writeHead(503).end('{"status":"shutting down"}'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const { port } = server.address() as { port: number };
      const res = await runCli(['healthcheck'], { UNIREG_HTTP_ADDR: `127.0.0.1:${port}` });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /answered 503/);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
