import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyDiff, columnShape, decodeColumn, decodeDatum, defaultValue, encodeColumn, map, namedUuid, parseColumnType,
  parseSchema, set, toDatum, uuid, type ColumnType,
} from './datum.js';
import { readFileSync } from 'node:fs';

const U1 = '550e8400-e29b-41d4-a716-446655440000';
const U2 = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

const scalarStr = parseColumnType('string');
const optInt = parseColumnType({ key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 1 });
const setInt = parseColumnType({ key: { type: 'integer' }, min: 0, max: 4096 });
const refSet = parseColumnType({ key: { type: 'uuid', refTable: 'Port' }, min: 0, max: 'unlimited' });
const strMap = parseColumnType({ key: 'string', value: 'string', min: 0, max: 'unlimited' });

test('column shapes from schema types', () => {
  assert.equal(columnShape(scalarStr), 'scalar');
  assert.equal(columnShape(optInt), 'optional');
  assert.equal(columnShape(setInt), 'set');
  assert.equal(refSet.max, Infinity);
  assert.equal(columnShape(refSet), 'set');
  assert.equal(columnShape(strMap), 'map');
});

test('builders produce the wire forms', () => {
  assert.deepEqual(uuid(U1), ['uuid', U1]);
  assert.deepEqual(namedUuid('p_0'), ['named-uuid', 'p_0']);
  assert.throws(() => namedUuid('has-dash'), TypeError);
  assert.deepEqual(set(1, 2), ['set', [1, 2]]);
  assert.deepEqual(map({ a: '1' }), ['map', [['a', '1']]]);
  assert.deepEqual(map(new Map([['k', 'v']])), ['map', [['k', 'v']]]);
});

test('schema-less toDatum: tagged values pass through, arrays → sets, objects → maps, null → empty set', () => {
  assert.deepEqual(toDatum(['uuid', U1]), ['uuid', U1]);
  assert.deepEqual(toDatum(['set', [1]]), ['set', [1]]);
  assert.deepEqual(toDatum([1, 2]), ['set', [1, 2]]);
  assert.deepEqual(toDatum([uuid(U1)]), ['set', [['uuid', U1]]]);
  assert.deepEqual(toDatum({ a: 'b' }), ['map', [['a', 'b']]]);
  assert.deepEqual(toDatum(null), ['set', []]);
  assert.equal(toDatum('x'), 'x');
});

test('encodeColumn by type', () => {
  assert.equal(encodeColumn(scalarStr, 'eth0'), 'eth0');
  assert.equal(encodeColumn(optInt, 10), 10);
  assert.deepEqual(encodeColumn(optInt, null), ['set', []]);
  assert.deepEqual(encodeColumn(setInt, [1, 2]), ['set', [1, 2]]);
  assert.deepEqual(encodeColumn(setInt, 7), 7, 'a single element may be bare');
  // uuid columns: uuid strings become ["uuid"], identifiers become ["named-uuid"]
  assert.deepEqual(encodeColumn(refSet, [U1, 'p0']), ['set', [['uuid', U1], ['named-uuid', 'p0']]]);
  assert.deepEqual(encodeColumn(refSet, namedUuid('p0')), ['named-uuid', 'p0']);
  assert.deepEqual(encodeColumn(refSet, set(uuid(U1))), ['set', [['uuid', U1]]]);
  assert.deepEqual(encodeColumn(strMap, { a: '1', b: '2' }), ['map', [['a', '1'], ['b', '2']]]);
  assert.deepEqual(encodeColumn(strMap, map({ a: '1' })), ['map', [['a', '1']]]);
  assert.deepEqual(encodeColumn(strMap, { n: 5 }), ['map', [['n', '5']]], 'numbers in string maps are stringified');
  assert.throws(() => encodeColumn(optInt, 'ten'), TypeError);
  assert.throws(() => encodeColumn(refSet, 'not a uuid or name'), TypeError);
});

test('decodeColumn normalises bare singletons, empty sets, maps and uuids', () => {
  assert.deepEqual(decodeColumn(refSet, ['uuid', U1]), [U1]);
  assert.deepEqual(decodeColumn(refSet, ['set', [['uuid', U1], ['uuid', U2]]]), [U1, U2]);
  assert.deepEqual(decodeColumn(refSet, ['set', []]), []);
  assert.equal(decodeColumn(optInt, ['set', []]), null);
  assert.equal(decodeColumn(optInt, 5), 5);
  assert.equal(decodeColumn(optInt, ['set', [5]]), 5);
  assert.deepEqual(decodeColumn(setInt, 5), [5]);
  assert.deepEqual(decodeColumn(strMap, ['map', [['a', '1']]]), { a: '1' });
  assert.deepEqual(decodeColumn(strMap, ['map', []]), {});
  assert.equal(decodeColumn(scalarStr, 'x'), 'x');
  assert.throws(() => decodeColumn(strMap, 'x'), TypeError);
  assert.deepEqual(decodeDatum(['set', [['uuid', U1]]]), [U1]);
});

test('defaults for omitted columns', () => {
  assert.equal(defaultValue(scalarStr), '');
  assert.equal(defaultValue(parseColumnType('integer')), 0);
  assert.equal(defaultValue(parseColumnType('boolean')), false);
  assert.equal(defaultValue(optInt), null);
  assert.deepEqual(defaultValue(setInt), []);
  assert.deepEqual(defaultValue(strMap), {});
});

test('applyDiff: sets toggle, maps add/remove/change, optional and scalar replace', () => {
  assert.deepEqual(applyDiff(setInt, [1, 2], ['set', [1, 3]]), [2, 3]);
  assert.deepEqual(applyDiff(setInt, [], 4), [4]);
  assert.deepEqual(applyDiff(setInt, [4], 4), []);
  assert.deepEqual(applyDiff(strMap, { a: '1', b: '2' }, ['map', [['a', '9'], ['b', '2'], ['c', '3']]]), { a: '9', c: '3' });
  assert.equal(applyDiff(optInt, 10, 20), 20, 'replacement (what ovsdb-server sends)');
  assert.equal(applyDiff(optInt, 10, ['set', []]), null);
  assert.equal(applyDiff(optInt, null, 10), 10);
  assert.equal(applyDiff(optInt, 10, ['set', [10, 20]]), 20, 'toggle reading');
  assert.equal(applyDiff(optInt, 10, 10), null, 'toggle reading: removing the old value');
  assert.equal(applyDiff(scalarStr, 'a', 'b'), 'b');
});

test('parseSchema on the system vswitch schema', () => {
  const s = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')));
  assert.equal(s.name, 'Open_vSwitch');
  const port = s.tables.Port!;
  assert.equal(columnShape(port.columns.tag!.type), 'optional');
  assert.equal(columnShape(port.columns.trunks!.type), 'set');
  assert.equal(columnShape(port.columns.interfaces!.type), 'set');
  assert.equal(port.columns.interfaces!.type.min, 1);
  assert.deepEqual(s.tables.Bridge!.columns.fail_mode!.type.key.enum!.slice().sort(), ['secure', 'standalone']);
  assert.equal(s.tables.Interface!.columns.ofport!.ephemeral ?? false, false);
  assert.equal(s.tables.Open_vSwitch!.isRoot, true);
  assert.equal(s.tables.Bridge!.isRoot, false);
  const t: ColumnType = s.tables.Bridge!.columns.external_ids!.type;
  assert.equal(columnShape(t), 'map');
});
