/**
 * A private Docker engine for e2e tests (docker.test.ts, auth-docker.test.ts):
 * no iptables, no bridge, its own data-root/exec-root/pidfile/socket in a short
 * temp dir, so it never touches (or needs) the host's dockerd. Needs root.
 *
 * The temp dir is short on purpose: dockerd and its containerd put unix sockets
 * under the exec-root, and a socket path is limited to 108 bytes. The tests keep
 * their own scratch files (layouts, archives, CLI config) in it too, so one
 * removeScratch in stop() cleans up everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { removeScratch, which } from './tools.js';

const READY_MS = 60_000;
/** dockerd stops its containers and containerd on SIGTERM: give it time before SIGKILL. */
const STOP_GRACE_MS = 30_000;

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export class PrivateDockerd {
  private child: ChildProcess | undefined;

  private constructor(readonly dir: string) {}

  /** Makes the temp dir only: callers may fill it before start(). */
  static async create(): Promise<PrivateDockerd> {
    return new PrivateDockerd(await mkdtemp('/tmp/dx.'));
  }

  get socket(): string {
    return join(this.dir, 'docker.sock');
  }

  /** The containerd that dockerd runs (for `ctr --address`). */
  get containerdSocket(): string {
    return join(this.dir, 'containerd', 'containerd.sock');
  }

  /** The docker CLI's config dir: private, so the host's logins never leak in. */
  get cliConfigDir(): string {
    return join(this.dir, 'cli');
  }

  /** Environment for the docker CLI: this daemon, the private CLI config, no hints in the output. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: this.cliConfigDir, DOCKER_CLI_HINTS: 'false' };
  }

  /**
   * Starts dockerd and waits until it answers on _ping. Returns undefined when
   * it is ready, else why it is not (with the tail of its log) for gate.block():
   * a dockerd that cannot run here is an environment problem, not a unireg one.
   */
  async start(insecureRegistries: string[] = [], registryMirrors: string[] = []): Promise<string | undefined> {
    const log = await open(join(this.dir, 'dockerd.log'), 'a');
    const child = spawn(
      (await which('dockerd'))!,
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--ip-masq=false',
        ...insecureRegistries.flatMap((host) => ['--insecure-registry', host]),
        ...registryMirrors.flatMap((url) => ['--registry-mirror', url]),
        '--data-root', join(this.dir, 'data'),
        '--exec-root', this.dir,
        '--pidfile', join(this.dir, 'dockerd.pid'),
        '-H', `unix://${this.socket}`,
      ],
      { stdio: ['ignore', log.fd, log.fd] },
    );
    this.child = child;
    await log.close();
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));

    const deadline = Date.now() + READY_MS;
    while (Date.now() < deadline && !exited(child) && !spawnError) {
      if (await ping(this.socket)) return undefined;
      await new Promise((r) => setTimeout(r, 250));
    }
    const why = spawnError
      ? `cannot spawn dockerd: ${spawnError.message}`
      : exited(child)
        ? `dockerd exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready`
        : `dockerd did not answer on its socket within ${READY_MS / 1000} s`;
    return `the Docker engine cannot run in this environment (not a unireg problem): ${why}\n--- dockerd log ---\n${await this.logTail()}`;
  }

  /** Stops dockerd by its PID (SIGTERM, then SIGKILL) and removes the temp dir. Never throws. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && !exited(child)) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, STOP_GRACE_MS))) {
        child.kill('SIGKILL');
        await waitExit(child, 10_000);
        // dockerd's own containerd outlives a SIGKILLed dockerd: stop it by its pidfile.
        const pid = Number(await readFile(join(this.dir, 'containerd', 'containerd.pid'), 'utf8').catch(() => ''));
        if (pid > 1) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
    }
    await removeScratch(this.dir);
  }

  private async logTail(): Promise<string> {
    const text = await readFile(join(this.dir, 'dockerd.log'), 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-25).join('\n');
  }
}
