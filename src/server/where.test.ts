// The database text of values, as xapi's where-expressions compare them (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { t } from '../idl/meta.js';
import { columnOf, marshal, parseWhere } from './where.js';

test('floats are written as C\'s %.18g', () => {
  const cases: [number, string][] = [
    [0.1, '0.100000000000000006'], [1, '1'], [0.5, '0.5'], [1e-5, '1.00000000000000008e-05'],
    [123456789012345678901, '1.23456789012345684e+20'], [-2.5, '-2.5'], [0.0001, '0.000100000000000000005'],
    [1e18, '1e+18'], [1e17, '100000000000000000'], [0.3, '0.299999999999999989'], [0, '0'],
  ];
  for (const [v, text] of cases) assert.equal(marshal(t.float, v), text, String(v));
});

test('sets, maps, ints, booleans and namespaced columns', () => {
  assert.equal(marshal(t.set(t.int), [1, 20]), "('1' '20')");
  assert.equal(marshal(t.set(t.string), []), '()');
  assert.equal(marshal(t.map(t.string, t.string), { "a'b": 'c\\d' }), "(('a\\'b' 'c\\\\d'))");
  assert.equal(marshal(t.bool, false), 'false');
  assert.equal(marshal(t.int, -1), '-1');
  assert.deepEqual(['name_label', 'qos_algorithm_params', 'MTU', 'PV_drivers_version', 'API_version_major', 'io_read_kbs'].map(columnOf),
    ['name__label', 'qos__algorithm_params', 'MTU', 'PV_drivers_version', 'API_version__major', 'io__read_kbs']);
});

test('the grammar: not over the chain after it, and/or left to right', () => {
  const eq = { op: 'eq', a: { kind: 'field', column: 'a' }, b: { kind: 'literal', text: 'x' } };
  assert.deepEqual(parseWhere('not field "a" = "x" or true'), { op: 'not', e: { op: 'or', a: eq, b: { op: 'const', value: true } } });
  assert.deepEqual(parseWhere('true or false and false'),
    { op: 'and', a: { op: 'or', a: { op: 'const', value: true }, b: { op: 'const', value: false } }, b: { op: 'const', value: false } });
  assert.deepEqual(parseWhere('(not true) and false'),
    { op: 'and', a: { op: 'not', e: { op: 'const', value: true } }, b: { op: 'const', value: false } });
});
