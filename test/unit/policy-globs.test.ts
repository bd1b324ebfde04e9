/**
 * The shared "most specific glob wins" matcher (src/policy/globs.ts), on rules
 * that are not access rules. Each case sets up rules where the rule that must
 * win would lose under the next tie-breaker or under the order written, so a
 * matcher that skipped or reordered a tie-breaker gives the other answer.
 * (The access rules' own precedence tests are in auth-policy.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GlobRules, globToRegExp } from '../../src/policy/globs.js';

interface Rule {
  repository: string;
  id: string;
}

const pick = (rules: Rule[], repo: string) => new GlobRules(rules).ruleFor(repo)?.id;

test('an exact name beats a glob with as many literals written before it', () => {
  const rules = [
    { repository: 'team/app*', id: 'glob' },
    { repository: 'team/app', id: 'exact' },
  ];
  assert.equal(pick(rules, 'team/app'), 'exact');
  assert.equal(pick(rules, 'team/app2'), 'glob');
});

test('more literal characters win, even with more ** and written later', () => {
  const rules = [
    { repository: '*/*', id: 'short' },
    { repository: 'team/**', id: 'team' },
  ];
  assert.equal(pick(rules, 'team/app'), 'team');
  assert.equal(pick(rules, 'other/app'), 'short');
});

test('with equal literals, fewer ** wins, even written later', () => {
  const rules = [
    { repository: 'team/**', id: 'deep' },
    { repository: 'team/*', id: 'flat' },
  ];
  assert.equal(pick(rules, 'team/app'), 'flat');
  assert.equal(pick(rules, 'team/app/cache'), 'deep');
});

test('otherwise the rule written first wins; no match gives undefined', () => {
  const a = { repository: 'te*/app', id: 'a' };
  const b = { repository: 'team/*p', id: 'b' };
  assert.equal(pick([a, b], 'team/app'), 'a');
  assert.equal(pick([b, a], 'team/app'), 'b');
  assert.equal(pick([a, b], 'other/x'), undefined);
  assert.equal(pick([], 'team/app'), undefined);
});

test('rules lists every rule, most specific first; globToRegExp is anchored', () => {
  const rules = new GlobRules([
    { repository: '**', id: 'all' },
    { repository: 'team/*', id: 'team' },
    { repository: 'team/app', id: 'app' },
  ]);
  assert.deepEqual(rules.rules.map((r) => r.id), ['app', 'team', 'all']);
  assert.ok(globToRegExp('a.b').test('a.b'));
  assert.ok(!globToRegExp('a.b').test('axb'));
  assert.ok(!globToRegExp('team/*').test('team/a/b'));
});
