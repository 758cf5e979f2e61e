import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Value } from '../idl/meta.js';
import { sameValue } from './records.js';

/** A random wire value from a small alphabet, so that equal ones come up often. */
function randomValue(next: () => number, depth = 0): Value {
  const k = Math.floor(next() * (depth > 2 ? 4 : 6));
  if (k === 0) return ['a', 'b', '', 'OpaqueRef:NULL'][Math.floor(next() * 4)]!;
  if (k === 1) return Math.floor(next() * 3);
  if (k === 2) return next() < 0.5;
  if (k === 3) return next() < 0.3 ? null : String(Math.floor(next() * 2));
  if (k === 4) return Array.from({ length: Math.floor(next() * 3) }, () => randomValue(next, depth + 1));
  const o: Record<string, Value> = {};
  for (const key of ['x', 'y', 'z']) if (next() < 0.5) o[key] = randomValue(next, depth + 1);
  return o;
}

test('sameValue says what comparing the JSON texts says, for values with their keys in one order', () => {
  let seed = 7;
  const next = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  let equal = 0;
  for (let i = 0; i < 20000; i++) {
    const [a, b] = [randomValue(next), randomValue(next)];
    const json = JSON.stringify(a) === JSON.stringify(b);
    if (json) equal++;
    assert.equal(sameValue(a, b), json, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    assert.equal(sameValue(a, JSON.parse(JSON.stringify(a)) as Value), true);
  }
  assert.ok(equal > 500, `${equal} equal pairs: the comparison is tried on equal values too`);
  // Key order aside: the same members in another order are the same record.
  assert.equal(sameValue({ x: 1, y: [1, 2] }, { y: [1, 2], x: 1 }), true);
  assert.equal(sameValue({ x: 1 }, { x: 1, y: null }), false);
  assert.equal(sameValue([1, 2], { 0: 1, 1: 2 }), false);
});
