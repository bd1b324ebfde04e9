/** Durations in settings: a number of seconds, or a string such as `90s`, `15m`, `24h`, `30d`. */
import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const duration = z.union([z.number().positive(), z.string().regex(DURATION, 'expected a duration like 30s, 15m, 24h')]);

export function durationMs(value: number | string): number {
  if (typeof value === 'number') return value * 1000;
  const m = DURATION.exec(value)!;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** A duration that may be zero (`0s`): a grace period that can be switched off. */
export const durationOrZero = z.union([z.number().nonnegative(), z.string().regex(DURATION, 'expected a duration like 0s, 30s, 15m, 1h')]);
