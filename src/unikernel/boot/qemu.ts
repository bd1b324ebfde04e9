/**
 * One contained QEMU boot: software emulation (TCG), no network (`-nic none`,
 * `-nodefaults`: no NIC, disk or VGA), a guest memory cap (`-m`), a wall-clock
 * timeout (SIGKILL by PID), console output capped (the first bytes kept, the
 * rest drained and counted), and, when unireg runs as root, an unprivileged
 * user: QEMU is started through util-linux `setpriv` with that user's uid and
 * gid, no supplementary groups, no capabilities (inheritable, ambient and
 * bounding sets cleared) and no_new_privs. setpriv execs QEMU, so the PID
 * killed on timeout is QEMU's.
 *
 * A triple fault (x86) is recognised from QEMU's own log (`-d cpu_reset`,
 * written to a file with `-D`): with `-no-reboot` QEMU then exits 0 as if the
 * guest had powered off, and only its log tells the two apart.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export type BootArch = 'x86_64' | 'arm64';

/** The QEMU system emulator for each architecture unireg can boot. */
export const QEMU_BINARY: Record<BootArch, string> = { x86_64: 'qemu-system-x86_64', arm64: 'qemu-system-aarch64' };

/** The first bytes of the console kept for the attestation. */
export const CONSOLE_KEEP = 1024;
/** The first bytes of the console the expected-output regex is matched against. */
export const MATCH_WINDOW = 64 * 1024;
/** The first bytes of QEMU's stderr kept (its own error messages). */
const STDERR_KEEP = 4096;

export interface BootUser {
  name: string;
  uid: number;
  gid: number;
}

export interface BootSpec {
  arch: BootArch;
  kernel: string;
  initrd?: string | undefined;
  /** The kernel command line (`-append`), when there is one. */
  append?: string | undefined;
  memoryMiB: number;
  timeoutMs: number;
  /** QEMU's debug log (`-D`), in a directory the boot user can write. */
  logFile: string;
  /** Run QEMU as this user (through setpriv); undefined: as unireg's own user. */
  user?: BootUser | undefined;
}

/** QEMU's arguments (without the binary). */
export function qemuArgs(spec: BootSpec): string[] {
  const machine = spec.arch === 'arm64' ? ['-machine', 'virt', '-cpu', 'cortex-a57'] : [];
  const debugExit = spec.arch === 'x86_64' ? ['-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'] : [];
  return [
    '-nodefaults',
    '-no-user-config',
    ...machine,
    '-accel', 'tcg',
    '-m', String(spec.memoryMiB),
    '-nic', 'none',
    '-no-reboot',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', 'stdio',
    ...debugExit,
    '-d', 'cpu_reset',
    '-D', spec.logFile,
    '-kernel', spec.kernel,
    ...(spec.initrd !== undefined ? ['-initrd', spec.initrd] : []),
    ...(spec.append !== undefined && spec.append !== '' ? ['-append', spec.append] : []),
  ];
}

/** The whole command line: setpriv's prefix (when a user is given), the QEMU binary, its arguments. */
export function bootCommand(spec: BootSpec): string[] {
  const qemu = [QEMU_BINARY[spec.arch], ...qemuArgs(spec)];
  if (spec.user === undefined) return qemu;
  return [
    'setpriv',
    `--reuid=${spec.user.uid}`,
    `--regid=${spec.user.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
    ...qemu,
  ];
}

export interface BootRun {
  command: string[];
  /** QEMU's exit status; null when it was killed or died of a signal. */
  exitStatus: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The guest reset itself by a triple fault (QEMU's log says so). */
  tripleFault: boolean;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
  /** The first MATCH_WINDOW bytes of the serial console. */
  console: Buffer;
  /** Every byte the console carried. */
  consoleBytes: number;
  /** The first bytes of QEMU's stderr. */
  stderr: string;
}

/** A running boot: its result, and a way to end it early (shutdown). */
export interface RunningBoot {
  result: Promise<BootRun>;
  kill(): void;
}

/** Starts QEMU; `result` rejects only when it cannot be started at all. */
export function startBoot(spec: BootSpec): RunningBoot {
  const command = bootCommand(spec);
  const started = Date.now();
  // stdin /dev/null (`-serial stdio` would read ours); a fresh, small environment.
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const kill = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  const result = new Promise<BootRun>((resolveRun, reject) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let consoleBytes = 0;
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => {
      consoleBytes += chunk.length;
      if (keptBytes < MATCH_WINDOW) {
        const part = chunk.subarray(0, MATCH_WINDOW - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < STDERR_KEEP) stderr = (stderr + text).slice(0, STDERR_KEEP);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, spec.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      readFile(spec.logFile, 'latin1')
        .catch(() => '')
        .then((log) => {
          resolveRun({
            command,
            exitStatus: code,
            signal,
            timedOut,
            tripleFault: log.includes('Triple fault'),
            ms,
            console: Buffer.concat(kept),
            consoleBytes,
            stderr,
          });
        }, reject);
    });
  });
  return { result, kill };
}

/** The first line of `<qemu> --version`, or undefined when the binary cannot be run. */
export function qemuVersion(binary: string): Promise<string | undefined> {
  return new Promise((resolveVersion) => {
    const child = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (out.length < 4096) out += text;
    });
    child.on('error', () => resolveVersion(undefined));
    child.on('close', (code) => resolveVersion(code === 0 ? out.split('\n')[0]?.trim() : undefined));
  });
}
