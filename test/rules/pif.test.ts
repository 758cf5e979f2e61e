// PIF rules over JSON-RPC (reference §2.2, §2.3, §7.1, §7.3): scan/introduce/forget, plug/unplug,
// IP configuration, properties, the deprecated VLAN calls, db_introduce/db_forget, events.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import type { Nic } from '../../src/server/realise.js';
import { nic, report as fullReport } from '../support/report.js';
import { initialHostNetworking } from '../../src/server/impl/pif.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ruleKit } from '../support/rule-kit.js';

// ---- a stand-in agent for member hosts (the master's own host has its in-process agent): it
// reports the inventory set here for each member on every commit
type Stub = { nics: Map<string, Nic[]> };
function stubAgent(pool: TestPool): Stub {
  const { server } = pool.master;
  const stub: Stub = { nics: new Map() };
  const report = () => setImmediate(() => {
    for (const [h, nics] of stub.nics) if (server.store.find('host', h)) server.hub.report(h, server.store.generation, fullReport({ nics }));
  });
  server.store.onCommit(report);
  return stub;
}

let pool: TestPool;
let stub: Stub;
let host: string;
const kit = ruleKit(() => pool, () => host);
const { store, rec, pifOf, poke, poolRef, token } = kit;
const eventsSince = async (tok: string, classes = ['*']) => (await kit.events(tok, classes)).map((e) => `${e.operation} ${e.class}`);

before(async () => {
  pool = await startTestPool({ fakeNics: 4 });
  pool.master.server.hub.timeoutMs = 2000;
  host = pool.master.host;
  stub = stubAgent(pool);
  await initialHostNetworking(pool.master.server, host);
});
after(async () => { await pool.close(); });

test('start-up: a PIF per NIC on xenbr<N> "Pool-wide network <N>", eth0 is the DHCP management PIF, NICs plugged', async () => {
  const pifs = await pool.call<Record<string, any>>('PIF.get_all_records');
  const mine = Object.values(pifs).filter((p) => p.host === host && p.physical);
  assert.deepEqual(mine.map((p) => p.device).sort(), ['eth0', 'eth1', 'eth2', 'eth3']);
  for (const p of mine) {
    const net = await rec('network', p.network);
    const n = p.device.slice(3);
    assert.equal(net.bridge, `xenbr${n}`);
    assert.equal(net.name_label, `Pool-wide network ${n}`);
    assert.equal(net.MTU, 1500);
    assert.deepEqual([p.VLAN, p.IPv6, p.properties, p.currently_attached], [-1, [], { gro: 'on' }, true]);
    assert.equal(p.management, p.device === 'eth0');
    assert.match(p.MAC, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const m = await rec('PIF_metrics', p.metrics);
    // the simulated host's NICs: link up, 10 Gbit/s, full duplex
    assert.deepEqual([m.carrier, m.speed, m.duplex], [true, 10000, true], p.device);
  }
  const eth0 = pifOf('eth0');
  assert.equal(pifs[eth0].ip_configuration_mode, 'DHCP');
  assert.equal(await pool.call('host.get_management_interface', host), eth0);
  // Running it again changes nothing about management
  await initialHostNetworking(pool.master.server, host);
  assert.equal(await pool.call('host.get_management_interface', host), eth0);
});

test('PIF.scan: new NICs get a PIF, metrics and network; existing PIFs are refreshed; nothing is deleted', async () => {
  // a member host whose inventory the stand-in agent controls; its ethN join the pool-wide xenbrN
  const h = store().transact((tx) => createHost(tx, 'scan-member', '192.0.2.60'));
  const nics: Nic[] = [0, 1, 2, 3].map((i) => nic({ device: `eth${i}`, MAC: `02:00:00:00:05:0${i}`, MTU: 1500 }));
  stub.nics.set(h, nics);
  const nets = store().count('network');
  let tok = await token();
  await pool.call('PIF.scan', h);
  let ev = await eventsSince(tok);
  for (const e of ['add pif', 'add pif_metrics', 'mod host', 'mod network']) assert.ok(ev.includes(e), `${e} in ${ev}`);
  assert.equal(store().count('network'), nets, 'eth0..eth3 join the existing xenbr0..xenbr3');
  assert.equal((await rec('PIF', pifOf('eth2', h))).network, (await rec('PIF', pifOf('eth2'))).network);

  nics.push(nic({ device: 'eth4', MAC: '02:00:00:00:00:AA', MTU: 1500 }), nic({ device: 'enp5s0', MAC: '02:00:00:00:00:bb', MTU: 9000 }));
  nics[1] = { ...nics[1]!, MAC: '02:00:00:00:11:11', MTU: 1600 };
  nics.splice(3, 1); // eth3 vanishes
  tok = await token();
  await pool.call('PIF.scan', h);
  ev = await eventsSince(tok);
  for (const e of ['add pif', 'add network', 'add pif_metrics', 'mod host']) assert.ok(ev.includes(e), `${e} in ${ev}`);
  const eth4 = await rec('PIF', pifOf('eth4', h));
  assert.deepEqual([eth4.MAC, eth4.physical, eth4.currently_attached, eth4.management, eth4.ip_configuration_mode, eth4.properties],
    ['02:00:00:00:00:aa', true, false, false, 'None', { gro: 'on' }]);
  const net4 = await rec('network', eth4.network);
  assert.deepEqual([net4.bridge, net4.name_label, net4.name_description, net4.MTU, net4.other_config],
    ['xenbr4', 'Pool-wide network 4', '', 1500, {}]);
  const enp = await rec('PIF', pifOf('enp5s0', h));
  const netEnp = await rec('network', enp.network);
  assert.deepEqual([netEnp.bridge, netEnp.name_label, enp.MTU], ['brenp5s0', 'Pool-wide network associated with enp5s0', 9000]);
  const eth1 = await rec('PIF', pifOf('eth1', h));
  assert.deepEqual([eth1.MAC, eth1.MTU], ['02:00:00:00:11:11', 1600]);
  assert.ok(pifOf('eth3', h), 'eth3 is kept although its NIC vanished');
  // a second scan introduces nothing
  const count = store().count('PIF');
  await pool.call('PIF.scan', h);
  assert.equal(store().count('PIF'), count);
  // with a management bridge set, the NIC on it is introduced as management and attached
  const h2 = store().transact((tx) => createHost(tx, 'scan-member-2', '192.0.2.61'));
  poke('host', h2, { management_bridge: 'xenbr1' });
  stub.nics.set(h2, [nic({ device: 'eth1', MAC: '02:00:00:00:06:01', MTU: 1500 })]);
  await pool.call('PIF.scan', h2);
  const m = await rec('PIF', pifOf('eth1', h2));
  assert.deepEqual([m.management, m.currently_attached], [true, true]);
});

test('PIF.scan: NICs of any name join xenbr<position>; a renamed NIC keeps its PIF, network and VLANs, which take the new name', async () => {
  const h = store().transact((tx) => createHost(tx, 'scan-rename', '192.0.2.62'));
  const nics: Nic[] = [
    nic({ device: 'ens5', position: 0, MAC: '02:00:00:00:07:00', MTU: 1500 }),
    nic({ device: 'enp1s0f0', position: 1, MAC: '02:00:00:00:07:01', MTU: 1500 }),
  ];
  stub.nics.set(h, nics);
  await pool.call('PIF.scan', h);
  const ens5 = pifOf('ens5', h);
  const enp = pifOf('enp1s0f0', h);
  assert.equal((await rec('network', (await rec('PIF', ens5)).network)).bridge, 'xenbr0', 'position 0, whatever the name');
  assert.equal((await rec('network', (await rec('PIF', enp)).network)).bridge, 'xenbr1');
  const net = await pool.call<string>('network.create', { name_label: 'v7', name_description: '', MTU: 1500, other_config: {} });
  const vlan = await pool.call<string>('VLAN.create', enp, 7, net);
  const vpif = await pool.call<string>('VLAN.get_untagged_PIF', vlan);
  const count = store().count('PIF');
  // The kernel renames the NICs (a swap of names, even): each PIF follows its MAC.
  nics[0] = { ...nics[0]!, device: 'enp1s0f0' };
  nics[1] = { ...nics[1]!, device: 'ens5' };
  await pool.call('PIF.scan', h);
  assert.equal(store().count('PIF'), count, 'no new PIF for a renamed NIC');
  assert.equal((await rec('PIF', ens5)).device, 'enp1s0f0');
  assert.equal((await rec('PIF', enp)).device, 'ens5');
  assert.equal((await rec('network', (await rec('PIF', ens5)).network)).bridge, 'xenbr0', 'same network, same bridge');
  assert.equal((await rec('PIF', vpif)).device, 'ens5', 'the VLAN PIF follows its parent');
  // A name that is no interface name is not taken.
  nics[0] = { ...nics[0]!, device: 'bad name' };
  await pool.call('PIF.scan', h);
  assert.equal((await rec('PIF', ens5)).device, 'enp1s0f0');
});

test('PIF.introduce: MAC_INVALID, DUPLICATE_PIF_DEVICE_NAME, device/MAC not found; MAC "" from the inventory', async () => {
  await assertApiError(pool.call('PIF.introduce', host, 'zz:00', 'eth0'), 'MAC_INVALID', ['zz:00']);
  // An empty MAC asks for the device's own; a device the host lacks is then simply not found.
  await assertApiError(pool.call('PIF.introduce', host, '', 'eth77'),
    'COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS', ['eth77', '']);
  const mac0 = (await rec('PIF', pifOf('eth0'))).MAC;
  await assertApiError(pool.call('PIF.introduce', host, mac0.toUpperCase(), 'eth0'), 'DUPLICATE_PIF_DEVICE_NAME', ['eth0']);
  await assertApiError(pool.call('PIF.introduce', host, '02:00:00:00:99:99', 'eth77'),
    'COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS', ['eth77', '02:00:00:00:99:99']);
  const eth3 = pifOf('eth3');
  const old = await rec('PIF', eth3);
  await pool.call('PIF.forget', eth3);
  await assertApiError(pool.call('PIF.introduce', host, '02:00:00:00:99:99', 'eth3'),
    'COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS', ['eth3', '02:00:00:00:99:99']);
  const nets = store().count('network');
  const again = await pool.call<string>('PIF.introduce', host, '', 'eth3');
  const r = await rec('PIF', again);
  assert.deepEqual([r.MAC, r.network, r.managed, r.currently_attached, r.physical], [old.MAC, old.network, true, false, true]);
  assert.notEqual(r.metrics, old.metrics);
  assert.equal(store().count('network'), nets, 'xenbr3 is reused');
});

test('PIF.forget: every check in order; metrics go, the network stays (seed: network.destroy needs the PIF gone)', async () => {
  const eth0 = pifOf('eth0');
  await assertApiError(pool.call('PIF.forget', eth0), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);
  const eth2 = pifOf('eth2');
  const bond = store().transact((tx) => tx.create('Bond', { master: eth2 }));
  await assertApiError(pool.call('PIF.forget', eth2), 'PIF_ALREADY_BONDED', [eth2]);
  const eth3 = pifOf('eth3');
  poke('PIF', eth3, { bond_slave_of: bond });
  await assertApiError(pool.call('PIF.forget', eth3), 'PIF_ALREADY_BONDED', [eth3]);
  store().transact((tx) => tx.destroy('Bond', bond));
  const vlan = store().transact((tx) => tx.create('VLAN', { tagged_PIF: eth2, tag: 5 }));
  await assertApiError(pool.call('PIF.forget', eth2), 'PIF_VLAN_STILL_EXISTS', [eth2]);
  store().transact((tx) => tx.destroy('VLAN', vlan));
  const net = (await rec('PIF', eth2)).network;
  const vlanPif = await pool.call<string>('PIF.db_introduce', 'eth2', net, host, 'fe:ff:ff:ff:ff:ff', 1500, 7, false, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  await assertApiError(pool.call('PIF.forget', vlanPif), 'PIF_VLAN_STILL_EXISTS', [vlanPif]);
  await pool.call('PIF.db_forget', vlanPif);
  const tun = store().transact((tx) => tx.create('tunnel', { transport_PIF: eth2, access_PIF: 'OpaqueRef:NULL' }));
  await assertApiError(pool.call('PIF.forget', eth2), 'PIF_TUNNEL_STILL_EXISTS', [eth2]);
  store().transact((tx) => tx.destroy('tunnel', tun));
  await pool.call('PIF.plug', eth2); // the HA gate applies to attached PIFs only
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('PIF.forget', eth0), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);
  await assertApiError(pool.call('PIF.forget', eth2), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false, redo_log_enabled: true });
  await assertApiError(pool.call('PIF.forget', eth2), 'REDO_LOG_IS_ENABLED', []);
  poke('pool', poolRef(), { redo_log_enabled: false });
  poke('PIF', eth2, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  await assertApiError(pool.call('PIF.forget', eth2), 'CANNOT_FORGET_SRIOV_LOGICAL', [eth2]);
  poke('PIF', eth2, { sriov_logical_PIF_of: [], sriov_physical_PIF_of: ['OpaqueRef:sriov'] });
  await assertApiError(pool.call('PIF.forget', eth2), 'PIF_SRIOV_STILL_EXISTS', [eth2]);
  poke('PIF', eth2, { sriov_physical_PIF_of: [] });

  // seed 000: the network cannot go while it has a PIF; forget the PIF, then it can
  const onNet = await pool.call<string[]>('network.get_PIFs', net); // eth2 of every host (one param each)
  assert.ok(onNet.includes(eth2) && onNet.length > 1);
  await assertApiError(pool.call('network.destroy', net), 'NETWORK_CONTAINS_PIF', onNet);
  for (const p of onNet) if (p !== eth2) await pool.call('PIF.forget', p);
  await assertApiError(pool.call('network.destroy', net), 'NETWORK_CONTAINS_PIF', [eth2]);
  const metrics = (await rec('PIF', eth2)).metrics;
  const tok = await token();
  await pool.call('PIF.forget', eth2);
  const ev = await eventsSince(tok);
  for (const e of ['del pif', 'del pif_metrics', 'mod network', 'mod host']) assert.ok(ev.includes(e), `${e} in ${ev}`);
  await assertApiError(pool.call('PIF_metrics.get_record', metrics), 'HANDLE_INVALID', ['PIF_metrics', metrics]);
  assert.equal((await rec('network', net)).bridge, 'xenbr2', 'the network stays');
  await pool.call('network.destroy', net);
  await pool.call('PIF.scan', host); // eth2 comes back for the next tests
});

test('PIF.plug/unplug: checks in order, bond member no-op, tunnel transport first, events', async () => {
  const eth1 = pifOf('eth1');
  const tok = await token();
  await pool.call('PIF.unplug', eth1);
  assert.equal((await rec('PIF', eth1)).currently_attached, false);
  assert.ok((await eventsSince(tok, ['pif'])).includes('mod pif'));
  await pool.call('PIF.plug', eth1);
  assert.equal((await rec('PIF', eth1)).currently_attached, true);
  await pool.call('PIF.plug', eth1); // again: not an error

  poke('PIF', eth1, { managed: false });
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('PIF.plug', eth1), 'PIF_UNMANAGED', [eth1]);
  await assertApiError(pool.call('PIF.unplug', eth1), 'PIF_UNMANAGED', [eth1]);
  poke('PIF', eth1, { managed: true });
  await assertApiError(pool.call('PIF.unplug', eth1), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  const eth0 = pifOf('eth0');
  await assertApiError(pool.call('PIF.unplug', eth0), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);

  const net1 = (await rec('PIF', eth1)).network;
  const vm = store().transact((tx) => tx.create('VM', { name_label: 'vm', power_state: 'Running', resident_on: host, domid: 3 }));
  // A VIF as VIF.create would make it (the host's agent refuses to realise one without a valid MAC).
  const vif = store().transact((tx) => tx.create('VIF', { VM: vm, network: net1, device: '0', MAC: '02:00:00:00:00:33', currently_attached: true }));
  await pool.call('PIF.set_disallow_unplug', eth1, true);
  await assertApiError(pool.call('PIF.unplug', eth1), 'VIF_IN_USE', [net1, vif]);
  poke('VM', vm, { power_state: 'Paused' }); // a paused VM is live too
  await assertApiError(pool.call('PIF.unplug', eth1), 'VIF_IN_USE', [net1, vif]);
  poke('VIF', vif, { currently_attached: false, current_operations: { 'OpaqueRef:task': 'attach' } });
  await assertApiError(pool.call('PIF.unplug', eth1), 'VIF_IN_USE', [net1, vif]);
  poke('VIF', vif, { current_operations: {} });
  await assertApiError(pool.call('PIF.unplug', eth1), 'PIF_DOES_NOT_ALLOW_UNPLUG', [eth1]);
  await pool.call('PIF.set_disallow_unplug', eth1, false);
  assert.equal((await rec('PIF', eth1)).disallow_unplug, false);
  store().transact((tx) => { tx.destroy('VIF', vif); tx.destroy('VM', vm); });

  // bond member: unplug does nothing at all, plug refuses
  const eth3 = pifOf('eth3');
  const bond = store().transact((tx) => tx.create('Bond', { master: pifOf('eth2') }));
  await pool.call('PIF.plug', eth3);
  poke('PIF', eth3, { bond_slave_of: bond });
  const gen = store().generation;
  await pool.call('PIF.unplug', eth3);
  assert.equal(store().generation, gen);
  assert.equal((await rec('PIF', eth3)).currently_attached, true);
  await assertApiError(pool.call('PIF.plug', eth3), 'CANNOT_PLUG_BOND_SLAVE', [eth3]);
  poke('PIF', eth3, { bond_slave_of: 'OpaqueRef:NULL' });
  store().transact((tx) => tx.destroy('Bond', bond));

  // tunnel access PIF: its transport needs IP config; plugging it plugs the transport first
  const tnet = await pool.call<string>('network.create', { name_label: 'tun', other_config: {} });
  const access = await pool.call<string>('PIF.db_introduce', 'tunnel0', tnet, host, '02:11:22:33:44:55', -1, -1, false, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  store().transact((tx) => tx.create('tunnel', { access_PIF: access, transport_PIF: eth3, protocol: 'gre' }));
  await assertApiError(pool.call('PIF.plug', access), 'TRANSPORT_PIF_NOT_CONFIGURED', [eth3]);
  await pool.call('PIF.reconfigure_ip', eth3, 'Static', '192.0.2.3', '255.255.255.0', '', '');
  await pool.call('PIF.unplug', eth3);
  await pool.call('PIF.plug', access);
  assert.deepEqual([(await rec('PIF', eth3)).currently_attached, (await rec('PIF', access)).currently_attached], [true, true]);
  await pool.call('PIF.unplug', eth3); // takes the access PIF down with it
  assert.deepEqual([(await rec('PIF', eth3)).currently_attached, (await rec('PIF', access)).currently_attached], [false, false]);
  await pool.call('PIF.plug', eth3);
});

test('PIF.plug on a host without an agent: HOST_OFFLINE [host]', async () => {
  const h2 = store().transact((tx) => createHost(tx, 'h2', '192.0.2.200'));
  const net = (await rec('PIF', pifOf('eth1'))).network;
  const p = await pool.call<string>('PIF.db_introduce', 'eth1', net, h2, '02:00:00:00:22:01', 1500, -1, true, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  const r = await rec('PIF', p);
  assert.deepEqual([r.currently_attached, r.bond_slave_of, r.igmp_snooping_status, r.capabilities, r.PCI],
    [false, 'OpaqueRef:NULL', 'unknown', [], 'OpaqueRef:NULL']);
  assert.ok(r.metrics !== 'OpaqueRef:NULL' && store().find('PIF_metrics', r.metrics));
  pool.master.server.hub.timeoutMs = 200;
  await assertApiError(pool.call('PIF.plug', p), 'HOST_OFFLINE', [h2]);
  pool.master.server.hub.timeoutMs = 2000;
  await pool.call('PIF.db_forget', p);
  await assertApiError(pool.call('PIF.get_record', p), 'HANDLE_INVALID', ['PIF', p]);
  assert.ok(store().find('PIF_metrics', r.metrics), 'db_forget deletes the row only');
});

test('PIF.reconfigure_ip: checks in order, values stored as given, DNS merge, re-plug when attached', async () => {
  const eth1 = pifOf('eth1');
  poke('PIF', eth1, { managed: false });
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'Static', 'bad', '', '', ''), 'PIF_UNMANAGED', [eth1]);
  poke('PIF', eth1, { managed: true });
  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.10', '255.255.255.0', '192.0.2.1', '1.1.1.1');
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'DHCP', '', '', '', ''), 'HA_IS_ENABLED', []);
  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.10', '255.255.255.0', '192.0.2.1', '9.9.9.9'); // DNS only
  assert.equal((await rec('PIF', eth1)).DNS, '9.9.9.9');
  poke('pool', poolRef(), { ha_enabled: false });
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'Static', '', '255.255.255.0', '', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['IP']);
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.10', '', '', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['netmask']);
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'DHCP', '300.1.1.1', '', '', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['IP']);
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'None', '', 'x', '', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['netmask']);
  await assertApiError(pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.10', '255.255.255.0', 'gw', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
  const eth0 = pifOf('eth0');
  await assertApiError(pool.call('PIF.reconfigure_ip', eth0, 'None', '', '', '', ''), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);

  // DNS: IPv4 entries given (others dropped), then the IPv6 entries already there
  await pool.call('PIF.reconfigure_ipv6', eth1, 'Static', '2001:db8::10/64', '', '2001:db8::53');
  const tok = await token();
  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.11', '255.255.255.0', '', '8.8.8.8,2001:db8::99,junk');
  const r = await rec('PIF', eth1);
  assert.deepEqual([r.IP, r.netmask, r.gateway, r.DNS, r.currently_attached], ['192.0.2.11', '255.255.255.0', '', '8.8.8.8,2001:db8::53', true]);
  assert.ok((await eventsSince(tok, ['pif'])).includes('mod pif'));
  // an unplugged PIF only stores; DHCP keeps the IP string given
  const eth2 = pifOf('eth2');
  await pool.call('PIF.unplug', eth2);
  await pool.call('PIF.reconfigure_ip', eth2, 'DHCP', '10.9.9.9', '', '', '');
  const r2 = await rec('PIF', eth2);
  assert.deepEqual([r2.ip_configuration_mode, r2.IP, r2.currently_attached], ['DHCP', '10.9.9.9', false]);
  // host.address follows the management PIF
  await pool.call('PIF.reconfigure_ip', eth0, 'Static', '192.0.2.100', '255.255.255.0', '192.0.2.1', '');
  assert.equal((await rec('host', host)).address, '192.0.2.100');
});

test('PIF.reconfigure_ipv6 and set_primary_address_type', async () => {
  const eth1 = pifOf('eth1');
  await assertApiError(pool.call('PIF.reconfigure_ipv6', eth1, 'Static', '', '10.0.0.1', ''), 'INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
  await assertApiError(pool.call('PIF.reconfigure_ipv6', eth1, 'Static', '2001:db8::1', '', ''), 'INVALID_CIDR_ADDRESS_SPECIFIED', ['IPv6']);
  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.11', '255.255.255.0', '', '8.8.4.4');
  await pool.call('PIF.reconfigure_ipv6', eth1, 'Static', '', 'fe80::1', '2001:db8::53,1.2.3.4');
  const r = await rec('PIF', eth1);
  assert.deepEqual([r.ipv6_configuration_mode, r.IPv6, r.ipv6_gateway, r.DNS], ['Static', [''], 'fe80::1', '2001:db8::53,8.8.4.4']);

  const eth0 = pifOf('eth0');
  await assertApiError(pool.call('PIF.set_primary_address_type', eth0, 'IPv6'), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);
  poke('pool', poolRef(), { redo_log_enabled: true });
  await assertApiError(pool.call('PIF.set_primary_address_type', eth1, 'IPv6'), 'REDO_LOG_IS_ENABLED', []);
  await assertApiError(pool.call('PIF.reconfigure_ipv6', eth1, 'DHCP', '', '', ''), 'REDO_LOG_IS_ENABLED', []);
  poke('pool', poolRef(), { redo_log_enabled: false });
  await pool.call('PIF.set_primary_address_type', eth1, 'IPv6');
  assert.equal((await rec('PIF', eth1)).primary_address_type, 'IPv6');
  await pool.call('PIF.set_primary_address_type', eth1, 'IPv4');
  poke('PIF', eth0, { primary_address_type: 'IPv6' });
  await assertApiError(pool.call('PIF.reconfigure_ipv6', eth0, 'None', '', '', ''), 'PIF_IS_MANAGEMENT_INTERFACE', [eth0]);
  await pool.call('PIF.reconfigure_ip', eth0, 'Static', '192.0.2.100', '255.255.255.0', '', ''); // None check is per family
  poke('PIF', eth0, { primary_address_type: 'IPv4' });
});

test('PIF.set_property: gro only; bond masters and physical non-members; copied to members', async () => {
  const eth1 = pifOf('eth1');
  await assertApiError(pool.call('PIF.set_property', eth1, 'mtu', '9000'), 'INVALID_VALUE', ['properties', 'mtu = 9000']);
  await assertApiError(pool.call('PIF.set_property', eth1, 'gro', 'maybe'), 'INVALID_VALUE', ['properties', 'gro = maybe']);
  await pool.call('PIF.set_property', eth1, 'gro', 'off');
  assert.deepEqual((await rec('PIF', eth1)).properties, { gro: 'off' });
  const bnet = await pool.call<string>('network.create', { name_label: 'bond', other_config: {} });
  const master = await pool.call<string>('PIF.db_introduce', 'bond0', bnet, host, '02:00:00:00:00:01', -1, -1, false, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}, false, 'None', [], '', 'IPv4', true, { gro: 'on' });
  const bond = store().transact((tx) => tx.create('Bond', { master }));
  const eth3 = pifOf('eth3');
  poke('PIF', eth3, { bond_slave_of: bond });
  await assertApiError(pool.call('PIF.set_property', eth3, 'gro', 'off'), 'CANNOT_CHANGE_PIF_PROPERTIES', [eth3]);
  await pool.call('PIF.set_property', master, 'gro', 'off');
  assert.deepEqual((await rec('PIF', eth3)).properties, { gro: 'off' });
  const vnet = await pool.call<string>('network.create', { name_label: 'v', other_config: {} });
  const vpif = await pool.call<string>('PIF.db_introduce', 'eth1', vnet, host, 'fe:ff:ff:ff:ff:ff', 1500, 9, false, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  store().transact((tx) => { const v = tx.create('VLAN', { tagged_PIF: eth1, untagged_PIF: vpif, tag: 9 }); tx.update('PIF', vpif, { VLAN_master_of: v }); });
  await assertApiError(pool.call('PIF.set_property', vpif, 'gro', 'on'), 'CANNOT_CHANGE_PIF_PROPERTIES', [vpif]);
  poke('PIF', eth3, { bond_slave_of: 'OpaqueRef:NULL', properties: { gro: 'on' } });
  store().transact((tx) => tx.destroy('Bond', bond));
  // PIF.destroy (deprecated): physical → PIF_IS_PHYSICAL with no params; a VLAN PIF goes through VLAN.destroy
  await assertApiError(pool.call('PIF.destroy', eth1), 'PIF_IS_PHYSICAL', []);
  await pool.call('PIF.destroy', vpif);
  await assertApiError(pool.call('PIF.get_record', vpif), 'HANDLE_INVALID', ['PIF', vpif]);
});

test('PIF.create_VLAN: INVALID_VALUE ["device"; d] without such a PIF, else VLAN.create; db_introduce trunk check', async () => {
  const net = await pool.call<string>('network.create', { name_label: 'v20', other_config: {} });
  await assertApiError(pool.call('PIF.create_VLAN', 'eth9', net, host, 20), 'INVALID_VALUE', ['device', 'eth9']);
  const vpif = await pool.call<string>('PIF.create_VLAN', 'eth1', net, host, 20);
  const r = await rec('PIF', vpif);
  assert.deepEqual([r.device, r.VLAN, r.network, r.MAC], ['eth1', 20, net, 'fe:ff:ff:ff:ff:ff']);
  // db_introduce of a VLAN PIF on a network with a trunked VIF
  const tnet = await pool.call<string>('network.create', { name_label: 'trunks', other_config: {} });
  const vm = store().transact((tx) => tx.create('VM', { name_label: 'trunker' }));
  store().transact((tx) => tx.create('VIF', { VM: vm, network: tnet, device: '0', trunks: [5] }));
  await assertApiError(pool.call('PIF.db_introduce', 'eth1', tnet, host, 'fe:ff:ff:ff:ff:ff', 1500, 30, false, 'None',
    '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [tnet]);
});
