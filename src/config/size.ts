/** Byte sizes in settings: a number of bytes, or a string such as `500MB`, `10GiB` (KB = 1000, KiB = 1024). */
import { z } from 'zod';

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/;
const UNIT: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

export function sizeBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = SIZE.exec(value);
  if (m === null) return NaN;
  return Math.floor(Number(m[1]) * UNIT[m[2] ?? 'B']!);
}

export const byteSize = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(SIZE, 'expected a size like 5000000, 500MB or 10GiB')
    .refine((v) => Number.isSafeInteger(sizeBytes(v)), 'size too large'),
]);
