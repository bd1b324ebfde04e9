/**
 * The multiboot fixture kernel boots in QEMU: built with binutils from
 * test/fixtures/multiboot/hello.S, booted with `qemu-system-x86_64 -kernel`, it
 * prints its greeting on the serial port and exits QEMU through isa-debug-exit.
 * (The registry round trip, pack, push, pull, boot, builds on these helpers.)
 *
 * Building needs only binutils (`as`, `ld`); booting also needs
 * `qemu-system-x86_64`. Each test is skipped with a reason when what it needs is
 * missing, and failed under CI.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gateFor, removeScratch } from '../helpers/tools.js';
import {
  HELLO_EXIT_STATUS,
  HELLO_GREETING,
  KERNEL_BUILD_TOOLS,
  UNIKERNEL_TOOLS,
  bootKernel,
  buildHelloKernel,
  type BootResult,
} from '../helpers/unikernel-boot.js';

const buildGate = await gateFor(KERNEL_BUILD_TOOLS);
const bootGate = await gateFor(UNIKERNEL_TOOLS);

function describeBoot(r: BootResult): string {
  const status = r.timedOut ? `killed after timeout (${r.ms} ms)` : `exit ${r.exitCode} signal ${r.signal} (${r.ms} ms)`;
  return `$ ${r.command.join(' ')}\n${status}\n--- serial ---\n${JSON.stringify(r.serial)}\n--- stderr ---\n${r.stderr}`;
}

describe('multiboot kernel in QEMU', { concurrency: false }, () => {
  let work: string | undefined;

  after(async () => {
    await removeScratch(work);
  });

  test('builds a 32-bit ELF with a multiboot header in its first 8 KiB', { timeout: 60_000 }, async (t) => {
    if (!buildGate.check(t)) return;
    work ??= await mkdtemp(join(tmpdir(), 'unireg-multiboot-'));
    const kernel = await buildHelloKernel(join(work, 'build'));
    const bytes = await readFile(kernel);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
    assert.equal(bytes[4], 1, 'ELFCLASS32 (QEMU refuses 64-bit multiboot ELF)');
    assert.equal(bytes.readUInt16LE(18), 3, 'e_machine EM_386');
    // Multiboot v1: magic, flags, checksum, 4-byte aligned, within the first 8192 bytes.
    let found = -1;
    for (let off = 0; off + 12 <= Math.min(bytes.length, 8192); off += 4) {
      if (bytes.readUInt32LE(off) === 0x1badb002) {
        found = off;
        break;
      }
    }
    assert.ok(found >= 0, 'multiboot header within the first 8 KiB');
    const sum = (bytes.readUInt32LE(found) + bytes.readUInt32LE(found + 4) + bytes.readUInt32LE(found + 8)) >>> 0;
    assert.equal(sum, 0, 'magic + flags + checksum == 0 (mod 2^32)');
  });

  test('boots, greets on the serial port and exits through isa-debug-exit', { timeout: 60_000 }, async (t) => {
    if (!bootGate.check(t)) return;
    work ??= await mkdtemp(join(tmpdir(), 'unireg-multiboot-'));
    const kernel = await buildHelloKernel(join(work, 'boot'));
    const result = await bootKernel(kernel, { timeoutMs: 15_000 });
    const why = describeBoot(result);
    t.diagnostic(`booted in ${result.ms} ms; serial: ${JSON.stringify(result.serial)}`);
    assert.equal(result.timedOut, false, `QEMU should exit by itself\n${why}`);
    assert.ok(result.serial.includes(`${HELLO_GREETING}\n`), `greeting on the serial port\n${why}`);
    assert.equal(result.serial, `${HELLO_GREETING}\n`, `nothing but the guest's output on the serial port\n${why}`);
    assert.equal(result.exitCode, HELLO_EXIT_STATUS, `isa-debug-exit status (0x10 << 1) | 1\n${why}`);
  });
});
