import assert from 'node:assert/strict';
import { test } from 'node:test';
// The OVS planner on the in-memory switch: the minimal plan for each change (one transaction,
// rows updated in place, foreign rows left alone). What the host ends up as is the scenario
// suite's business (test/scenarios); this is about how the driver gets there.
import { compileHost } from '../../agent/desired.js';
import { PoolBuilder } from '../../agent/pool-builder.js';
import type { PoolRecords } from '../../agent/records.js';
import { hostState } from './driver.js';
import { MemorySwitch } from './memory.js';
import { emptyObserved, OWNER_KEY, type Action, type OvsConfig } from './model.js';
import { findConflicts, planChanges } from './plan.js';
import { ovsRows } from './rows.js';
import { defined } from '../../common/defined.js';

const HU = '11111111-2222-3333-4444-555555555555';
const compileHostConfig = (records: PoolRecords, host: string): OvsConfig => ovsRows(compileHost(records, host).doc, '');
const kinds = (as: Action[]) => as.map((a) => a.kind);
const summary = (as: Action[]) => as.map((a) => {
  switch (a.kind) {
    case 'add-bridge': return `add-bridge ${a.bridge.name}`;
    case 'add-port': return `add-port ${a.port.bridge}/${a.port.name}`;
    case 'del-port': case 'del-bridge': case 'update-bridge': case 'update-port': case 'update-iface': return `${a.kind} ${a.name}`;
    case 'link-up': return `link-up ${a.dev}`;
    case 'link-down': return `link-down ${a.dev}`;
    case 'addr-add': case 'addr-del': return `${a.kind} ${a.dev} ${a.cidr}`;
    case 'route-default': return `route-default ${a.dev} ${a.via}`;
    case 'move-l3': return `move-l3 ${a.from} ${a.to}`;
  }
});

/** Applies the plan to a fake host and checks that the next plan is empty (convergence). */
async function converge(fake: MemorySwitch, cfg: OvsConfig): Promise<Action[]> {
  const plan = planChanges(cfg, await fake.observe());
  const r = await fake.apply(plan);
  assert.deepEqual(r.errors, {});
  assert.deepEqual(planChanges(cfg, await fake.observe()), [], 'a second reconcile has nothing to do');
  return plan;
}

function mgmtPool() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0');
  const p0 = b.physical(h, 'eth0', n0, { MAC: '02:00:00:00:00:01', mode: 'Static', IP: '10.1.0.5', netmask: '255.255.255.0', gateway: '10.1.0.1', management: true });
  return { b, h, n0, p0 };
}

test('empty desired vs empty observed: no action', () => {
  const cfg = compileHostConfig(new PoolBuilder().records, 'OpaqueRef:none');
  assert.deepEqual(planChanges(cfg, emptyObserved()), []);
});

test('physical network: create bridge, add NIC, raise links, address, default route — then nothing', async () => {
  const { b, h } = mgmtPool();
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  const plan = await converge(fake, compileHostConfig(b.records, h));
  assert.deepEqual(summary(plan), [
    'add-bridge xenbr0', 'add-port xenbr0/eth0', 'link-up xenbr0', 'link-up eth0',
    'addr-add xenbr0 10.1.0.5/24', 'route-default xenbr0 10.1.0.1',
  ]);
  assert.equal(fake.transactions, 1, 'all switch changes in one transaction');
});

test("a NIC holding the host's address: it moves to the bridge in one step, before the address work; the NIC keeps none", async () => {
  const { b, h } = mgmtPool();
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  fake.setAddrs('eth0', ['10.1.0.5/24'], '10.1.0.1');
  const plan = await converge(fake, compileHostConfig(b.records, h));
  assert.deepEqual(summary(plan), [
    'add-bridge xenbr0', 'add-port xenbr0/eth0', 'link-up xenbr0', 'link-up eth0', 'move-l3 eth0 xenbr0',
    'addr-add xenbr0 10.1.0.5/24', 'route-default xenbr0 10.1.0.1',
  ]);
  const o = await fake.observe();
  assert.deepEqual(o.links.get('eth0')!.addrs, []);
  assert.deepEqual(o.links.get('xenbr0')!.addrs, ['10.1.0.5/24']);
  assert.deepEqual(o.defaultRoute, { dev: 'xenbr0', via: '10.1.0.1' });
  // A NIC already taken over that has got an address again (by hand, or an old agent) gives it up too.
  fake.setAddrs('eth0', ['10.1.0.5/24']);
  assert.deepEqual(summary(planChanges(compileHostConfig(b.records, h), await fake.observe())), ['move-l3 eth0 xenbr0']);
});

test("bond members holding addresses give them to the bond's bridge", async () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const s0 = b.physical(h, 'eth0', b.network('xenbr0'), { attached: false });
  const s1 = b.physical(h, 'eth1', b.network('xenbr1'), { attached: false });
  b.bond(h, b.network('xapi1'), [s0, s1], 'active-backup', {}, { mode: 'Static', IP: '10.1.0.5', netmask: '255.255.255.0', management: true });
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  fake.setAddrs('eth1', ['10.1.0.5/24']);
  const plan = summary(await converge(fake, compileHostConfig(b.records, h)));
  assert.ok(plan.indexOf('move-l3 eth1 xapi1') > plan.indexOf('link-up xapi1') && plan.indexOf('move-l3 eth1 xapi1') < plan.indexOf('addr-add xapi1 10.1.0.5/24'), plan.join(', '));
  assert.deepEqual((await fake.observe()).links.get('eth1')!.addrs, []);
});

test('internal network bridge exists only while a VIF wants it', async () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const ni = b.network('xapi2');
  const vm = b.vm(h, 3);
  const v = b.vif(vm, ni, 0, '02:00:00:00:03:00');
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  fake.addLink('vif3.0', 'fe:ff:ff:ff:ff:ff');
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), [
    'add-bridge xapi2', 'add-port xapi2/vif3.0', 'link-up xapi2', 'link-up vif3.0',
  ]);
  b.set('VIF', v, { currently_attached: false });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['del-bridge xapi2']);
});

test('a paused VM\'s VIF: its port stays, its device is set down; unpaused, up again', async () => {
  const { b, h, n0 } = mgmtPool();
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  await converge(fake, compileHostConfig(b.records, h));
  const vm = b.vm(h, 8);
  b.vif(vm, n0, 0, '02:00:00:00:08:00');
  fake.addLink('vif8.0', 'fe:ff:ff:ff:ff:ff');
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['add-port xenbr0/vif8.0', 'link-up vif8.0']);
  b.set('VM', vm, { power_state: 'Paused' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['link-down vif8.0']);
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), [], 'nothing more while paused');
  b.set('VM', vm, { power_state: 'Running' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['link-up vif8.0']);
});

test('VIF add/remove leaves the other ports alone; locking change is an update', async () => {
  const { b, h, n0 } = mgmtPool();
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  await converge(fake, compileHostConfig(b.records, h));
  const vm = b.vm(h, 7);
  const v0 = b.vif(vm, n0, 0, '02:00:00:00:07:00');
  fake.addLink('vif7.0', 'fe:ff:ff:ff:ff:ff');
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['add-port xenbr0/vif7.0', 'link-up vif7.0']);
  b.set('VIF', v0, { locking_mode: 'locked', ipv4_allowed: ['10.1.0.77'] });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['update-port vif7.0']);
  b.set('VIF', v0, { locking_mode: 'disabled' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['del-port vif7.0']);
  b.set('VIF', v0, { locking_mode: 'unlocked' });
  await converge(fake, compileHostConfig(b.records, h));
  b.set('VM', vm, { power_state: 'Halted' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['del-port vif7.0']);
});

test('MTU change updates interfaces in place; IP change swaps the address', async () => {
  const { b, h, n0, p0 } = mgmtPool();
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  await converge(fake, compileHostConfig(b.records, h));
  const before = (await fake.observe()).ports.get('eth0')!.uuid;
  b.set('network', n0, { MTU: 9000 });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['update-iface xenbr0', 'update-iface eth0']);
  const obs = await fake.observe();
  assert.equal(obs.ports.get('eth0')!.uuid, before, 'the port was not re-created');
  assert.equal(obs.links.get('eth0')!.mtu, 9000);
  b.set('PIF', p0, { IP: '10.1.0.6' });
  // The kernel drops the default route with the device's last address: it is set again.
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['addr-del xenbr0 10.1.0.5/24', 'addr-add xenbr0 10.1.0.6/24', 'route-default xenbr0 10.1.0.1']);
  b.set('PIF', p0, { ip_configuration_mode: 'None' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['addr-del xenbr0 10.1.0.6/24']);
});

test('VLAN: fake bridge on the parent; removing it keeps the parent when attached', async () => {
  const { b, h } = mgmtPool();
  const p0 = defined(Object.keys(b.records.PIF)[0], 'a PIF');
  const nv = b.network('xapi4');
  const v = b.vlan(h, p0, nv, 12);
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  const plan = await converge(fake, compileHostConfig(b.records, h));
  assert.ok(summary(plan).includes('add-port xenbr0/xapi4'));
  const obs = await fake.observe();
  assert.equal(obs.ports.get('xapi4')!.tag, 12);
  assert.equal(obs.ports.get('xapi4')!.fake_bridge, true);
  assert.deepEqual(hostState(HU, obs).bridges.map((x) => x.name), ['xapi4', 'xenbr0']);
  b.set('PIF', v, { currently_attached: false });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h))), ['del-port xapi4']);
});

test('bond: member NICs move from their own bridges into one bond port in one transaction', async () => {
  for (const mode of ['balance-slb', 'active-backup', 'lacp']) {
    const b = new PoolBuilder();
    const h = b.host(HU);
    const s0 = b.physical(h, 'eth0', b.network('xenbr0'));
    const s1 = b.physical(h, 'eth1', b.network('xenbr1'));
    const fake = new MemorySwitch({ nics: 2, seed: HU });
    await converge(fake, compileHostConfig(b.records, h));
    const tx = fake.transactions;
    b.bond(h, b.network('xapi1'), [s0, s1], mode);
    const plan = await converge(fake, compileHostConfig(b.records, h));
    assert.deepEqual(summary(plan).filter((s) => !s.startsWith('link-up')), ['del-bridge xenbr0', 'del-bridge xenbr1', 'add-bridge xapi1', 'add-port xapi1/bond0'], mode);
    assert.equal(fake.transactions, tx + 1);
    const bond = (await fake.observe()).ports.get('bond0')!;
    assert.deepEqual(bond.interfaces.map((i) => i.name), ['eth0', 'eth1']);
    assert.equal(bond.bond_mode, mode === 'lacp' ? 'balance-tcp' : mode);
    assert.equal(bond.lacp, mode === 'lacp' ? 'active' : 'off');
    assert.deepEqual(hostState(HU, await fake.observe()).bridges[0]!.uplink?.members, [{ name: 'eth0', up: true }, { name: 'eth1', up: true }]);
  }
});

test('tunnel mesh: adding and removing a peer touches only that peer\'s port', async () => {
  const b = new PoolBuilder();
  const uu = [HU, 'aaaaaaaa-0000-0000-0000-000000000002', 'bbbbbbbb-0000-0000-0000-000000000003'];
  const hosts = uu.map((u) => b.host(u));
  const nt = b.network('xenbr1');
  const pn = b.network('xapi9', 1500, { 'xcpnet-tunnel-key': '5' });
  const access = hosts.map((h, i) => b.tunnel(h, b.physical(h, 'eth1', nt, { mode: 'Static', IP: `10.9.0.${i + 1}`, netmask: '255.255.255.0' }), pn, 'gre'));
  const h0 = defined(hosts[0], 'host 0'), h2 = defined(hosts[2], 'host 2');
  const a1 = defined(access[1], 'access PIF 1'), a2 = defined(access[2], 'access PIF 2');
  b.set('PIF', a2, { currently_attached: false });
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  await converge(fake, compileHostConfig(b.records, h0));
  const kept = [...(await fake.observe()).ports.values()].find((p) => p.interfaces[0]?.type === 'gre')!;
  assert.equal(kept.interfaces[0]?.options.remote_ip, '10.9.0.2');
  b.set('PIF', a2, { currently_attached: true });
  const add = await converge(fake, compileHostConfig(b.records, h0));
  assert.equal(add.length, 1);
  assert.equal(add[0]?.kind, 'add-port');
  b.set('PIF', a1, { currently_attached: false });
  const del = await converge(fake, compileHostConfig(b.records, h0));
  assert.deepEqual(summary(del), [`del-port ${kept.name}`]);
  // remote transport IP change: that peer's port is replaced (its name carries the address), no other
  b.set('PIF', Object.keys(b.records.PIF).find((r) => b.rec('PIF', r).host === h2 && b.rec('PIF', r).device === 'eth1')!, { IP: '10.9.0.33' });
  assert.deepEqual(summary(await converge(fake, compileHostConfig(b.records, h0))), ['del-port t0a090003000005', 'add-port xapi9/t0a090021000005']);
});

test('foreign rows are left alone and block only the objects that need their names', async () => {
  const { b, h, p0 } = mgmtPool();
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  fake.addForeign('br-ext', 'br-ext');
  fake.addForeign('xenbr0');
  const cfg = compileHostConfig(b.records, h);
  const plan = planChanges(cfg, await fake.observe());
  assert.ok(plan.every((a) => a.kind !== 'del-bridge' && a.kind !== 'add-bridge' && a.kind !== 'add-port'), summary(plan).join());
  assert.match(defined(findConflicts(cfg, await fake.observe())[p0], 'conflict on eth0'), /xenbr0 exists and is not managed/);
  // no ownership marker → never removed, even with nothing desired
  const empty = compileHostConfig(new PoolBuilder().records, 'OpaqueRef:none');
  assert.deepEqual(planChanges({ ...empty, hostUuid: HU }, await fake.observe()), []);
});

test('rows owned by us but removed by hand are re-created; rows we no longer want are removed', async () => {
  const { b, h } = mgmtPool();
  const fake = new MemorySwitch({ nics: 1, seed: HU });
  const cfg = compileHostConfig(b.records, h);
  await converge(fake, cfg);
  fake.removePortByHand('eth0');
  assert.deepEqual(summary(planChanges(cfg, await fake.observe())), ['add-port xenbr0/eth0']);
  fake.removeBridgeByHand('xenbr0');
  const again = await converge(fake, cfg);
  assert.deepEqual(summary(again).slice(0, 2), ['add-bridge xenbr0', 'add-port xenbr0/eth0']);
  const obs = await fake.observe();
  assert.equal(obs.bridges.get('xenbr0')!.external_ids[OWNER_KEY], HU);
});

test('port whose interface type changes is rebuilt', async () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const hb = b.host('aaaaaaaa-0000-0000-0000-000000000002');
  const nt = b.network('xenbr1');
  const pn = b.network('xapi9', 1400, { 'xcpnet-tunnel-key': '5' }); // fits gre and vxlan: the MTU stays
  b.tunnel(h, b.physical(h, 'eth1', nt, { mode: 'Static', IP: '10.9.0.1', netmask: '255.255.255.0' }), pn, 'gre');
  b.tunnel(hb, b.physical(hb, 'eth1', nt, { mode: 'Static', IP: '10.9.0.2', netmask: '255.255.255.0' }), pn, 'gre');
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  await converge(fake, compileHostConfig(b.records, h));
  for (const t of Object.keys(b.records.tunnel)) b.set('tunnel', t, { protocol: 'vxlan' });
  assert.deepEqual(kinds(await converge(fake, compileHostConfig(b.records, h))), ['del-port', 'add-port']);
});

test('rows: a bond uplink as xcp-networkd lays it on OVS, per mode', () => {
  for (const [mode, props, bondMode, lacp] of [
    ['balance-slb', {}, 'balance-slb', 'off'],
    ['active-backup', {}, 'active-backup', 'off'],
    ['lacp', {}, 'balance-tcp', 'active'],
    ['lacp', { hashing_algorithm: 'src_mac' }, 'balance-slb', 'active'],
  ] as const) {
    const b = new PoolBuilder();
    const h = b.host(HU);
    const s0 = b.physical(h, 'eth0', b.network('xenbr0'));
    const s1 = b.physical(h, 'eth1', b.network('xenbr1'));
    b.bond(h, b.network('xapi1'), [s0, s1], mode, props, { MAC: '02:00:00:00:00:aa', other_config: { 'bond-lacp-aggregation-key': '7' } });
    const c = compileHostConfig(b.records, h);
    const bond = c.ports.find((p) => p.role === 'bond')!;
    assert.equal(bond.name, 'bond0');
    assert.deepEqual(bond.interfaces.map((i) => [i.name, i.other_config]), [['eth0', { 'lacp-aggregation-key': '7' }], ['eth1', { 'lacp-aggregation-key': '7' }]]);
    assert.equal(bond.bond_mode, bondMode);
    assert.equal(bond.lacp, lacp);
    assert.equal(bond.bond_updelay, 31000);
    assert.equal(bond.bond_downdelay, 200);
    assert.equal(bond.mac, '02:00:00:00:00:aa');
    assert.equal(bond.other_config['bond-miimon-interval'], '100');
    assert.equal(bond.other_config['bond-detect-mode'], 'carrier');
    if (mode === 'lacp') {
      assert.equal(bond.other_config['lacp-time'], 'slow');
      assert.equal(bond.other_config['lacp-fallback-ab'], 'true');
      assert.equal(bond.other_config['bond-rebalance-interval'], undefined);
    } else {
      assert.equal(bond.other_config['bond-rebalance-interval'], '1800000');
    }
  }
});

test('rows: bridges with the owner marker, VLANs as fake bridges, VIFs with XenServer external_ids', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { MAC: '02:00:00:00:00:02' });
  const nv = b.network('xapi5');
  b.vlan(h, p1, nv, 30);
  const vm = b.vm(h, 4);
  const v = b.vif(vm, nv, 1, '02:aa:00:00:00:02', { locking_mode: 'locked', ipv4_allowed: ['10.0.0.9'] });
  const c = ovsRows(compileHost(b.records, h).doc, 'netdev');
  assert.deepEqual(c.bridges.map((x) => [x.name, x.datapath_type, x.fail_mode, x.other_config.hwaddr, x.external_ids[OWNER_KEY]]), [['xenbr1', 'netdev', 'standalone', '02:00:00:00:00:02', HU]]);
  const fake = c.ports.find((p) => p.name === 'xapi5')!;
  assert.deepEqual([fake.bridge, fake.tag, fake.fake_bridge, fake.interfaces[0]!.type], ['xenbr1', 30, true, 'internal']);
  const pv = c.ports.find((p) => p.name === 'vif4.1')!;
  assert.deepEqual([pv.bridge, pv.tag], ['xenbr1', 30], 'a VIF on a VLAN network sits on the parent bridge, tagged');
  assert.deepEqual(pv.interfaces[0]!.external_ids, {
    'xs-vif-uuid': b.rec('VIF', v).uuid, 'xs-network-uuid': b.rec('network', nv).uuid, 'xs-vm-uuid': b.rec('VM', vm).uuid,
    'attached-mac': '02:aa:00:00:00:02', [OWNER_KEY]: HU,
  });
  assert.equal(pv.external_ids['xcpnet-locking'], 'locked');
  assert.equal(pv.external_ids['xcpnet-ipv4-allowed'], '10.0.0.9');
  assert.deepEqual(c.locks, [{ owner: v, port: 'vif4.1', bridge: 'xenbr1', mac: '02:aa:00:00:00:02', ipv4: ['10.0.0.9'], ipv6: [] }]);
  assert.ok(c.ports.every((p) => p.external_ids[OWNER_KEY] === HU && p.interfaces.every((i) => i.external_ids[OWNER_KEY] === HU)));
});

test('a guest port the hypervisor\'s tooling made is taken over only when it names the VIF being adopted', async () => {
  const { b, h, n0 } = mgmtPool();
  const vm = b.vm(h, 1);
  b.vif(vm, n0, 0, '52:54:00:00:00:01');
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  const d = compileHost(b.records, h).doc;
  await converge(fake, ovsRows({ ...d, vifs: [] }, ''));
  const vifUuid = d.vifs[0]!.vifUuid;
  // libvirt's openvswitch virtualport: a port vnet1 on xenbr0 with external_ids:iface-id.
  const obs = await fake.observe();
  const foreign = (id: string) => ({
    uuid: 'p-vnet1', name: 'vnet1', bridge: 'xenbr0', tag: null, fake_bridge: false, protected: false, bond_mode: null, lacp: null,
    bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: {},
    interfaces: [{ uuid: 'i-vnet1', name: 'vnet1', type: '', options: {}, mtu_request: null, mac: null, external_ids: { 'iface-id': id }, other_config: {}, ofport: 7, error: null, mtu: 1500, link_state: 'up' }],
  });
  obs.ports.set('vnet1', foreign(vifUuid));
  obs.bridges.get('xenbr0')!.ports.push('vnet1');
  const adopt = ovsRows({ ...d, vifs: [{ ...d.vifs[0]!, name: 'vnet1', adopt: true }] }, '');
  assert.deepEqual(findConflicts(adopt, obs), {});
  assert.deepEqual(summary(planChanges(adopt, obs)), ['update-port vnet1', 'update-iface vnet1']);
  // Without the adopt flag, or naming another VIF: a foreign port, left alone and reported.
  const plain = ovsRows({ ...d, vifs: [{ ...d.vifs[0]!, name: 'vnet1' }] }, '');
  assert.match(defined(findConflicts(plain, obs)[d.vifs[0]!.owner], 'conflict'), /vnet1 exists and is not managed/);
  obs.ports.set('vnet1', foreign('00000000-0000-4000-8000-000000000000'));
  assert.match(defined(findConflicts(adopt, obs)[d.vifs[0]!.owner], 'conflict'), /vnet1 exists and is not managed/);
  assert.deepEqual(planChanges(adopt, obs).filter((a) => 'name' in a && a.name === 'vnet1'), []);
});

test('IGMP snooping: one update of the NIC\'s bridge (mcast_snooping_enable, unregistered multicast not flooded), and back', async () => {
  const { b, h, p0 } = mgmtPool();
  const fake = new MemorySwitch({ nics: 2, seed: HU });
  await converge(fake, compileHostConfig(b.records, h));
  b.set('PIF', p0, { igmp_snooping_status: 'enabled' });
  const on = await converge(fake, compileHostConfig(b.records, h));
  assert.deepEqual(summary(on), ['update-bridge xenbr0']);
  const set = (on[0] as Extract<Action, { kind: 'update-bridge' }>).set;
  assert.equal(set.mcast_snooping_enable, true);
  assert.equal(set.other_config?.['mcast-snooping-disable-flood-unregistered'], 'true');
  b.set('PIF', p0, { igmp_snooping_status: 'disabled' });
  const off = await converge(fake, compileHostConfig(b.records, h));
  assert.deepEqual(summary(off), ['update-bridge xenbr0']);
  assert.equal((off[0] as Extract<Action, { kind: 'update-bridge' }>).set.mcast_snooping_enable, false);
  assert.equal((await fake.observe()).bridges.get('xenbr0')?.mcast_snooping_enable, false);
});
