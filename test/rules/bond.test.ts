// Bond rules over JSON-RPC (xen-api: ocaml/xapi/xapi_bond.ml): Bond.create (twelve checks in
// order, every side effect in order: master, IP, management, VLANs, tunnels, VIFs,
// disallow_unplug, task progress), Bond.destroy (everything back), set_mode, set_property.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ruleKit } from '../support/rule-kit.js';
import { storedFields } from '../../src/idl/meta.js';

let pool: TestPool;
let host: string;
const kit = ruleKit(() => pool, () => host);
const { store, call, rec, pifOf, poke, poolRef, token, newNet } = kit;
const eventsSince = async (tok: string) => (await kit.events(tok)).map((e) => `${e.operation} ${e.class} ${e.ref}`);
const newVif = (vm: string, network: string, device: string) => call<string>('VIF.create', {
  device, network, VM: vm, MAC: `02:aa:00:00:00:0${device}`, MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
});
const netOf = (pif: string) => store().get('PIF', pif).network as string;
const vlansOn = (pif: string) => store().get('PIF', pif).VLAN_slave_of as string[];
const tunnelsOver = (pif: string) => store().get('PIF', pif).tunnel_transport_PIF_of as string[];

before(async () => {
  pool = await startTestPool({ fakeNics: 4 });
  pool.master.server.hub.timeoutMs = 300;
  host = pool.master.host;
});
after(async () => { await pool.close(); });

test('Bond.create then Bond.destroy: every side effect, on the records and in the events', async () => {
  const [eth2, eth3] = [pifOf('eth2'), pifOf('eth3')];
  const [net2, net3] = [netOf(eth2), netOf(eth3)];
  const bondNet = await newNet('bond net', { MTU: 9000 });
  await call('PIF.reconfigure_ip', eth3, 'Static', '10.3.0.2', '255.255.255.0', '10.3.0.1', '');
  await call('PIF.set_disallow_unplug', eth2, true);
  const vnet = await newNet('vlan 20');
  const oldVlan = await call<string>('VLAN.create', eth2, 20, vnet);
  const oldVlanPif = (await rec('VLAN', oldVlan)).untagged_PIF;
  const tnet = await newNet('tunnel net');
  const oldTunnel = await call<string>('tunnel.create', eth3, tnet, 'vxlan');
  const oldAccess = (await rec('tunnel', oldTunnel)).access_PIF;
  const halted = await call<string>('VM.create', { name_label: 'halted' });
  const hv = await newVif(halted, net2, '0');
  const running = await call<string>('VM.create', { name_label: 'running' });
  const rv = await newVif(running, net3, '0');
  await call('VM.start_on', running, host, false, false);
  assert.equal((await rec('VIF', rv)).currently_attached, true);
  const primaryMac = (await rec('PIF', eth3)).MAC;

  const tok = await token();
  const bond = await call<string>('Bond.create', bondNet, [eth2, eth3, eth2], '', 'balance-slb', {});
  const b = await rec('Bond', bond);
  assert.deepEqual([...b.slaves].sort(), [eth2, eth3].sort(), 'duplicates removed');
  // links_up starts at 0; by the time the call returns the agent has reported both members up
  assert.deepEqual([b.primary_slave, b.mode, b.properties, b.links_up, b.auto_update_mac, b.other_config],
    [eth3, 'balance-slb', {}, 2, true, {}]);
  const m = await rec('PIF', b.master);
  assert.deepEqual([m.device, m.network, m.host, m.MAC, m.VLAN, m.physical, m.currently_attached, m.IPv6, m.managed],
    ['bond0', bondNet, host, primaryMac, -1, false, true, [''], true]);
  assert.deepEqual(m.bond_master_of, [bond]);
  assert.deepEqual(m.properties, (await rec('PIF', eth2)).properties, 'the members\' common properties');
  assert.notEqual(m.metrics, (await rec('PIF', eth3)).metrics, 'a metrics object of its own');
  // 3. IP configuration moved from the primary member
  assert.deepEqual([m.ip_configuration_mode, m.IP, m.netmask, m.gateway], ['Static', '10.3.0.2', '255.255.255.0', '10.3.0.1']);
  const p3 = await rec('PIF', eth3);
  assert.deepEqual([p3.ip_configuration_mode, p3.IP, p3.netmask, p3.gateway, p3.DNS], ['None', '', '', '', '']);
  // 4. master plugged, members not attached, members' networks take the bond network's MTU
  for (const s of [eth2, eth3]) {
    const p = await rec('PIF', s);
    assert.deepEqual([p.bond_slave_of, p.currently_attached], [bond, false]);
  }
  assert.deepEqual([(await rec('network', net2)).MTU, (await rec('network', net3)).MTU], [9000, 9000]);
  // 5. the VLAN is re-created on the master: new refs, same tag and network
  await assertApiError(rec('VLAN', oldVlan), 'HANDLE_INVALID', ['VLAN', oldVlan]);
  await assertApiError(rec('PIF', oldVlanPif), 'HANDLE_INVALID', ['PIF', oldVlanPif]);
  assert.deepEqual(vlansOn(eth2), []);
  const [newVlan] = vlansOn(b.master);
  const nv = await rec('VLAN', newVlan!);
  const nvp = await rec('PIF', nv.untagged_PIF);
  assert.deepEqual([nv.tag, nvp.network, nvp.VLAN, nvp.currently_attached, nvp.metrics], [20, vnet, 20, true, m.metrics]);
  // 6. the tunnel too
  await assertApiError(rec('tunnel', oldTunnel), 'HANDLE_INVALID', ['tunnel', oldTunnel]);
  const [newTunnel] = tunnelsOver(b.master);
  const nt = await rec('tunnel', newTunnel!);
  const ntp = await rec('PIF', nt.access_PIF);
  assert.deepEqual([nt.protocol, ntp.network, ntp.currently_attached, ntp.metrics], ['vxlan', tnet, true, m.metrics]);
  assert.notEqual(nt.access_PIF, oldAccess);
  // 7. VIFs on the members' networks now on the bond network; the running one stays attached
  assert.equal((await rec('VIF', hv)).network, bondNet);
  const rvr = await rec('VIF', rv);
  assert.deepEqual([rvr.network, rvr.currently_attached], [bondNet, true]);
  // 8. disallow_unplug moved to the master
  assert.deepEqual([m.disallow_unplug, (await rec('PIF', eth2)).disallow_unplug], [true, false]);
  const ev = await eventsSince(tok);
  for (const e of [`add bond ${bond}`, `add pif ${b.master}`, `mod pif ${eth2}`, `mod pif ${eth3}`, `mod network ${bondNet}`,
    `mod network ${net2}`, `del vlan ${oldVlan}`, `add vlan ${newVlan}`, `del pif ${oldVlanPif}`, `add pif ${nv.untagged_PIF}`,
    `del tunnel ${oldTunnel}`, `add tunnel ${newTunnel}`, `mod vif ${hv}`, `mod vif ${rv}`]) assert.ok(ev.includes(e), `${e} in events`);

  // ---- Bond.destroy: everything back to the primary member (eth3)
  const tok2 = await token();
  await call('Bond.destroy', bond);
  await assertApiError(rec('Bond', bond), 'HANDLE_INVALID', ['Bond', bond]);
  await assertApiError(rec('PIF', b.master), 'HANDLE_INVALID', ['PIF', b.master]);
  assert.ok(await rec('PIF_metrics', m.metrics), 'the master\'s metrics stay');
  assert.ok(await rec('network', bondNet), 'the bond network stays');
  const q3 = await rec('PIF', eth3);
  assert.deepEqual([q3.ip_configuration_mode, q3.IP, q3.netmask, q3.gateway], ['Static', '10.3.0.2', '255.255.255.0', '10.3.0.1']);
  for (const s of [eth2, eth3]) {
    const p = await rec('PIF', s);
    assert.deepEqual([p.bond_slave_of, p.currently_attached], ['OpaqueRef:NULL', true]);
  }
  assert.equal(q3.disallow_unplug, true, 'copied to the primary member');
  const [backVlan] = vlansOn(eth3);
  assert.ok(backVlan && backVlan !== newVlan, 'VLAN re-created on the primary member with a new ref');
  assert.equal((await rec('VLAN', backVlan)).tag, 20);
  const [backTunnel] = tunnelsOver(eth3);
  assert.ok(backTunnel && backTunnel !== newTunnel);
  assert.equal((await rec('VIF', hv)).network, net3, 'local VIFs go to the primary member\'s network');
  assert.deepEqual([(await rec('VIF', rv)).network, (await rec('VIF', rv)).currently_attached], [net3, true]);
  const ev2 = await eventsSince(tok2);
  for (const e of [`del bond ${bond}`, `del pif ${b.master}`, `mod pif ${eth2}`, `del vlan ${newVlan}`, `add vlan ${backVlan}`,
    `del tunnel ${newTunnel}`, `mod vif ${hv}`]) assert.ok(ev2.includes(e), `${e} in events`);
  await call('VM.hard_shutdown', running);
  await call('PIF.set_disallow_unplug', eth3, false);
});

test('Bond.create moves management to the master (Async, progress 1.0); destroy moves it back', async () => {
  const [eth0, eth1] = [pifOf('eth0'), pifOf('eth1')];
  assert.equal(await call('host.get_management_interface', host), eth0);
  const mode0 = (await rec('PIF', eth0)).ip_configuration_mode;
  const net = await newNet('mgmt bond');
  const task = await call<string>('Async.Bond.create', net, [eth1, eth0], '02:12:34:56:78:9a', 'active-backup', {});
  let t: any;
  for (let i = 0; i < 100; i++) {
    t = await rec('task', task);
    if (t.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual([t.status, t.progress], ['success', 1]);
  const bond = Object.keys(await call<Record<string, any>>('Bond.get_all_records'))[0]!;
  assert.ok(String(t.result).includes(bond));
  const b = await rec('Bond', bond);
  assert.deepEqual([b.primary_slave, b.auto_update_mac, b.mode], [eth0, false, 'active-backup'], 'the management member is primary');
  const m = await rec('PIF', b.master);
  assert.deepEqual([m.MAC, m.management, m.ip_configuration_mode], ['02:12:34:56:78:9a', true, mode0]);
  assert.equal((await rec('PIF', eth0)).management, false);
  assert.equal(await call('host.get_management_interface', host), b.master);
  // HA protects the management bond
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(call('Bond.destroy', bond), 'HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE', []);
  poke('pool', poolRef(), { ha_enabled: false });
  await call('Bond.destroy', bond);
  assert.equal(await call('host.get_management_interface', host), eth0);
  const p0 = await rec('PIF', eth0);
  assert.deepEqual([p0.management, p0.ip_configuration_mode, p0.currently_attached], [true, mode0, true]);
  assert.equal((await rec('PIF', eth1)).currently_attached, true);
});

test('Bond.create: the twelve checks with their parameters, in order', async () => {
  const [eth0, eth1, eth2, eth3] = [pifOf('eth0'), pifOf('eth1'), pifOf('eth2'), pifOf('eth3')];
  const net = await newNet('checks');
  const unmanaged = await newNet('unmanaged', { managed: false, bridge: 'extb' });
  await assertApiError(call('Bond.create', net, [], '', 'balance-slb', {}), 'PIF_BOND_NEEDS_MORE_MEMBERS', []);
  await assertApiError(call('Bond.create', unmanaged, [eth2], 'bad', 'balance-slb', {}), 'NETWORK_UNMANAGED', [unmanaged]);
  await assertApiError(call('Bond.create', netOf(eth1), [eth2, eth3], 'bad', 'balance-slb', {}), 'NETWORK_ALREADY_CONNECTED', [host, eth1]);
  await assertApiError(call('Bond.create', net, [eth2, eth3], '02:00:00:00:00', 'balance-slb', { x: 'y' }), 'MAC_INVALID', ['02:00:00:00:00']);
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'balance-slb', { hashing_algorithm: 'src_mac' }), 'INVALID_VALUE',
    ['properties', 'hashing_algorithm = src_mac']);
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'lacp', { 'lacp-time': 'medium' }), 'INVALID_VALUE',
    ['properties', 'lacp-time = medium']);
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'lacp', { foo: 'bar' }), 'INVALID_VALUE', ['properties', 'foo = bar']);
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'lacp', { 'lacp-aggregation-key': 'x' }), 'INVALID_VALUE',
    ['properties', 'lacp-aggregation-key = x']);
  // 8. primary is eth2 (first, no IP anywhere): eth3's family differs
  await call('PIF.set_primary_address_type', eth3, 'IPv6');
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'balance-slb', {}), 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', [eth3]);
  await call('PIF.set_primary_address_type', eth3, 'IPv4');
  // 9. per member
  const loose = await call<string>('PIF.db_introduce', 'eth7', await newNet('n-eth7'), host, '02:00:00:00:00:77', 1500, -1, true,
    'None', '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}, false, 'None', [], '', 'IPv4', false, { gro: 'on' });
  await assertApiError(call('Bond.create', net, [eth2, loose], '', 'balance-slb', {}), 'PIF_UNMANAGED', [loose]);
  const vlan = await call<string>('VLAN.create', eth1, 70, await newNet('vlan 70'));
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  await assertApiError(call('Bond.create', net, [eth2, vpif], '', 'balance-slb', {}), 'PIF_VLAN_EXISTS', ['eth1']);
  await call('tunnel.create', eth1, await newNet('tun b'), 'gre').catch(() => undefined);
  const access = (await rec('tunnel', tunnelsOver(eth1)[0]!)).access_PIF;
  await assertApiError(call('Bond.create', net, [eth2, access], '', 'balance-slb', {}), 'IS_TUNNEL_ACCESS_PIF', [access]);
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(call('Bond.create', net, [eth2, eth0], '', 'balance-slb', {}), 'HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE', []);
  poke('pool', poolRef(), { ha_enabled: false });
  // 4 and 9 (SR-IOV, data only): a network with an SR-IOV PIF (before the MAC check); an SR-IOV logical member
  const host2 = store().transact((tx) => createHost(tx, 'host2', '10.9.9.2'));
  const sriovNet = await newNet('sriov');
  const vf = await call<string>('PIF.db_introduce', 'eth5', sriovNet, host2, '02:00:00:00:02:05', 1500, -1, false,
    'None', '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  poke('PIF', vf, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  await assertApiError(call('Bond.create', sriovNet, [eth2, eth3], 'bad', 'balance-slb', {}), 'NETWORK_INCOMPATIBLE_WITH_BOND', [sriovNet]);
  poke('PIF', eth3, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  try {
    await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'balance-slb', {}), 'PIF_IS_SRIOV_LOGICAL', [eth3]);
  } finally {
    poke('PIF', eth3, { sriov_logical_PIF_of: [] });
  }
  // 10-12
  const far = await call<string>('PIF.db_introduce', 'eth2', netOf(eth2), host2, '02:00:00:00:02:02', 1500, -1, true,
    'None', '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}, false, 'None', [], '', 'IPv4', true, { gro: 'on' });
  await assertApiError(call('Bond.create', net, [eth2, far], '', 'balance-slb', {}), 'PIF_CANNOT_BOND_CROSS_HOST', []);
  await call('PIF.set_property', eth3, 'gro', 'off');
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'balance-slb', {}), 'INCOMPATIBLE_PIF_PROPERTIES', []);
  await call('PIF.set_property', eth3, 'gro', 'on');
  await call('PIF.reconfigure_ip', eth2, 'Static', '10.2.0.2', '255.255.255.0', '', '');
  await call('PIF.reconfigure_ip', eth3, 'DHCP', '', '', '', '');
  await assertApiError(call('Bond.create', net, [eth2, eth3], '', 'balance-slb', {}), 'PIF_BOND_MORE_THAN_ONE_IP', []);
  await call('PIF.reconfigure_ip', eth3, 'None', '', '', '', '');
  assert.deepEqual((await rec('network', net)).PIFs, [], 'refused calls wrote nothing');
  assert.deepEqual(await call('Bond.get_all'), []);

  // already bonded: a member of another bond, and a bond master
  const one = await call<string>('Bond.create', net, [eth3], '', 'lacp', { 'lacp-aggregation-key': '7' });
  const b = await rec('Bond', one);
  assert.deepEqual(b.slaves, [eth3], 'one member is accepted');
  assert.deepEqual(b.properties, { hashing_algorithm: 'tcpudp_ports', 'lacp-time': 'slow', 'lacp-fallback-ab': 'true', 'lacp-aggregation-key': '7' });
  const net2 = await newNet('checks 2');
  await assertApiError(call('Bond.create', net2, [eth2, eth3], '', 'balance-slb', {}), 'PIF_ALREADY_BONDED', [eth3]);
  await assertApiError(call('Bond.create', net2, [b.master], '', 'balance-slb', {}), 'PIF_ALREADY_BONDED', [b.master]);
  // VLANs and tunnels refuse bond members
  await assertApiError(call('VLAN.create', eth3, 71, net2), 'CANNOT_ADD_VLAN_TO_BOND_SLAVE', [eth3]);
  await assertApiError(call('tunnel.create', eth3, net2, 'gre'), 'CANNOT_ADD_TUNNEL_TO_BOND_SLAVE', [eth3]);
  await call('Bond.destroy', one);
});

test('Bond.set_mode and Bond.set_property: validation, defaults, properties dropped', async () => {
  const net = await newNet('modes');
  const bond = await call<string>('Bond.create', net, [pifOf('eth2'), pifOf('eth3')], '', 'balance-slb', {});
  await assertApiError(call('Bond.set_property', bond, 'hashing_algorithm', 'src_mac'), 'INVALID_VALUE', ['properties', 'hashing_algorithm = src_mac']);
  await call('Bond.set_mode', bond, 'lacp');
  let b = await rec('Bond', bond);
  assert.deepEqual([b.mode, b.properties], ['lacp', { hashing_algorithm: 'tcpudp_ports', 'lacp-time': 'slow', 'lacp-fallback-ab': 'true' }]);
  await call('Bond.set_property', bond, 'lacp-time', 'fast');
  await assertApiError(call('Bond.set_property', bond, 'lacp-time', 'never'), 'INVALID_VALUE', ['properties', 'lacp-time = never']);
  assert.equal((await rec('Bond', bond)).properties['lacp-time'], 'fast');
  await call('Bond.set_mode', bond, 'lacp');
  assert.equal((await rec('Bond', bond)).properties['lacp-time'], 'fast', 'valid properties are kept');
  await call('Bond.set_mode', bond, 'active-backup');
  b = await rec('Bond', bond);
  assert.deepEqual([b.mode, b.properties], ['active-backup', {}]);
  await call('Bond.destroy', bond);
});

test('a management VLAN on a member moves to the master and back, staying the management interface', async () => {
  const [eth0, eth2, eth3] = [pifOf('eth0'), pifOf('eth2'), pifOf('eth3')];
  const vnet = await newNet('mgmt vlan');
  const vlan = await call<string>('VLAN.create', eth2, 99, vnet);
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  await call('PIF.reconfigure_ip', vpif, 'Static', '10.99.0.2', '255.255.255.0', '10.99.0.1', '');
  await call('host.management_reconfigure', vpif);
  const bond = await call<string>('Bond.create', await newNet('under mgmt vlan'), [eth2, eth3], '', 'balance-slb', {});
  const master = (await rec('Bond', bond)).master;
  const moved = vlansOn(master).find((v) => store().get('VLAN', v).tag === 99);
  const mp = await rec('PIF', (await rec('VLAN', moved!)).untagged_PIF);
  assert.deepEqual([mp.management, mp.currently_attached, mp.IP, mp.ip_configuration_mode], [true, true, '10.99.0.2', 'Static']);
  assert.equal(await call('host.get_management_interface', host), (await rec('VLAN', moved!)).untagged_PIF);
  // VLAN.destroy refuses the management VLAN PIF
  const movedPif = (await rec('VLAN', moved!)).untagged_PIF;
  await assertApiError(call('VLAN.destroy', moved), 'PIF_IS_MANAGEMENT_INTERFACE', [movedPif]);
  await call('Bond.destroy', bond);
  const back = vlansOn(eth2).find((v) => store().get('VLAN', v).tag === 99);
  const bp = (await rec('VLAN', back!)).untagged_PIF;
  assert.equal(await call('host.get_management_interface', host), bp);
  await call('host.management_reconfigure', eth0);
  await call('VLAN.destroy', back);
  assert.deepEqual(vlansOn(eth2).filter((v) => store().get('VLAN', v).tag === 99), []);
});

test('VLAN.destroy: PIF_ALREADY_BONDED when the untagged PIF is a bond member', async () => {
  const [eth1, eth2, eth3] = [pifOf('eth1'), pifOf('eth2'), pifOf('eth3')];
  const bond = await call<string>('Bond.create', await newNet('last'), [eth2, eth3], '', 'balance-slb', {});
  const before = store().get('PIF', eth2);
  // a record-level VLAN whose untagged PIF is a member (only pool_introduce can build one)
  const odd = await call<string>('VLAN.pool_introduce', eth1, eth2, 9, {});
  await assertApiError(call('VLAN.destroy', odd), 'PIF_ALREADY_BONDED', [eth2]);
  store().transact((tx) => {
    tx.destroy('VLAN', odd);
    tx.update('PIF', eth2, storedFields(before, ['VLAN_master_of', 'metrics']));
  });
  await call('Bond.destroy', bond);
});
