import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from './store.js';
import { CLASSES, RELATIONS } from '../idl/index.js';
import { ApiError } from '../common/api-error.js';

function tempStore(): { store: Store; path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-store-'));
  const path = join(dir, 'db.sqlite');
  return { store: new Store({ path, classes: CLASSES, relations: RELATIONS }), path, dir };
}

test('writing VIF.network moves the VIF between the networks\' VIFs sets, with mod events for both', () => {
  const { store, dir } = tempStore();
  const [n1, n2, vm] = store.transact((tx) => [
    tx.create('network', { name_label: 'a', other_config: {} }),
    tx.create('network', { name_label: 'b', other_config: {} }),
    tx.create('VM', { name_label: 'vm' }),
  ]);
  const vif = store.transact((tx) => tx.create('VIF', { device: '0', network: n1, VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} }));
  assert.deepEqual(store.get('network', n1).VIFs, [vif]);
  assert.deepEqual(store.get('VM', vm).VIFs, [vif]);
  const before = store.generation;
  store.transact((tx) => tx.update('VIF', vif, { network: n2 }));
  assert.deepEqual(store.get('network', n1).VIFs, []);
  assert.deepEqual(store.get('network', n2).VIFs, [vif]);
  const changed = store.log.since(before, () => true).map((c) => `${c.op} ${c.cls}`).sort();
  assert.deepEqual(changed, ['mod VIF', 'mod network', 'mod network']);
  store.close();
  rmSync(dir, { recursive: true });
});

test('a transaction that throws leaves nothing behind', () => {
  const { store, dir } = tempStore();
  const n = store.transact((tx) => tx.create('network', { name_label: 'keep', other_config: {} }));
  const gen = store.generation;
  assert.throws(() => store.transact((tx) => {
    tx.update('network', n, { name_label: 'changed' });
    tx.create('network', { name_label: 'new', other_config: {} });
    throw new ApiError('INVALID_VALUE', ['x', 'y']);
  }), (e: unknown) => ApiError.is(e, 'INVALID_VALUE'));
  assert.equal(store.get('network', n).name_label, 'keep');
  assert.equal(store.count('network'), 1);
  assert.equal(store.generation, gen);
  store.close();
  rmSync(dir, { recursive: true });
});

test('records survive a reopen with inverse sets rebuilt, and sessions do not', () => {
  const { store, path, dir } = tempStore();
  const { host, pif, net } = store.transact((tx) => {
    const host = tx.create('host', { name_label: 'h' });
    const net = tx.create('network', { name_label: 'n', other_config: {} });
    const pif = tx.create('PIF', { device: 'eth0', host, network: net, MAC: 'aa:bb:cc:dd:ee:ff', MTU: 1500, VLAN: -1 });
    tx.create('session', { this_user: 'root' });
    return { host, pif, net };
  });
  const gen = store.generation;
  store.close();
  const again = new Store({ path, classes: CLASSES, relations: RELATIONS });
  assert.deepEqual(again.get('host', host).PIFs, [pif]);
  assert.deepEqual(again.get('network', net).PIFs, [pif]);
  assert.equal(again.get('PIF', pif).device, 'eth0');
  assert.equal(again.count('session'), 0);
  assert.equal(again.generation, gen);
  // every record carries every field of its class
  const fields = CLASSES.find((c) => c.name === 'PIF')!.fields.map((f) => f.name).sort();
  assert.deepEqual(Object.keys(again.get('PIF', pif)).sort(), fields);
  again.close();
  rmSync(dir, { recursive: true });
});

test('the change log coalesces: created-then-deleted is invisible, deleted-after-token is del', () => {
  const { store, dir } = tempStore();
  const old = store.transact((tx) => tx.create('network', { name_label: 'old', other_config: {} }));
  const token = store.generation;
  const fresh = store.transact((tx) => tx.create('network', { name_label: 'fresh', other_config: {} }));
  store.transact((tx) => tx.update('network', fresh, { name_label: 'fresher' }));
  const ghost = store.transact((tx) => tx.create('network', { name_label: 'ghost', other_config: {} }));
  store.transact((tx) => tx.destroy('network', ghost));
  store.transact((tx) => tx.destroy('network', old));
  const changes = store.log.since(token, () => true);
  assert.deepEqual(changes.map((c) => [c.op, c.ref]).sort(), [['add', fresh], ['del', old]].sort());
  store.close();
  rmSync(dir, { recursive: true });
});

test('a token older than the retained log is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-store-'));
  const store = new Store({ path: join(dir, 'db'), classes: CLASSES, relations: RELATIONS, changeLogSize: 3 });
  const start = store.generation;
  for (let i = 0; i < 5; i++) store.transact((tx) => tx.create('network', { name_label: `n${i}`, other_config: {} }));
  assert.equal(store.log.covers(start), false);
  assert.equal(store.log.covers(store.generation - 1), true);
  store.close();
  rmSync(dir, { recursive: true });
});

test('an indexed field is found by value across create, update, destroy, a rolled-back transaction and a reopen', () => {
  const { store, path, dir } = tempStore();
  const bridges = () => ({ a: store.lookup('network', 'bridge', 'br-a'), b: store.lookup('network', 'bridge', 'br-b') });
  const [n1, n2] = store.transact((tx) => {
    const n1 = tx.create('network', { name_label: '1', other_config: {}, bridge: 'br-a' });
    // The transaction sees its own writes, before and after they are committed.
    assert.deepEqual(tx.lookup('network', 'bridge', 'br-a'), [n1]);
    return [n1, tx.create('network', { name_label: '2', other_config: {}, bridge: 'br-a' })];
  });
  assert.deepEqual(bridges(), { a: [n1, n2], b: [] });
  store.transact((tx) => tx.update('network', n2, { bridge: 'br-b' }));
  assert.deepEqual(bridges(), { a: [n1], b: [n2] });
  // Rolled back: the index is as before.
  assert.throws(() => store.transact((tx) => {
    tx.update('network', n1, { bridge: 'br-b' });
    tx.destroy('network', n2);
    tx.create('network', { name_label: '3', other_config: {}, bridge: 'br-a' });
    assert.deepEqual(tx.lookup('network', 'bridge', 'br-b'), [n1]);
    assert.equal(tx.lookup('network', 'bridge', 'br-a').length, 1);
    throw new ApiError('INVALID_VALUE', ['x', 'y']);
  }));
  assert.deepEqual(bridges(), { a: [n1], b: [n2] });
  store.transact((tx) => tx.destroy('network', n1));
  assert.deepEqual(bridges(), { a: [], b: [n2] });
  store.close();
  const again = new Store({ path, classes: CLASSES, relations: RELATIONS });
  assert.deepEqual(again.lookup('network', 'bridge', 'br-b'), [n2]);
  assert.deepEqual(again.lookup('network', 'bridge', 'br-a'), []);
  assert.throws(() => again.lookup('network', 'name_label', '2'), /not indexed/);
  again.close();
  rmSync(dir, { recursive: true });
});

test('commits are applied at once and written in groups: settled resolves once they are in the database file', async () => {
  const { store, path, dir } = tempStore();
  const reader = new Database(path, { readonly: true });
  const onDisk = (ref: string) => !!reader.prepare('SELECT 1 FROM objects WHERE ref = ?').get(ref);
  const refs = Array.from({ length: 20 }, (_, i) => store.transact((tx) => tx.create('network', { name_label: `n${i}`, other_config: {} })));
  // In memory at once (the next transaction sees it), on disk only later: none of these yet,
  // since the writer is sent them after this synchronous run.
  assert.equal(store.count('network'), 20);
  assert.ok(refs.every((r) => !onDisk(r)));
  assert.ok(store.durableGeneration < store.generation);
  const wait = store.settled();
  assert.ok(wait, 'something to wait for');
  await wait;
  assert.ok(refs.every(onDisk), 'all written');
  assert.equal(store.durableGeneration, store.generation);
  assert.equal(store.settled(), undefined, 'nothing left to wait for');
  reader.close();
  store.close();
  rmSync(dir, { recursive: true });
});

test('a commit the disk refuses is never acknowledged, nor is anything after it', async () => {
  const { store, path, dir } = tempStore();
  store.transact((tx) => tx.create('network', { name_label: 'kept', other_config: {} }));
  await store.settled();
  // Make every later write fail inside the writer.
  const other = new Database(path);
  other.exec('DROP TABLE objects');
  other.close();
  store.transact((tx) => tx.create('network', { name_label: 'lost', other_config: {} }));
  await assert.rejects(store.settled()!, (e: unknown) => ApiError.is(e, 'INTERNAL_ERROR'));
  assert.throws(() => store.transact((tx) => tx.create('network', { name_label: 'refused', other_config: {} })),
    (e: unknown) => ApiError.is(e, 'INTERNAL_ERROR'));
  await assert.rejects(store.settled()!, (e: unknown) => ApiError.is(e, 'INTERNAL_ERROR'));
  store.close();
  rmSync(dir, { recursive: true });
});

test('empty sets and maps in records are one shared frozen value; a filled one is the record\'s own', () => {
  const { store, dir } = tempStore();
  const [a, b] = store.transact((tx) => [
    tx.create('network', { name_label: 'a', other_config: {}, tags: [] }),
    tx.create('network', { name_label: 'b', other_config: { k: 'v' }, tags: ['t'] }),
  ]);
  const ra = store.get('network', a), rb = store.get('network', b);
  assert.equal(ra.VIFs, rb.VIFs);
  assert.equal(ra.tags, rb.VIFs);
  assert.ok(Object.isFrozen(ra.other_config) && Object.isFrozen(ra.VIFs));
  assert.deepEqual([rb.other_config, rb.tags], [{ k: 'v' }, ['t']]);
  // Emptied again by an update: shared again.
  store.transact((tx) => tx.update('network', b, { other_config: {}, tags: [] }));
  assert.equal(store.get('network', b).other_config, ra.other_config);
  store.close();
  rmSync(dir, { recursive: true });
});
