// The hypervisor guest driver without I/O: finding a VIF from the hypervisor's metadata,
// shaping the compiled config, what is reported, devices going, ports adopted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHost } from './desired.js';
import { findVif, HypervisorGuests, NO_DEVICE } from './hypervisor.js';
import { PoolBuilder } from './pool-builder.js';
import type { ReconcileResult } from './reconcile.js';

function pool() {
  const b = new PoolBuilder();
  const host = b.host();
  const net = b.network('xenbr1');
  b.physical(host, 'eth1', net);
  const vm = b.vm(host, 1, false);
  b.set('VM', vm, { name_label: 'web' });
  const v0 = b.vif(vm, net, 0, '52:54:00:00:00:01');
  const v1 = b.vif(vm, net, 1, '52:54:00:00:00:02');
  return { b, host, net, vm, v0, v1 };
}

const uuid = (b: PoolBuilder, cls: 'VIF' | 'VM', r: string) => String(b.rec(cls, r).uuid);

test('findVif: by uuid, by VM (uuid or name) and device, by MAC; contradictions and ambiguity bind nothing', () => {
  const { b, vm, v0, v1 } = pool();
  const r = b.records;
  assert.equal((findVif(r, { vif: uuid(b, 'VIF', v1) }) as { ref: string }).ref, v1);
  assert.equal((findVif(r, { vm: 'web', vmDevice: 1 }) as { ref: string }).ref, v1);
  assert.equal((findVif(r, { vm: uuid(b, 'VM', vm), vmDevice: 0 }) as { ref: string }).ref, v0);
  assert.equal((findVif(r, { mac: '52:54:00:00:00:02' }) as { ref: string }).ref, v1);
  assert.match((findVif(r, { vif: uuid(b, 'VIF', v1), mac: '52:54:00:00:00:01' }) as { error: string }).error, /has MAC/);
  assert.match((findVif(r, { mac: '52:54:00:00:00:09' }) as { error: string }).error, /no VIF with MAC/);
  b.set('VIF', v1, { MAC: '52:54:00:00:00:01' });
  assert.match((findVif(r, { mac: '52:54:00:00:00:01' }) as { error: string }).error, /2 VIFs have MAC/);
  b.set('VM', vm, { is_a_template: true });
  assert.match((findVif(r, { vm: 'web', vmDevice: 0 }) as { error: string }).error, /template/);
});

function driver(links: string[], hasInnerDriver = true) {
  const log: string[] = [];
  const kicks: number[] = [];
  const set = new Set(links);
  const hv = new HypervisorGuests({ links: async () => set, hasInnerDriver, log: (m) => log.push(m), attachTimeoutMs: 5000 });
  return { hv, set, log, kicks };
}

const result = (over: Partial<ReconcileResult> = {}): ReconcileResult => ({ changes: [], errors: {}, writes: 0, state: { bridges: [] }, ...over });

test('add → bound and reported; the VIF port is the device once the records make it running; remove → stopped', async () => {
  const { b, host, vm, v0 } = pool();
  const { hv, set } = driver(['tap7']);
  let kicked = 0;
  hv.attach({ records: () => b.records, hostRef: () => host, kick: () => { kicked++; } });
  const answer = hv.handle({ op: 'add', device: 'tap7', domid: -1, find: { mac: '52:54:00:00:00:01' } });
  await new Promise((r) => setImmediate(r));
  assert.ok(kicked > 0);
  assert.deepEqual(hv.report(), { attached: { [v0]: { device: 'tap7', domid: -1 } }, stopped: [], unknown: [] });
  // The master made it so: the VM runs here with the VIF attached.
  b.set('VM', vm, { power_state: 'Running', resident_on: host, domid: 3 });
  b.set('VIF', v0, { currently_attached: true });
  const d = hv.shape(compileHost(b.records, host));
  assert.deepEqual(d.doc.vifs.map((v) => [v.name, v.bridge]), [['tap7', 'xenbr1']]);
  assert.equal(d.vms.length, 0, 'the netns driver never sees a hypervisor VM');
  await hv.afterPass(d, result({ state: { bridges: [{ name: 'xenbr1', id: '', ours: true, mtu: 1500, mac: null, up: true, addrs: [], tunnels: [], vifs: ['tap7'], interfaces: ['eth1', 'tap7'] }] } }));
  assert.deepEqual(await answer, { ok: true, message: `tap7 attached to VIF ${uuid(b, 'VIF', v0)} on xenbr1` });
  // The hypervisor removes it: its last device, so the VM has stopped.
  set.delete('tap7');
  assert.deepEqual(await hv.handle({ op: 'remove', device: 'tap7' }), { ok: true, message: 'tap7 detached' });
  assert.deepEqual(hv.report(), { attached: {}, stopped: [vm], unknown: [] });
  assert.deepEqual(hv.shape(compileHost(b.records, host)).doc.vifs, [], 'no port while the stop is on its way');
});

test('a VIF of a hypervisor VM without a device is an error, never a netns interface; other VMs stay with the inner driver', async () => {
  const { b, host, vm, net } = pool();
  const other = b.vm(host, 5, true);
  b.vif(other, net, 0, '52:54:00:00:00:05');
  const { hv } = driver(['tap1']);
  hv.attach({ records: () => b.records, hostRef: () => host, kick: () => {} });
  void hv.handle({ op: 'add', device: 'tap1', domid: 4, find: { vm: 'web', vmDevice: 1 } });
  await new Promise((r) => setImmediate(r)); // the device is looked up before it is bound
  b.set('VM', vm, { power_state: 'Running', resident_on: host, domid: 4 });
  for (const v of b.records.VM[vm]!.VIFs as string[]) b.set('VIF', v, { currently_attached: true });
  const d = hv.shape(compileHost(b.records, host));
  assert.deepEqual(d.doc.vifs.map((v) => v.name).sort(), ['tap1', 'vif5.0']);
  assert.deepEqual(d.vms.map((x) => x.ref), [other]);
  assert.equal(d.errors[(b.records.VM[vm]!.VIFs as string[])[0]!], NO_DEVICE);
  hv.close();
});

test('a device for no VIF is refused and reported until it goes; hostile metadata binds nothing', async () => {
  const { b, host } = pool();
  const { hv, set } = driver(['vnet0']);
  hv.attach({ records: () => b.records, hostRef: () => host, kick: () => {} });
  const r = await hv.handle({ op: 'add', device: 'vnet0', domid: 2, find: { mac: '52:54:00:00:00:99' } });
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /vnet0 is not bridged/);
  assert.deepEqual(hv.report().unknown, ['vnet0']);
  assert.equal((await hv.handle({ op: 'add', device: 'nope0', domid: 2, find: { mac: '52:54:00:00:00:01' } })).ok, false, 'no such device');
  set.delete('vnet0');
  await hv.afterPass(hv.shape(compileHost(b.records, host)), result());
  assert.deepEqual(hv.report().unknown, []);
});

test('a foreign port naming a VIF is adopted (bound, marked to take over); one naming no VIF is unknown', async () => {
  const { b, host, v1 } = pool();
  const { hv } = driver(['vnet1', 'vnet2']);
  hv.attach({ records: () => b.records, hostRef: () => host, kick: () => {} });
  await hv.afterPass(hv.shape(compileHost(b.records, host)), result({
    state: { bridges: [], foreignGuestPorts: [{ name: 'vnet1', bridge: 'xenbr1', vifUuid: uuid(b, 'VIF', v1) }, { name: 'vnet2', bridge: 'xenbr1', vifUuid: '00000000-0000-4000-8000-000000000000' }] },
  }));
  assert.deepEqual(hv.report(), { attached: { [v1]: { device: 'vnet1', domid: -1 } }, stopped: [], unknown: ['vnet2'] });
  const vm = String(b.rec('VIF', v1).VM);
  b.set('VM', vm, { power_state: 'Running', resident_on: host, domid: 2 });
  b.set('VIF', v1, { currently_attached: true });
  assert.deepEqual(hv.shape(compileHost(b.records, host)).doc.vifs.map((v) => [v.name, v.adopt]), [['vnet1', true]]);
});

test('a foreign port whose VIF is created later is adopted then; an unknown port is listed once', async () => {
  const { b, host, vm, net } = pool();
  const { hv } = driver(['vnet3']);
  let kicks = 0;
  hv.attach({ records: () => b.records, hostRef: () => host, kick: () => { kicks++; } });
  const later = '0f0e0d0c-0b0a-4900-8000-000000000003';
  const pass = () => hv.afterPass(hv.shape(compileHost(b.records, host)), result({ state: { bridges: [], foreignGuestPorts: [{ name: 'vnet3', bridge: 'xenbr1', vifUuid: later }] } }));
  await pass();
  assert.deepEqual(hv.report().unknown, ['vnet3']);
  const after1 = kicks;
  await pass();
  assert.equal(kicks, after1, 'nothing new: no further pass asked for');
  const v = b.vif(vm, net, 2, '52:54:00:00:00:03');
  b.set('VIF', v, { uuid: later });
  await pass();
  assert.deepEqual(hv.report(), { attached: { [v]: { device: 'vnet3', domid: -1 } }, stopped: [], unknown: [] });
});
