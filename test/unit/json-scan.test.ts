import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsonDepth, MAX_JSON_DEPTH, topLevelArraySpans, valueDeeperThan } from '../../src/oci/json-scan.js';

const b = (s: string) => Buffer.from(s);

describe('jsonDepth', () => {
  test('counts arrays and objects outside strings', () => {
    assert.equal(jsonDepth(b('1')), 0);
    assert.equal(jsonDepth(b('{}')), 1);
    assert.equal(jsonDepth(b('{"a":[{"b":[]}]}')), 4);
    assert.equal(jsonDepth(b('["[[[{{{", "\\"[[[", "\\\\", [1]]')), 2);
    assert.equal(jsonDepth(b('[[],[[]],[]]')), 3);
  });
  test('stops just past the limit, however deep the input', () => {
    const deep = b('['.repeat(1_000_000) + ']'.repeat(1_000_000));
    assert.equal(jsonDepth(deep, MAX_JSON_DEPTH), MAX_JSON_DEPTH + 1);
    assert.equal(jsonDepth(deep), 1_000_000);
  });
});

describe('valueDeeperThan', () => {
  test('walks without recursion', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    assert.equal(valueDeeperThan(deep, 64), true);
    assert.equal(valueDeeperThan({ a: [{ b: 1 }] }, 3), false);
    assert.equal(valueDeeperThan({ a: [{ b: {} }] }, 3), true);
    assert.equal(valueDeeperThan('x', 0), false);
  });
});

describe('topLevelArraySpans', () => {
  const spans = (s: string, key = 'manifests') => {
    const bytes = b(s);
    const r = topLevelArraySpans(bytes, key);
    const text = (span: { start: number; end: number }) => bytes.subarray(span.start, span.end).toString();
    return r && { array: text(r.array), elements: r.elements.map(text) };
  };
  test('finds each element with its exact bytes', () => {
    const s = '{"a":"manifests","manifests" : [ {"x":"],[}"} ,\n [1,[2]],"s\\"]", 3 ],"z":[9]}';
    assert.deepEqual(spans(s), { array: '[ {"x":"],[}"} ,\n [1,[2]],"s\\"]", 3 ]', elements: ['{"x":"],[}"}', '[1,[2]]', '"s\\"]"', '3'] });
    assert.deepEqual(spans('{"manifests":[]}'), { array: '[]', elements: [] });
  });
  test('the last of duplicate keys, escaped keys, nested keys ignored', () => {
    assert.deepEqual(spans('{"manifests":[1],"manifests":[2,3]}')?.elements, ['2', '3']);
    assert.deepEqual(spans('{"manif\\u0065sts":[4]}')?.elements, ['4']);
    assert.equal(spans('{"o":{"manifests":[1]}}'), undefined);
    assert.equal(spans('{"manifests":{"a":[1]}}'), undefined);
    assert.equal(spans('[{"manifests":[1]}]'), undefined);
  });
  test('agrees with JSON.parse on every element', () => {
    const index = { schemaVersion: 2, manifests: [{ a: '\u2028"' }, [[[]]], null, 'x'], annotations: { manifests: '[' } };
    const s = JSON.stringify(index, null, 2);
    assert.deepEqual(spans(s)?.elements.map((e) => JSON.parse(e) as unknown), index.manifests);
  });
});
