/**
 * podman as root with private state (podman.test.ts, auth-podman.test.ts), and
 * what the auth e2e files of the containers/image clients (auth-podman,
 * auth-skopeo) share: one TLS unireg per auth mode, and the check that a client
 * was refused for its credentials.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunResult } from './tools.js';

/** A temp dir for runPodman's state (`prefix` is a full path prefix, as for mkdtemp). */
export async function makePodmanState(prefix: string): Promise<string> {
  const state = await mkdtemp(prefix);
  await mkdir(join(state, 'tmp'));
  return state;
}

export interface PodmanOptions {
  input?: string;
  allowFailure?: boolean;
  /** Added to the environment (over process.env and TMPDIR). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs podman with all of its storage under `state` (from makePodmanState), so
 * the host's images and containers are never touched. vfs works on any file
 * system (no overlay mounts to leak); cgroupfs and the file events backend need
 * no systemd. Image copies stage blobs in TMPDIR (default /var/tmp): in the state too.
 */
export function runPodman(state: string, args: string[], opts: PodmanOptions = {}): Promise<RunResult> {
  return run(
    'podman',
    [
      '--root', join(state, 'root'),
      '--runroot', join(state, 'run'),
      '--tmpdir', join(state, 'tmp'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      ...args,
    ],
    {
      timeout: 150_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      allowFailure: opts.allowFailure ?? false,
      env: { ...process.env, TMPDIR: join(state, 'tmp'), ...opts.env },
    },
  );
}
