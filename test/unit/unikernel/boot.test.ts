/**
 * The boot verdict (src/unikernel/boot/attestation.ts), the QEMU command line
 * (qemu.ts) and the boot user lookup (boot-user.ts), without QEMU: the e2e test
 * (test/e2e/unikernel-boot-attest.test.ts) boots real kernels.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { verdict } from '../../../src/unikernel/boot/attestation.js';
import { bootCommand, type BootRun } from '../../../src/unikernel/boot/qemu.js';
import { bootUser } from '../../../src/unikernel/boot/boot-user.js';

function run(over: Partial<BootRun>): BootRun {
  return {
    command: [],
    exitStatus: 0,
    signal: null,
    timedOut: false,
    tripleFault: false,
    ms: 100,
    console: Buffer.from('Hello\n'),
    consoleBytes: 6,
    stderr: '',
    ...over,
  };
}

const CODES = [0, 33];

test('the verdict: passed only for a clean end with an accepted status and a matching regex', () => {
  assert.deepEqual(verdict(run({}), CODES, undefined), { status: 'passed', matched: null });
  assert.deepEqual(verdict(run({ exitStatus: 33 }), CODES, '^Hel'), { status: 'passed', matched: true });
  assert.deepEqual(verdict(run({ exitStatus: 33 }), CODES, ''), { status: 'passed', matched: null });
  assert.deepEqual(verdict(run({}), CODES, 'Bye'), { status: 'failed', reason: 'the console output did not match the expected-output regex', matched: false });
  assert.deepEqual(verdict(run({ exitStatus: 3 }), CODES, 'Hello'), { status: 'failed', reason: 'QEMU exited with status 3 (accepted: 0, 33)', matched: true });
  assert.deepEqual(verdict(run({ exitStatus: null, signal: 'SIGSEGV' }), CODES, undefined), { status: 'failed', reason: 'QEMU died of SIGSEGV', matched: null });
  assert.deepEqual(verdict(run({ tripleFault: true }), CODES, 'Hello'), { status: 'failed', reason: 'the guest triple-faulted (CPU reset)', matched: true });
  assert.deepEqual(verdict(run({ timedOut: true, exitStatus: null, signal: 'SIGKILL', ms: 30_004 }), CODES, 'x'), {
    status: 'timed-out',
    reason: 'no exit within 30 s: QEMU was killed',
    matched: false,
  });
  const bad = verdict(run({}), CODES, '(');
  assert.equal(bad.status, 'failed');
  assert.match(bad.reason ?? '', /^the expected-output regex is invalid: /);
});

test('a catastrophically backtracking regex (a pusher can set one) is cut off, not left to stall the server', () => {
  const v = verdict(run({ console: Buffer.from(`${'a'.repeat(40)}b`) }), CODES, '(a+)+$');
  assert.deepEqual(v, { status: 'failed', reason: 'the expected-output regex took longer than 1000 ms to match and was cut off', matched: false });
});

test('the command line: no network, TCG, the memory cap; setpriv with no groups, capabilities or new privileges for a user', () => {
  const spec = { arch: 'x86_64' as const, kernel: '/w/kernel', memoryMiB: 48, timeoutMs: 1000, logFile: '/w/qemu.log' };
  const qemu = [
    'qemu-system-x86_64', '-nodefaults', '-no-user-config', '-accel', 'tcg', '-m', '48', '-nic', 'none', '-no-reboot',
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-d', 'cpu_reset', '-D', '/w/qemu.log', '-kernel', '/w/kernel',
  ];
  assert.deepEqual(bootCommand(spec), qemu);
  assert.deepEqual(bootCommand({ ...spec, initrd: '/w/initrd', append: 'a b' }), [...qemu, '-initrd', '/w/initrd', '-append', 'a b']);
  assert.deepEqual(bootCommand({ ...spec, user: { name: 'nobody', uid: 65534, gid: 65534 } }), [
    'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
    ...qemu,
  ]);
  const arm = bootCommand({ ...spec, arch: 'arm64' });
  assert.deepEqual(arm.slice(0, 7), ['qemu-system-aarch64', '-nodefaults', '-no-user-config', '-machine', 'virt', '-cpu', 'cortex-a57']);
  assert.ok(!arm.includes('isa-debug-exit,iobase=0xf4,iosize=0x04'));
});

test('the boot user comes from the passwd file and is never root', async (t) => {
  if (process.getuid?.() !== 0) {
    assert.equal(await bootUser('nobody'), undefined, 'not root: QEMU runs as unireg\'s own user');
    return t.skip('the lookup only happens as root');
  }
  const dir = await mkdtemp(join(tmpdir(), 'unireg-passwd-'));
  try {
    const passwd = join(dir, 'passwd');
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\nboot:x:1234:4321::/:/usr/sbin/nologin\nzero:x:1000:0::/:/bin/sh\n');
    assert.deepEqual(await bootUser('boot', passwd), { name: 'boot', uid: 1234, gid: 4321 });
    await assert.rejects(bootUser('root', passwd), /is root/);
    await assert.rejects(bootUser('zero', passwd), /is root/);
    await assert.rejects(bootUser('ghost', passwd), /not in/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
