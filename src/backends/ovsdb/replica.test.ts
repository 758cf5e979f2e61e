import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSchema } from './datum.js';
import { Replica } from './replica.js';
import { encodeOp, insert, mutate, mDelete, mSetKey, select, update, wait, byUuid, eq } from './ops.js';

const schema = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')));
const P = '31bf3725-b15b-46ac-a160-6bb7b718d759';
const I = '19703cf4-4fa8-4e95-81d4-87fae60dc330';

function replica() {
  return new Replica(schema, { Port: ['name', 'interfaces', 'tag', 'trunks', 'other_config'], Interface: undefined });
}

test('update2: insert fills omitted defaults, modify applies diffs, delete removes', () => {
  const r = replica();
  let ch = r.apply({ Port: { [P]: { insert: { name: 'b1', interfaces: ['uuid', I] } } } }, 'update2');
  assert.deepEqual(r.get('Port', P), { _uuid: P, name: 'b1', interfaces: [I], tag: null, trunks: [], other_config: {} });
  assert.equal(ch.length, 1);
  assert.equal(ch[0]!.old, undefined);
  ch = r.apply({ Port: { [P]: { modify: { tag: 10, trunks: ['set', [1, 2]], other_config: ['map', [['a', '1']]] } } } }, 'update2');
  assert.deepEqual(ch[0]!.old!.tag, null);
  assert.deepEqual(ch[0]!.new!.tag, 10);
  r.apply({ Port: { [P]: { modify: { tag: ['set', []], trunks: ['set', [1, 3]], other_config: ['map', [['a', '1'], ['b', '2']]] } } } }, 'update2');
  const p = r.get('Port', P)!;
  assert.equal(p.tag, null);
  assert.deepEqual([...(p.trunks as number[])].sort(), [2, 3]);
  assert.deepEqual(p.other_config, { b: '2' });
  assert.equal(r.byName('Port', 'b1')?._uuid, P);
  ch = r.apply({ Port: { [P]: { delete: null } } }, 'update2');
  assert.equal(r.get('Port', P), undefined);
  assert.equal(ch[0]!.new, undefined);
  assert.equal(ch[0]!.old!.name, 'b1');
});

test('all columns of a table monitored without a column list', () => {
  const r = replica();
  r.apply({ Interface: { [I]: { initial: { name: 'eth0', ofport: 3 } } } }, 'update2');
  const row = r.get('Interface', I)!;
  assert.equal(row.ofport, 3);
  assert.equal(row.type, '');
  assert.deepEqual(row.options, {});
  assert.equal(row.mtu_request, null);
});

test('plain monitor updates: old/new', () => {
  const r = replica();
  r.apply({ Port: { [P]: { new: { name: 'b1', interfaces: ['uuid', I], tag: ['set', []], trunks: ['set', []], other_config: ['map', []] } } } }, 'update');
  r.apply({ Port: { [P]: { old: { tag: ['set', []] }, new: { name: 'b1', interfaces: ['uuid', I], tag: 5, trunks: 7, other_config: ['map', []] } } } }, 'update');
  assert.equal(r.get('Port', P)!.tag, 5);
  assert.deepEqual(r.get('Port', P)!.trunks, [7]);
  r.apply({ Port: { [P]: { old: { name: 'b1' } } } }, 'update');
  assert.equal(r.get('Port', P), undefined);
});

test('reset reports the differences from the previous content', () => {
  const r = replica();
  const Q = '00000000-0000-0000-0000-0000000000aa';
  r.apply({ Port: { [P]: { initial: { name: 'b1', tag: 1 } }, [Q]: { initial: { name: 'gone' } } } }, 'update2');
  const R = '00000000-0000-0000-0000-0000000000bb';
  const ch = r.reset({ Port: { [P]: { initial: { name: 'b1', tag: 2 } }, [R]: { initial: { name: 'new' } } } }, 'update2');
  const kinds = ch.map((c) => `${c.uuid.slice(-2)}:${c.old ? 'o' : ''}${c.new ? 'n' : ''}`).sort();
  assert.deepEqual(kinds, ['59:on', 'aa:o', 'bb:n']);
  assert.equal(r.get('Port', Q), undefined);
  assert.equal(r.get('Port', P)!.tag, 2);
  // an identical snapshot reports nothing
  assert.deepEqual(r.reset({ Port: { [P]: { initial: { name: 'b1', tag: 2 } }, [R]: { initial: { name: 'new' } } } }, 'update2'), []);
});

test('encodeOp uses the schema for rows, conditions and mutations', () => {
  assert.deepEqual(encodeOp(schema, insert('Port', { name: 'p', interfaces: ['i0'], tag: null, trunks: [1, 2] }, 'p0')), {
    op: 'insert', table: 'Port', 'uuid-name': 'p0',
    row: { name: 'p', interfaces: ['set', [['named-uuid', 'i0']]], tag: ['set', []], trunks: ['set', [1, 2]] },
  });
  assert.deepEqual(encodeOp(schema, update('Bridge', byUuid(P), { fail_mode: 'secure' })).where, [['_uuid', '==', ['uuid', P]]]);
  assert.deepEqual(encodeOp(schema, mutate('Bridge', [eq('name', 'b')], [...mSetKey('external_ids', 'k', 'v'), mDelete('ports', P)])).mutations, [
    ['external_ids', 'delete', ['set', ['k']]],
    ['external_ids', 'insert', ['map', [['k', 'v']]]],
    ['ports', 'delete', ['uuid', P]],
  ]);
  assert.deepEqual(encodeOp(schema, mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]])).mutations, [['next_cfg', '+=', 1]]);
  assert.deepEqual(encodeOp(schema, select('Interface', [['external_ids', 'includes', { 'xs-vif-uuid': 'x' }]])).where,
    [['external_ids', 'includes', ['map', [['xs-vif-uuid', 'x']]]]]);
  assert.deepEqual(encodeOp(schema, wait('Bridge', [], ['ports'], [{ ports: [P] }])).rows, [{ ports: ['set', [['uuid', P]]] }]);
  // unknown tables fall back to schema-less encoding
  assert.deepEqual(encodeOp(schema, insert('Nope', { a: [1] })).row, { a: ['set', [1]] });
});
