// The hub hears that a host's Open vSwitch is down (`unrealised`): calls waiting on those objects
// fail at once with the reason, and the wish (currently_attached) is left alone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../db/store.js';
import { CLASSES, RELATIONS } from '../idl/index.js';
import { RealisationHub } from './realise.js';
import { emptyReport } from '../protocol/host-agent.js';

test('unrealised objects: waiting calls fail at once with the reason, currently_attached stays; a later report clears it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-hub-'));
  const store = new Store({ path: join(dir, 'db.sqlite'), classes: CLASSES, relations: RELATIONS });
  try {
    const [host, net] = store.transact((tx) => [tx.create('host', { name_label: 'h' }), tx.create('network', { name_label: 'n', other_config: {} })]);
    const pif = store.transact((tx) => tx.create('PIF', { host, network: net, device: 'eth0', currently_attached: true }));
    const hub = new RealisationHub(store);
    hub.timeoutMs = 60_000; // far beyond the test: only the report may end the wait
    hub.report(host, store.generation, { ...emptyReport('fake') });

    store.transact((tx) => tx.update('PIF', pif, { other_config: { mtu: '9000' } }));
    const waiting = hub.wait(host, [pif]);
    const why = 'Open vSwitch: ovs-vswitchd is not running';
    hub.report(host, store.generation - 1, { ...emptyReport('fake'), unrealised: { [pif]: why } });
    await assert.rejects(waiting, (e: { code?: string; params?: unknown[] }) => e.code === 'PIF_CONFIGURATION_ERROR' && e.params?.[1] === why);
    // A new call fails at once too, while the host says so.
    await assert.rejects(hub.wait(host, [pif]), /PIF_CONFIGURATION_ERROR/);
    assert.equal(store.get('PIF', pif).currently_attached, true, 'the wish stands');

    // The switch is back: the next report has no unrealised, and the wait is answered.
    hub.report(host, store.generation, { ...emptyReport('fake') });
    await hub.wait(host, [pif]);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Bond.active_member: the member the agent names by device, NULL when it names none or a PIF outside the bond', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-hub-'));
  const store = new Store({ path: join(dir, 'db.sqlite'), classes: CLASSES, relations: RELATIONS });
  try {
    const { host, eth2, eth3, bond } = store.transact((tx) => {
      const host = tx.create('host', { name_label: 'h' });
      const network = tx.create('network', { name_label: 'n', other_config: {} });
      const pif = (device: string, more = {}) => tx.create('PIF', { host, network, device, ...more });
      const master = pif('bond0');
      const bond = tx.create('Bond', { master, mode: 'active-backup' });
      // Bond.slaves is the other end of PIF.bond_slave_of.
      const [eth2, eth3] = [pif('eth2', { bond_slave_of: bond }), pif('eth3', { bond_slave_of: bond })];
      pif('eth4');
      assert.deepEqual([...tx.get('Bond', bond).slaves].sort(), [eth2, eth3].sort());
      return { host, eth2, eth3, bond };
    });
    const hub = new RealisationHub(store);
    const report = (Bonds: ReturnType<typeof emptyReport>['Bonds']) => hub.report(host, store.generation, { ...emptyReport('fake'), Bonds });
    assert.equal(store.get('Bond', bond).active_member, 'OpaqueRef:NULL', 'none until the agent says');

    report({ [bond]: { links_up: 2, active_member: 'eth2' } });
    assert.equal(store.get('Bond', bond).active_member, eth2);
    // A pulled cable: the same generation, the other member now active; the change is an event.
    const before = store.generation;
    report({ [bond]: { links_up: 1, active_member: 'eth3' } });
    assert.deepEqual([store.get('Bond', bond).active_member, store.get('Bond', bond).links_up], [eth3, 1]);
    assert.ok(store.generation > before, 'the change is written (event clients see it)');
    const unchanged = store.generation;
    report({ [bond]: { links_up: 1, active_member: 'eth3' } });
    assert.equal(store.generation, unchanged, 'the same report writes nothing');

    // A device of the host that is not a member of this bond is not taken; no member active is NULL.
    report({ [bond]: { links_up: 1, active_member: 'eth4' } });
    assert.equal(store.get('Bond', bond).active_member, 'OpaqueRef:NULL');
    report({ [bond]: { links_up: 2, active_member: 'eth3' } });
    report({ [bond]: { links_up: 0 } });
    assert.equal(store.get('Bond', bond).active_member, 'OpaqueRef:NULL');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a touch of one host's record (PIF.scan) is not waited for on another host, whose agent has nothing to answer", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-hub-'));
  const store = new Store({ path: join(dir, 'db.sqlite'), classes: CLASSES, relations: RELATIONS });
  try {
    const [a, b] = store.transact((tx) => [tx.create('host', { name_label: 'a' }), tx.create('host', { name_label: 'b' })]);
    const hub = new RealisationHub(store);
    hub.timeoutMs = 60_000; // far beyond the test: only a report may end a wait
    // The first reports write the hosts' backend; the second ones change nothing.
    for (const h of [a, b, a, b]) hub.report(h, store.generation, { ...emptyReport('fake') });
    store.transact((tx) => tx.touch('host', b));
    // a's agent sees no change: a wait on a is answered by what it already reported.
    await hub.wait(a);
    // b's agent answers its touch: the wait on b is for that report.
    let answered = false;
    const onB = hub.wait(b).then(() => { answered = true; });
    await Promise.resolve();
    assert.equal(answered, false, 'b waits for its answer to the touch');
    hub.report(b, store.generation, { ...emptyReport('fake') });
    await onB;
    // A real change to a followed class is waited for on every host.
    store.transact((tx) => tx.update('host', b, { name_description: 'changed' }));
    let onA = false;
    const waitA = hub.wait(a).then(() => { onA = true; });
    await Promise.resolve();
    assert.equal(onA, false, 'a waits for its report of a change');
    hub.report(a, store.generation, { ...emptyReport('fake') });
    await waitA;
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
