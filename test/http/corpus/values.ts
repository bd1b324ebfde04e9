/** Pools of valid, odd and hostile values the generators draw from. */
import { createHash } from 'node:crypto';
import type { Rng } from './rng.js';
import type { Fixture } from './types.js';

/** Percent-encodes what Node refuses in a request path (space, controls, non-Latin-1), keeping the rest raw. */
export function pathSafe(value: string): string {
  let out = '';
  for (const ch of value) out += /[\u0021-\u007e]/.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

export function q(value: string): string {
  return encodeURIComponent(value);
}

export const BAD_NAMES = [
  'Upper', 'a//b', '-a', 'a-', '.a', 'a/.b', 'a__b_', 'a...b', '..', 'a/../b', '%2e%2e', 'a%2fb', 'a%00b', 'a%20b',
  'a'.repeat(256), `${'a/'.repeat(130)}a`, 'ünï', 'a:b', 'a@b', 'a?b', 'a#b', '_catalog', 'a/', '/a', 'a;b', '%', '%zz',
];

export function digestOf(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function badDigest(rng: Rng): string {
  const hex = rng.hex(64);
  return rng.pick([
    `md5:${rng.hex(32)}`, `sha256:${hex.slice(1)}`, `sha256:${hex}0`, `sha256:${hex.toUpperCase()}`, `sha512:${hex}`,
    'sha256:', 'sha256', `:${hex}`, `SHA256:${hex}`, `sha256:${hex.slice(2)}zz`, `sha256:${'0'.repeat(10_000)}`,
    `sha384:${rng.hex(96)}`, `sha256:${hex}%00`, `sha256:..%2f..%2f${hex}`, `sha256+b64:${hex}`, `a:b`, `:`, `sha256::${hex}`,
    `sha256:${hex}:${hex}`, `sha256:%20${hex.slice(1)}`,
  ]);
}

/** A digest: one the server holds, a well-formed unknown one, or a malformed one. */
export function anyDigest(rng: Rng, fx: Fixture): string {
  const r = rng.int(10);
  if (r < 3) return rng.pick([...fx.refBlobs, ...fx.workBlobs, fx.refManifest, fx.workManifest, fx.ukIndex, fx.ukManifest, fx.subject]);
  if (r < 5) return rng.chance(0.8) ? `sha256:${rng.hex(64)}` : `sha512:${rng.hex(128)}`;
  return badDigest(rng);
}

export function badTag(rng: Rng): string {
  return rng.pick([
    'a'.repeat(129), '.hidden', '-x', 'a:b', 'a/b', '%2e%2e', 'ünï', 'a%00', 'a b', '', 'a+b', 'tag!', '%', '%zz',
    `${'x'.repeat(5000)}`, 'a@sha256', '_', '.', '..',
  ]);
}

export function anyTag(rng: Rng, fx: Fixture): string {
  const r = rng.int(10);
  if (r < 3) return rng.pick([fx.refTag, ...fx.workTags, fx.ukTag]);
  if (r < 6) return rng.pick(['latest', 'v1', `t${rng.int(1000)}`, 'A_b.c-d', 'x'.repeat(128)]);
  return badTag(rng);
}

/** A repository name: the fixture's, a valid unknown one, or a malformed one. */
export function anyName(rng: Rng, fx: Fixture, readOnlyRef = true): string {
  const r = rng.int(10);
  if (r < 4) return readOnlyRef && rng.chance(0.5) ? fx.refRepo : fx.workRepo;
  if (r < 6) return rng.pick(['corpus/unknown', `corpus/n${rng.int(50)}`, 'a', 'a/b/c/d/e/f', 'x.y_z__w-v']);
  return rng.pick(BAD_NAMES);
}

/** Paging `n`: numbers, huge numbers, negatives, garbage. */
export function pageN(rng: Rng): string {
  return rng.pick(['', '0', '1', '2', '-1', '1.5', '1e3', 'abc', '99999999999999999999', '10001', '%205', '0x10', '%00', '1%00', '+1', `${rng.int(100)}`]);
}

/** Paging `last`: tags, names, long, odd bytes. */
export function pageLast(rng: Rng, fx: Fixture): string {
  return rng.pick(['', 'a', 'zzzz', fx.refTag, fx.workRepo, '%ff', '%00', 'ü', 'x'.repeat(10_000), '%2F', '../..', `${fx.workRepo}/zz`]);
}

/** A value of an unexpected JSON type. */
export function wrongValue(rng: Rng): unknown {
  return rng.pick<unknown>([
    { toString: 1 }, { valueOf: {} }, [], [1], null, 1e308, -1, 1.5, '', true, {}, 'x'.repeat(2000), '\u0000', { __proto__: { a: 1 } },
    ['a', 1], [[]], { '': '' }, -0, 'sha256:zz', { constructor: 'x' },
  ]);
}

/** `levels` nested arrays or objects as JSON text. */
export function nestedJson(rng: Rng, levels: number): string {
  return rng.chance(0.5) ? `${'['.repeat(levels)}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

export function deepLevels(rng: Rng): number {
  return rng.pick([65, 66, 100, 1000, 5000, 20_000, 100_000]);
}
