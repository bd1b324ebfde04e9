/**
 * Builds and boots the tiny multiboot kernel in `test/fixtures/multiboot/`
 * (hello.S: prints a greeting on COM1, then exits QEMU through isa-debug-exit).
 *
 * Needs binutils (`as`, `ld`) to build and `qemu-system-x86_64` only to boot;
 * callers gate on them with `test/helpers/tools.ts` (`KERNEL_BUILD_TOOLS`,
 * `UNIKERNEL_TOOLS`).
 *
 * Child processes are asynchronous only (execFile/spawn, never execSync): the
 * registry under test may be serving from this same process.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tool } from './tools.js';

/** Tools building the kernel needs (build.sh runs under bash), for `gateFor` / `requireTool`. */
export const KERNEL_BUILD_TOOLS = ['bash', 'as', 'ld'] as const satisfies readonly Tool[];

/** Tools the build and the boot need: booting adds QEMU. */
export const UNIKERNEL_TOOLS = [...KERNEL_BUILD_TOOLS, 'qemu-system-x86_64'] as const satisfies readonly Tool[];

/** The line hello.S prints on the serial port. */
export const HELLO_GREETING = 'Hello from a unireg-packed unikernel!';

/** The value hello.S writes to the isa-debug-exit port... */
export const HELLO_EXIT_VALUE = 0x10;
/** ...and so QEMU's exit status: (value << 1) | 1 = 33. */
export const HELLO_EXIT_STATUS = (HELLO_EXIT_VALUE << 1) | 1;

/**
 * The fixture directory, found from this module whether it runs compiled
 * (dist/test/helpers/) or from source (test/helpers/).
 */
export function multibootFixtureDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'test', 'fixtures', 'multiboot');
    if (existsSync(join(candidate, 'build.sh'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find test/fixtures/multiboot/build.sh above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** Builds hello.elf (32-bit multiboot ELF, loaded at 1 MiB) into `outDir`; returns its path. */
export function buildHelloKernel(outDir: string): Promise<string> {
  return buildKernel(outDir, 'hello');
}

/** The fixture kernels: hello (prints, exits 33), spin (prints, loops forever), triple (prints, triple-faults), flood (prints forever). */
export type FixtureKernel = 'hello' | 'spin' | 'triple' | 'flood';

/** Builds NAME.elf from test/fixtures/multiboot/NAME.S into `outDir`; returns its path. */
export function buildKernel(outDir: string, name: FixtureKernel): Promise<string> {
  const script = join(multibootFixtureDir(), 'build.sh');
  const out = resolve(outDir);
  return new Promise((resolvePath, reject) => {
    execFile('bash', [script, out, name], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`bash ${script} ${out} failed: ${err.message}\n--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`));
        return;
      }
      resolvePath(join(out, `${name}.elf`));
    });
  });
}

export interface BootOptions {
  /** Milliseconds before QEMU is killed (SIGKILL, by PID). Default 10 s. */
  timeoutMs?: number;
  /** Guest memory in MiB. Default 32. */
  memoryMiB?: number;
}

export interface BootResult {
  /** Everything the guest wrote to COM1 (and nothing else: no BIOS banner). */
  serial: string;
  /** QEMU's exit status; null when it was killed (timeout) or died of a signal. */
  exitCode: number | null;
  /** The signal QEMU died of, if any (SIGKILL after a timeout). */
  signal: NodeJS.Signals | null;
  /** True when QEMU had to be killed because the timeout passed. */
  timedOut: boolean;
  /** QEMU's own messages (errors, warnings). */
  stderr: string;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
  /** The command line, for messages. */
  command: string[];
}

/**
 * QEMU's arguments for booting `kernelPath`. `-nodefaults` matters: without it
 * (and with `-nographic`) QEMU has no VGA, so SeaBIOS turns on its serial
 * console and its banner, iPXE's and "Booting from ROM.." land on COM1 ahead of
 * the guest's output. With `-nodefaults` there is no VGA/NIC/disk either, and
 * the serial port carries only what the kernel writes.
 */
export function qemuArgs(kernelPath: string, memoryMiB = 32): string[] {
  return [
    '-nodefaults',
    '-kernel', kernelPath,
    '-no-reboot',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-display', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-m', String(memoryMiB),
    '-accel', 'tcg',
  ];
}

/**
 * Boots a multiboot kernel in QEMU (software emulation) and resolves once QEMU
 * exits by itself or is killed after `timeoutMs`. Rejects only when QEMU cannot
 * be started at all.
 */
export function bootKernel(kernelPath: string, opts: BootOptions = {}): Promise<BootResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const args = qemuArgs(kernelPath, opts.memoryMiB);
  const command = ['qemu-system-x86_64', ...args];
  const started = Date.now();
  return new Promise((resolveBoot, reject) => {
    // stdin is /dev/null: `-serial stdio` would otherwise read the test's stdin.
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveBoot({
        serial: Buffer.concat(out).toString('utf8'),
        exitCode: code,
        signal,
        timedOut,
        stderr,
        ms: Date.now() - started,
        command,
      });
    });
  });
}
