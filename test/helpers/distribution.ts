/**
 * CNCF Distribution (Debian's `docker-registry`, /usr/bin/docker-registry) as
 * a real upstream for the pull-through cache tests: filesystem storage in a
 * temp dir, htpasswd authentication (bcrypt), 127.0.0.1 on a free port.
 * Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from './ports.js';
import { waitFor, which } from './tools.js';

export interface Distribution {
  url: string;
  host: string;
  user: string;
  password: string;
  /** Stops the registry (SIGTERM, then SIGKILL) and keeps its storage. */
  stop(): Promise<void>;
  /** Stops it and removes its temp dir. */
  destroy(): Promise<void>;
}

export async function startDistribution(user: string, password: string): Promise<Distribution> {
  const dir = await mkdtemp(join(tmpdir(), 'unireg-distribution-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await writeFile(join(dir, 'htpasswd'), `${user}:${bcrypt.hashSync(password, 8)}\n`);
  await writeFile(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: {level: warn, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}`,
      `http: {addr: ${host}, secret: test-secret}`,
      `auth: {htpasswd: {realm: distribution, path: ${join(dir, 'htpasswd')}}}`,
      '',
    ].join('\n'),
  );
  const log = await open(join(dir, 'registry.log'), 'a');
  const child: ChildProcess = spawn((await which('docker-registry'))!, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  const url = `http://${host}`;
  const up = await waitFor(async () => (await fetch(`${url}/v2/`)).status === 401, 30_000, 100);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((ok) => child.once('exit', () => ok()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  if (!up) {
    const text = await readFile(join(dir, 'registry.log'), 'utf8').catch(() => '');
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`docker-registry did not start on ${host}:\n${text}`);
  }
  return {
    url,
    host,
    user,
    password,
    stop,
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
