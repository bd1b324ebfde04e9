/**
 * The retention decision (src/retention/plan.ts) for every combination of
 * keepLast, keepTags, deleteOlderThan and keepOnePerPlatform, with immutable
 * tags, ties in push time and old tags pushed "at 0". Each case names the tags
 * deleted and why each kept one is kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import type { Digest } from '../../src/oci/digest.js';
import { byRecency, CompiledRetentionRule, planRepository, type KeepReason, type TagFacts } from '../../src/retention/plan.js';

const H = 3_600_000;
const NOW = Date.UTC(2026, 0, 1);
const D = (n: number) => `sha256:${String(n).padStart(64, '0')}` as Digest;

/** `tag@hoursAgo`, `!` suffix for immutable. */
function tags(...specs: string[]): TagFacts[] {
  return specs.map((spec, i) => {
    const m = /^([^@]+)@(\d+)(!?)$/.exec(spec)!;
    return { tag: m[1]!, digest: D(i), pushedAt: NOW - Number(m[2]) * H, immutable: m[3] === '!' };
  });
}

function rule(fields: Record<string, unknown>): CompiledRetentionRule {
  const parsed = configSchema.parse({ retention: [{ repository: 'r', ...fields }] });
  return new CompiledRetentionRule(parsed.retention[0]!);
}

interface Outcome {
  deleted: string[];
  kept: Record<string, KeepReason[]>;
}

async function plan(list: TagFacts[], fields: Record<string, unknown>, platforms: Record<string, string[]> = {}): Promise<Outcome> {
  const asked: string[] = [];
  const decisions = await planRepository(list, rule(fields), NOW, async (r) => {
    asked.push(r.tag);
    return platforms[r.tag] ?? [];
  });
  const out: Outcome = { deleted: [], kept: {} };
  for (const d of decisions) {
    if (d.keptBy.length === 0) out.deleted.push(d.record.tag);
    else out.kept[d.record.tag] = d.keptBy;
  }
  out.deleted.sort();
  if (!fields.keepOnePerPlatform) assert.deepEqual(asked, [], 'platforms are read only for keepOnePerPlatform');
  return out;
}

// Five tags, a newest (1 h ago) to e oldest (100 h ago).
const FIVE = () => tags('a@1', 'b@10', 'c@30', 'd@50', 'e@100');

describe('retention plan', () => {
  test('keepLast alone: the N most recently pushed stay, whatever their names', async () => {
    const r = await plan(tags('z@1', 'a@2', 'm@3', 'b@4'), { keepLast: 2 });
    assert.deepEqual(r.deleted, ['b', 'm']);
    assert.deepEqual(r.kept, { z: ['keepLast'], a: ['keepLast'] });
    assert.deepEqual((await plan(FIVE(), { keepLast: 0 })).deleted, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual((await plan(FIVE(), { keepLast: 10 })).deleted, []);
  });

  test('deleteOlderThan alone: only tags pushed longer ago than that go', async () => {
    const r = await plan(FIVE(), { deleteOlderThan: '24h' });
    assert.deepEqual(r.deleted, ['c', 'd', 'e']);
    assert.deepEqual(r.kept, { a: ['recent'], b: ['recent'] });
    // Exactly that old is not older.
    assert.deepEqual((await plan(tags('x@24', 'y@25'), { deleteOlderThan: '24h' })).deleted, ['y']);
    // Seconds as a number.
    assert.deepEqual((await plan(tags('x@1', 'y@2'), { deleteOlderThan: 5400 })).deleted, ['y']);
  });

  test('deleteNotPulledFor: a tag goes when neither pulled nor pushed within that long', async () => {
    const list = FIVE();
    // c was pushed 30 h ago but pulled 2 h ago; d pulled 40 h ago; e never pulled.
    list[2]!.pulledAt = NOW - 2 * H;
    list[3]!.pulledAt = NOW - 40 * H;
    const r = await plan(list, { deleteNotPulledFor: '24h' });
    assert.deepEqual(r.deleted, ['d', 'e']);
    assert.deepEqual(r.kept, { a: ['pulled'], b: ['pulled'], c: ['pulled'] });
    // With keepLast, either keeps.
    assert.deepEqual((await plan(list, { deleteNotPulledFor: '24h', keepLast: 4 })).deleted, ['e']);
  });

  test('keepLast and deleteOlderThan: a tag goes only when it is outside the last N AND old', async () => {
    // Last 2 = a, b; older than 20 h = c, d, e.
    assert.deepEqual((await plan(FIVE(), { keepLast: 2, deleteOlderThan: '20h' })).deleted, ['c', 'd', 'e']);
    // Last 4 = a..d; older than 20 h: c, d, e -> only e.
    const r = await plan(FIVE(), { keepLast: 4, deleteOlderThan: '20h' });
    assert.deepEqual(r.deleted, ['e']);
    assert.deepEqual(r.kept.c, ['keepLast']);
    // Last 1 = a; older than 60 h: e only (b, c, d are recent).
    assert.deepEqual((await plan(FIVE(), { keepLast: 1, deleteOlderThan: '60h' })).deleted, ['e']);
    // A tag both in the last N and recent has both reasons.
    assert.deepEqual((await plan(FIVE(), { keepLast: 1, deleteOlderThan: '60h' })).kept.a, ['keepLast', 'recent']);
  });

  test('keepTags with keepLast: matching tags stay and still count among the last N', async () => {
    const r = await plan(tags('latest@1', 'v1.2.0@2', 'dev-3@3', 'dev-2@4', 'v1.1.0@50', 'dev-1@60'), {
      keepLast: 2,
      keepTags: ['latest', 'v\\d+\\.\\d+\\.\\d+'],
    });
    assert.deepEqual(r.deleted, ['dev-1', 'dev-2', 'dev-3']);
    assert.deepEqual(r.kept, { latest: ['keepTags', 'keepLast'], 'v1.2.0': ['keepTags', 'keepLast'], 'v1.1.0': ['keepTags'] });
  });

  test('keepTags patterns match the whole tag', async () => {
    const r = await plan(tags('v1@1', 'v1-rc@2', 'xv1@3', 'V1@4'), { keepLast: 0, keepTags: ['v\\d+'] });
    assert.deepEqual(r.deleted, ['V1', 'v1-rc', 'xv1']);
    // An explicitly unanchored pattern keeps anything containing it.
    assert.deepEqual((await plan(tags('v1@1', 'v1-rc@2', 'xv1@3'), { keepLast: 0, keepTags: ['.*v1.*'] })).deleted, []);
  });

  test('keepTags with deleteOlderThan: old tags go unless they match', async () => {
    const r = await plan(tags('main@1', 'release-1@100', 'pr-7@100', 'pr-8@2'), { deleteOlderThan: '1d', keepTags: ['release-.*'] });
    assert.deepEqual(r.deleted, ['pr-7']);
    assert.deepEqual(r.kept, { main: ['recent'], 'pr-8': ['recent'], 'release-1': ['keepTags'] });
  });

  test('all three: kept by any one of keepTags, keepLast, recent', async () => {
    const r = await plan(tags('a@1', 'b@2', 'c@30', 'stable@90', 'd@95', 'e@99'), {
      keepLast: 3,
      keepTags: ['stable'],
      deleteOlderThan: '2d',
    });
    assert.deepEqual(r.deleted, ['d', 'e']);
    assert.deepEqual(r.kept, { a: ['keepLast', 'recent'], b: ['keepLast', 'recent'], c: ['keepLast', 'recent'], stable: ['keepTags'] });
  });

  test('immutable tags are never deleted, and count among the last N', async () => {
    const r = await plan(tags('v2@1!', 'dev@2', 'v1@100!', 'old@100'), { keepLast: 1 });
    assert.deepEqual(r.deleted, ['dev', 'old']);
    assert.deepEqual(r.kept, { v2: ['immutable', 'keepLast'], v1: ['immutable'] });
  });

  test('ties in push time: the later name counts as newer; old tags (pushed at 0) are the oldest', async () => {
    const list = tags('b@5', 'a@5', 'c@5');
    assert.deepEqual([...list].sort(byRecency).map((t) => t.tag), ['c', 'b', 'a']);
    assert.deepEqual((await plan(list, { keepLast: 1 })).deleted, ['a', 'b']);
    const legacy: TagFacts[] = [
      { tag: 'old', digest: D(1), pushedAt: 0, immutable: false },
      { tag: 'new', digest: D(2), pushedAt: NOW - H, immutable: false },
    ];
    assert.deepEqual((await plan(legacy, { keepLast: 1 })).deleted, ['old']);
    assert.deepEqual((await plan(legacy, { deleteOlderThan: '3650d' })).deleted, ['old']);
  });

  test('a rule with neither keepLast nor deleteOlderThan exempts: nothing goes', async () => {
    const r = await plan(FIVE(), {});
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(r.kept.e, ['exempt']);
  });

  describe('keepOnePerPlatform', () => {
    const P = { x: ['x86_64/qemu'], a: ['arm64/fc'], both: ['x86_64/qemu', 'arm64/fc'] };

    test('with keepLast: each platform no kept tag holds keeps its newest tag', async () => {
      // Newest first: n (qemu), q2 (qemu), f2 (fc), f1 (fc), q1 (qemu), img (no platform).
      const list = tags('n@1', 'q2@2', 'f2@3', 'f1@4', 'q1@5', 'img@6');
      const platforms = { n: P.x, q2: P.x, f2: P.a, f1: P.a, q1: P.x };
      const r = await plan(list, { keepLast: 1, keepOnePerPlatform: true }, platforms);
      assert.deepEqual(r.deleted, ['f1', 'img', 'q1', 'q2']);
      assert.deepEqual(r.kept, { n: ['keepLast'], f2: ['keepOnePerPlatform'] });
      // Without the flag, fc would be gone entirely.
      assert.deepEqual((await plan(list, { keepLast: 1 }, platforms)).deleted, ['f1', 'f2', 'img', 'q1', 'q2']);
    });

    test('with keepLast 0: the newest tag of every platform', async () => {
      const list = tags('q2@1', 'f1@2', 'q1@3');
      const r = await plan(list, { keepLast: 0, keepOnePerPlatform: true }, { q2: P.x, f1: P.a, q1: P.x });
      assert.deepEqual(r.deleted, ['q1']);
      assert.deepEqual(r.kept, { q2: ['keepOnePerPlatform'], f1: ['keepOnePerPlatform'] });
    });

    test('a tag holding several platforms covers them all; a platform held by a kept tag needs no other', async () => {
      const list = tags('multi@10', 'q@20', 'f@30', 'stable@40');
      const platforms = { multi: P.both, q: P.x, f: P.a, stable: P.a };
      const r = await plan(list, { deleteOlderThan: '5h', keepTags: ['stable'], keepOnePerPlatform: true }, platforms);
      assert.deepEqual(r.deleted, ['f', 'q']);
      assert.deepEqual(r.kept, { multi: ['keepOnePerPlatform'], stable: ['keepTags'] });
      // If the only recent tag holds qemu, fc still needs its newest holder (stable is kept anyway).
      const r2 = await plan(tags('q@1', 'f@30', 'old-f@40'), { deleteOlderThan: '5h', keepOnePerPlatform: true }, { q: P.x, f: P.a, 'old-f': P.a });
      assert.deepEqual(r2.deleted, ['old-f']);
      assert.deepEqual(r2.kept, { q: ['recent'], f: ['keepOnePerPlatform'] });
    });

    test('with deleteOlderThan: recent tags cover their platforms; immutable ones too', async () => {
      const list = tags('v1@100!', 'f@50', 'q@60', 'q0@70');
      const r = await plan(list, { deleteOlderThan: '1d', keepOnePerPlatform: true }, { v1: P.x, f: P.a, q: P.x, q0: P.x });
      assert.deepEqual(r.deleted, ['q', 'q0']);
      assert.deepEqual(r.kept, { v1: ['immutable'], f: ['keepOnePerPlatform'] });
    });

    test('platforms are not read when nothing would be deleted', async () => {
      let asked = 0;
      await planRepository(tags('a@1', 'b@2'), rule({ keepLast: 5, keepOnePerPlatform: true }), NOW, async () => {
        asked++;
        return [];
      });
      assert.equal(asked, 0);
    });
  });
});
