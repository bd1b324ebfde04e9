/**
 * The boot attestation document (the blob of the referrer), its status rule,
 * and the media types. Field order is fixed, so equal results give equal bytes.
 *
 *   status   passed     QEMU ended by itself with an accepted exit status, no triple fault,
 *                       and the expected-output regex (if any) matched the console
 *            failed     anything else that ended before the timeout (QEMU error, crash,
 *                       triple fault, other exit status, regex not matched)
 *            timed-out  killed after the wall-clock timeout
 */
import { runInNewContext } from 'node:vm';
import { CONSOLE_KEEP, type BootRun } from './qemu.js';

/**
 * How long one expected-output match may run. The regex may come from a manifest
 * annotation (any pusher's), so a catastrophically backtracking one must not stall
 * the server: the match runs under V8's watchdog and counts as not matched when cut.
 */
export const MATCH_TIMEOUT_MS = 1000;

/** Whether `source` matches `text`; throws on an invalid regex; 'timeout' when the match was cut off. */
export function matchOutput(source: string, text: string): boolean | 'timeout' {
  const re = new RegExp(source);
  try {
    return runInNewContext('re.test(text)', { re, text }, { timeout: MATCH_TIMEOUT_MS }) === true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'timeout';
    throw err;
  }
}

export const BOOT_ATTESTATION_TYPE = 'application/vnd.unireg.boot-attestation.v1+json';

/** Annotations on the attestation manifest (and so on its referrer descriptor). */
export const BootAnnotation = {
  Status: 'org.unireg.boot.status',
  Created: 'org.opencontainers.image.created',
  /** On a variant manifest: the expected-output regex for its boot (set by a pack's bootExpect). */
  Expect: 'org.unireg.boot.expected-output',
} as const;

export type BootStatus = 'passed' | 'failed' | 'timed-out';

export interface BootContext {
  repository: string;
  manifest: string;
  platform: { architecture: string; os: string };
  kernel: string;
  /** The regex the console had to match; undefined: none. */
  expected?: string | undefined;
  qemuVersion: string;
  exitCodes: readonly number[];
  memoryMiB: number;
  timeoutMs: number;
  /** The user QEMU ran as (name), or null when it ran as unireg's own user. */
  user: string | null;
  uniregVersion: string;
  startedAt: string;
}

export interface BootVerdict {
  status: BootStatus;
  reason?: string;
  matched: boolean | null;
}

/** The regex result (null when there is none) and the status with its reason. */
export function verdict(run: BootRun, exitCodes: readonly number[], expected: string | undefined): BootVerdict {
  let matched: boolean | null = null;
  let badRegex: string | undefined;
  if (expected !== undefined && expected !== '') {
    try {
      const result = matchOutput(expected, run.console.toString('utf8'));
      matched = result === true;
      if (result === 'timeout') badRegex = `the expected-output regex took longer than ${MATCH_TIMEOUT_MS} ms to match and was cut off`;
    } catch (err) {
      matched = false;
      badRegex = `the expected-output regex is invalid: ${(err as Error).message}`;
    }
  }
  if (run.timedOut) return { status: 'timed-out', reason: `no exit within ${Math.round(run.ms / 1000)} s: QEMU was killed`, matched };
  if (run.tripleFault) return { status: 'failed', reason: 'the guest triple-faulted (CPU reset)', matched };
  if (run.signal !== null) return { status: 'failed', reason: `QEMU died of ${run.signal}`, matched };
  if (run.exitStatus === null || !exitCodes.includes(run.exitStatus)) {
    return { status: 'failed', reason: `QEMU exited with status ${run.exitStatus} (accepted: ${exitCodes.join(', ')})`, matched };
  }
  if (badRegex !== undefined) return { status: 'failed', reason: badRegex, matched };
  if (matched === false) return { status: 'failed', reason: 'the console output did not match the expected-output regex', matched };
  return { status: 'passed', matched };
}

/** The attestation blob: compact JSON in a fixed field order. */
export function attestationDocument(context: BootContext, run: BootRun, v: BootVerdict): Buffer {
  const kept = run.console.subarray(0, CONSOLE_KEEP);
  return Buffer.from(
    JSON.stringify({
      status: v.status,
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
      subject: { repository: context.repository, manifest: context.manifest, platform: context.platform, kernel: context.kernel },
      exitStatus: run.exitStatus,
      signal: run.signal,
      tripleFault: run.tripleFault,
      bootTimeMs: run.ms,
      startedAt: context.startedAt,
      console: { text: kept.toString('utf8'), bytes: run.consoleBytes, truncated: run.consoleBytes > kept.length },
      expectedOutput: context.expected === undefined || context.expected === '' ? null : { regex: context.expected, matched: v.matched },
      qemu: { version: context.qemuVersion, command: run.command, stderr: run.stderr.slice(0, CONSOLE_KEEP) },
      limits: {
        timeoutMs: context.timeoutMs,
        memoryMiB: context.memoryMiB,
        network: 'none',
        user: context.user,
        exitCodes: [...context.exitCodes],
      },
      unireg: { version: context.uniregVersion },
    }),
  );
}
