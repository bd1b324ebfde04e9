/**
 * Two `unireg serve` processes in token mode started at the same moment on one
 * fresh storage root: one of them holds LevelDB's lock and serves, the other
 * stops. The survivor's tokens (access and refresh) must verify against the
 * signing key on disk, and still work after the survivor is restarted. Repeated
 * TRIALS times, since the race it guards against was lost in about one start in
 * ten (the key-on-disk check runs every trial, the restart every RESTART_EVERY); every process is started and stopped by this test (by PID), bounded in time.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { basic, HASH } from '../helpers/auth-http.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const TRIALS = 20;
/** Every this many trials, the survivor is also restarted and its tokens used. */
const RESTART_EVERY = 5;
const START_MS = 20_000;

const CONFIG = `
http:
  addr: 127.0.0.1:0
log:
  level: info
auth:
  mode: token
  users:
    alice: '${HASH}'
  access:
    - repository: '**'
      grants:
        alice: [pull, push, delete, catalog]
`;

interface Proc {
  child: ChildProcess;
  /** The URL once it logs `unireg listening`; undefined when it exits first. */
  listening: Promise<string | undefined>;
  exited: Promise<number | null>;
  output: () => string;
}

function serve(config: string, root: string): Proc {
  // The parent's UNIREG_* variables (UNIREG_TEST_LOG, ...) would be unknown settings to the server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UNIREG_')));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config], {
    env: { ...env, UNIREG_STORAGE_ROOT: root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const listening = new Promise<string | undefined>((ok) => {
    const timer = setTimeout(() => ok(undefined), START_MS);
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      const m = /"url":"([^"]+)"[^\n]*"msg":"unireg listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => void (out += d.toString('utf8')));
    void exited.then(() => {
      clearTimeout(timer);
      ok(undefined);
    });
  });
  return { child, listening, exited, output: () => out };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

async function tokens(url: string): Promise<{ access: string; refresh: string }> {
  const res = await fetch(`${url}/auth/token?service=unireg&scope=repository:race/app:pull&offline_token=true`, {
    headers: { Authorization: basic('alice') },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const body = JSON.parse(text) as { token: string; refresh_token?: string };
  assert.ok(body.refresh_token, 'a refresh token');
  return { access: body.token, refresh: body.refresh_token };
}

async function verifyAgainstDisk(root: string, token: string, what: string): Promise<void> {
  const jwk = JSON.parse(await readFile(join(root, 'auth', 'token-key.json'), 'utf8')) as JWK;
  const { d: _private, ...pub } = jwk;
  assert.equal(decodeProtectedHeader(token).kid, jwk.kid, `${what}: signed with the key on disk (kid)`);
  await jwtVerify(token, await importJWK(pub, 'ES256'), { issuer: 'unireg', audience: 'unireg' }).catch((err: unknown) => {
    assert.fail(`${what}: does not verify against the key on disk: ${(err as Error).message}`);
  });
}

describe('two servers started at once on a fresh root', { concurrency: false }, () => {
  let work: string | undefined;
  const running = new Set<Proc>();
  after(async () => {
    for (const p of running) await stop(p);
    if (work) await rm(work, { recursive: true, force: true });
  });
  const start = (config: string, root: string) => {
    const p = serve(config, root);
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };

  test(`the survivor signs with the key on disk, before and after a restart (${TRIALS} trials)`, async () => {
    work = await mkdtemp(join(tmpdir(), 'unireg-keyrace-'));
    const config = join(work, 'unireg.yaml');
    await writeFile(config, CONFIG);
    for (let trial = 0; trial < TRIALS; trial++) {
      const root = join(work, `root-${trial}`);
      const pair = [start(config, root), start(config, root)];
      const urls = await Promise.all(pair.map((p) => p.listening));
      const winners = pair.filter((_, i) => urls[i] !== undefined);
      assert.equal(winners.length, 1, `trial ${trial}: exactly one server holds the root\n${pair.map((p) => p.output()).join('\n---\n')}`);
      const survivor = winners[0]!;
      const loser = pair.find((p) => p !== survivor)!;
      assert.notEqual(await loser.exited, 0, `trial ${trial}: the second server stops with an error`);
      const url = urls.find((u) => u !== undefined)!;

      const issued = await tokens(url);
      await verifyAgainstDisk(root, issued.access, `trial ${trial} access token`);
      await verifyAgainstDisk(root, issued.refresh, `trial ${trial} refresh token`);

      await stop(survivor);
      if (trial % RESTART_EVERY !== RESTART_EVERY - 1) continue;
      const again = start(config, root);
      const url2 = await again.listening;
      assert.ok(url2, `trial ${trial}: restarts\n${again.output()}`);
      const hello = await fetch(`${url2}/v2/`, { headers: { Authorization: `Bearer ${issued.access}` } });
      assert.equal(hello.status, 200, `trial ${trial}: the access token works after the restart`);
      const refreshed = await fetch(`${url2}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh, service: 'unireg', client_id: 'test' }),
      });
      assert.equal(refreshed.status, 200, `trial ${trial}: the refresh token works after the restart: ${await refreshed.text()}`);
      await stop(again);
    }
  });
});
