import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
