// VLAN rules over JSON-RPC (xen-api: ocaml/xapi/xapi_vlan.ml): VLAN.create (nine checks in order,
// the VLAN PIF, plug at once without rollback), VLAN.destroy, the pool helpers, events, and the
// seed scenario's VLAN part (network.destroy refuses while a VLAN PIF sits on the network).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ruleKit } from '../support/rule-kit.js';

let pool: TestPool;
let host: string;
const kit = ruleKit(() => pool, () => host);
const { store, call, rec, pifOf, poke, poolRef, token, newNet } = kit;
const eventsSince = async (tok: string, classes = ['*']) => (await kit.events(tok, classes)).map((e) => `${e.operation} ${e.class} ${e.ref}`);

/** A second host without an agent, with a PIF `device` on `network` (db_introduce). */
function dbPif(h: string, device: string, network: string, mac: string, extra: unknown[] = []) {
  return call<string>('PIF.db_introduce', device, network, h, mac, 1500, -1, true, 'None', '', '', '', '',
    'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}, ...extra);
}
let host2: string;

before(async () => {
  pool = await startTestPool({ fakeNics: 4 });
  pool.master.server.hub.timeoutMs = 300;
  host = pool.master.host;
  host2 = store().transact((tx) => createHost(tx, 'host2', '10.9.9.2'));
});
after(async () => { await pool.close(); });

test('VLAN.create: VLAN row and VLAN PIF as xapi makes them, plugged at once; events', async () => {
  const eth1 = pifOf('eth1');
  const parent = await rec('PIF', eth1);
  const net = await newNet('vlan 10');
  const tok = await token();
  const vlan = await call<string>('VLAN.create', eth1, 10, net);
  const v = await rec('VLAN', vlan);
  assert.equal(v.tagged_PIF, eth1);
  assert.equal(v.tag, 10);
  assert.deepEqual(v.other_config, {});
  const p = await rec('PIF', v.untagged_PIF);
  assert.deepEqual(
    [p.device, p.network, p.host, p.MAC, p.MTU, p.VLAN, p.metrics, p.physical, p.currently_attached],
    [parent.device, net, host, 'fe:ff:ff:ff:ff:ff', parent.MTU, 10, parent.metrics, false, true]);
  assert.deepEqual(
    [p.ip_configuration_mode, p.IP, p.netmask, p.gateway, p.DNS, p.ipv6_configuration_mode, p.IPv6, p.ipv6_gateway],
    ['None', '', '', '', '', 'None', [''], '']);
  assert.deepEqual([p.primary_address_type, p.managed, p.management, p.disallow_unplug, p.properties, p.capabilities, p.VLAN_master_of],
    [parent.primary_address_type, true, false, false, {}, [], vlan]);
  assert.deepEqual((await rec('PIF', eth1)).VLAN_slave_of, [vlan]);
  assert.deepEqual((await rec('network', net)).PIFs, [v.untagged_PIF]);
  const ev = await eventsSince(tok);
  for (const e of [`add vlan ${vlan}`, `add pif ${v.untagged_PIF}`, `mod pif ${eth1}`, `mod network ${net}`]) assert.ok(ev.includes(e), `${e} in ${ev}`);
  // Tag 0 is accepted.
  const v0 = await call<string>('VLAN.create', pifOf('eth2'), 0, await newNet('vlan 0'));
  assert.equal((await rec('VLAN', v0)).tag, 0);
});

test('VLAN.create: the nine checks with their parameters, in order', async () => {
  const eth1 = pifOf('eth1');
  const eth2 = pifOf('eth2');
  const eth2net = (await rec('PIF', eth2)).network;
  const unmanagedNet = await newNet('unmanaged', { managed: false, bridge: 'ext0' });
  const fresh = await newNet('fresh');
  // 1. unmanaged network wins over everything after it
  await assertApiError(call('VLAN.create', eth1, 5000, unmanagedNet), 'NETWORK_UNMANAGED', [unmanagedNet]);
  // 2. the network already has a PIF on the host: [host, pif]
  await assertApiError(call('VLAN.create', eth1, 5000, eth2net), 'NETWORK_ALREADY_CONNECTED', [host, eth2]);
  // 3. unmanaged parent
  const loose = await dbPif(host, 'eth7', await newNet('n-eth7'), '02:00:00:00:00:77', [false, 'None', [], '', 'IPv4', false]);
  await assertApiError(call('VLAN.create', loose, 5000, fresh), 'PIF_UNMANAGED', [loose]);
  // 4. parent is a VLAN PIF / a tunnel access PIF (the bond member case is in bond.test.ts)
  const vlan = await call<string>('VLAN.create', eth1, 11, await newNet('vlan 11'));
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  await assertApiError(call('VLAN.create', vpif, 5000, fresh), 'PIF_IS_VLAN', [vpif]);
  const tun = await call<string>('tunnel.create', eth2, await newNet('tun for vlan'), 'gre').catch(() => undefined);
  const access = [...store().all('tunnel')].map(([, t]) => t.access_PIF as string).find((a) => store().find('PIF', a)?.host === host);
  void tun;
  assert.ok(access, 'a tunnel access PIF exists (rows stay even when its plug fails)');
  await assertApiError(call('VLAN.create', access, 5000, fresh), 'IS_TUNNEL_ACCESS_PIF', [access]);
  // 5. SR-IOV (data only): a bridge VLAN onto a network of SR-IOV PIFs, an SR-IOV VLAN onto one without
  const sriovNet = await newNet('sriov');
  const vf = await dbPif(host2, 'eth5', sriovNet, '02:00:00:00:02:05');
  poke('PIF', vf, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  await assertApiError(call('VLAN.create', eth1, 5000, sriovNet), 'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_BRIDGE', [sriovNet]);
  const plainNet = await newNet('plain');
  await dbPif(host2, 'eth6', plainNet, '02:00:00:00:02:06');
  poke('PIF', eth1, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  try {
    await assertApiError(call('VLAN.create', eth1, 5000, plainNet), 'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_SRIOV', [plainNet]);
  } finally {
    poke('PIF', eth1, { sriov_logical_PIF_of: [] });
  }
  // 6. tag range
  await assertApiError(call('VLAN.create', eth1, -1, fresh), 'VLAN_TAG_INVALID', [-1]);
  await assertApiError(call('VLAN.create', eth1, 4095, fresh), 'VLAN_TAG_INVALID', [4095]);
  // 7. duplicate tag on the parent: the parent's device name
  await assertApiError(call('VLAN.create', eth1, 11, fresh), 'PIF_VLAN_EXISTS', ['eth1']);
  // 8. the host reports eth1.12 on a bridge outside xcpnet's control
  //    (the last report is overridden here, so the running agent cannot replace it meanwhile)
  const hub = pool.master.server.hub;
  const lastReport = hub.lastReport;
  hub.lastReport = (h) => (h === host
    ? { ...lastReport.call(hub, h)!, bridges: [{ name: 'xenbr1', id: '', stp: false, interfaces: ['eth1', 'eth1.12'] }] }
    : lastReport.call(hub, h));
  try {
    await assertApiError(call('VLAN.create', eth1, 12, fresh), 'VLAN_IN_USE', ['eth1', 12]);
  } finally { hub.lastReport = lastReport; }
  // 9. a VIF on the network uses trunks (and a duplicate tag is reported before it)
  const vm = await call<string>('VM.create', { name_label: 'trunky' });
  const vif = await call<string>('VIF.create', { device: '0', network: fresh, VM: vm, MAC: '02:11:22:33:44:55', MTU: 1500,
    other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
  await call('VIF.set_trunks', vif, [100]);
  await assertApiError(call('VLAN.create', eth1, 11, fresh), 'PIF_VLAN_EXISTS', ['eth1']);
  await assertApiError(call('VLAN.create', eth1, 13, fresh), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [fresh]);
  // nothing was written by the refused calls
  assert.deepEqual((await rec('network', fresh)).PIFs, []);
});

test('VLAN.create: a failed plug keeps both rows (no rollback)', async () => {
  const net2 = await newNet('h2 phys');
  const h2eth0 = await dbPif(host2, 'eth0', net2, '02:00:00:00:02:00');
  const net = await newNet('h2 vlan');
  await assertApiError(call('VLAN.create', h2eth0, 40, net), 'HOST_OFFLINE', [host2]);
  const vlans = Object.values(await call<Record<string, any>>('VLAN.get_all_records')).filter((v) => v.tagged_PIF === h2eth0);
  assert.equal(vlans.length, 1);
  const p = await rec('PIF', vlans[0].untagged_PIF);
  assert.deepEqual([p.network, p.VLAN, p.host], [net, 40, host2]);
});

test('VLAN.destroy: checks, then the VLAN and its PIF go; metrics and network stay; events', async () => {
  const eth3 = pifOf('eth3');
  const net = await newNet('vlan 30');
  const vlan = await call<string>('VLAN.create', eth3, 30, net);
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  // disallow_unplug (from the unplug checks)
  await call('PIF.set_disallow_unplug', vpif, true);
  await assertApiError(call('VLAN.destroy', vlan), 'PIF_DOES_NOT_ALLOW_UNPLUG', [vpif]);
  await call('PIF.set_disallow_unplug', vpif, false);
  // HA gate on an attached VLAN PIF
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(call('VLAN.destroy', vlan), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  // management VLAN PIF
  await call('PIF.reconfigure_ip', vpif, 'Static', '10.30.0.2', '255.255.255.0', '', '');
  const mgmt = await call<string>('host.get_management_interface', host);
  await call('host.management_reconfigure', vpif);
  await assertApiError(call('VLAN.destroy', vlan), 'PIF_IS_MANAGEMENT_INTERFACE', [vpif]);
  // on the master that refusal comes from the unplug checks, so the HA gate answers first
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(call('VLAN.destroy', vlan), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  await call('host.management_reconfigure', mgmt);
  // the seed scenario: network.destroy refuses while the VLAN PIF sits on the network
  await assertApiError(call('network.destroy', net), 'NETWORK_CONTAINS_PIF', [vpif]);
  const metrics = (await rec('PIF', eth3)).metrics;
  const tok = await token();
  await call('VLAN.destroy', vlan);
  await assertApiError(rec('VLAN', vlan), 'HANDLE_INVALID', ['VLAN', vlan]);
  await assertApiError(rec('PIF', vpif), 'HANDLE_INVALID', ['PIF', vpif]);
  assert.deepEqual((await rec('PIF', eth3)).VLAN_slave_of, []);
  assert.equal((await rec('PIF_metrics', metrics)).uuid.length > 0, true);
  assert.deepEqual((await rec('network', net)).PIFs, []);
  const ev = await eventsSince(tok);
  for (const e of [`del vlan ${vlan}`, `del pif ${vpif}`, `mod pif ${eth3}`, `mod network ${net}`]) assert.ok(ev.includes(e), `${e} in ${ev}`);
  await call('network.destroy', net);
  await assertApiError(rec('network', net), 'HANDLE_INVALID', ['network', net]);
});

test('VLAN.destroy: a pool member\'s attached management VLAN PIF is refused before the HA gate', async () => {
  const parent = await dbPif(host2, 'eth7', await newNet('h2-eth7'), '02:00:00:00:02:07');
  const net = await newNet('h2 vlan 70');
  // host2 has no agent: the plug times out, the rows stay (no rollback)
  await assertApiError(call('VLAN.create', parent, 70, net), 'HOST_OFFLINE', [host2]);
  const vlan = (await rec('PIF', parent)).VLAN_slave_of[0] as string;
  const vpif = (await rec('VLAN', vlan)).untagged_PIF as string;
  poke('PIF', vpif, { currently_attached: true, management: true });
  poke('pool', poolRef(), { ha_enabled: true });
  try {
    await assertApiError(call('VLAN.destroy', vlan), 'PIF_IS_MANAGEMENT_INTERFACE', [vpif]);
  } finally {
    poke('pool', poolRef(), { ha_enabled: false });
  }
  assert.equal((await rec('VLAN', vlan)).untagged_PIF, vpif);
  // not attached: past that check, the unplug checks still refuse the management PIF
  poke('PIF', vpif, { currently_attached: false });
  await assertApiError(call('VLAN.destroy', vlan), 'PIF_IS_MANAGEMENT_INTERFACE', [vpif]);
});

test('VLAN.destroy: PIF_IS_PHYSICAL [] for a non-VLAN untagged PIF; a VLAN whose PIF is gone just goes', async () => {
  const odd = await dbPif(host, 'eth8', await newNet('n-eth8'), '02:00:00:00:00:88');
  const bad = await call<string>('VLAN.pool_introduce', pifOf('eth2'), odd, 8, {});
  assert.equal((await rec('PIF', odd)).metrics, (await rec('PIF', pifOf('eth2'))).metrics, 'pool_introduce shares the parent metrics');
  await assertApiError(call('VLAN.destroy', bad), 'PIF_IS_PHYSICAL', []);
  const vlan = await call<string>('VLAN.create', pifOf('eth2'), 31, await newNet('vlan 31'));
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  await call('PIF.db_forget', vpif);
  await call('VLAN.destroy', vlan);
  await assertApiError(rec('VLAN', vlan), 'HANDLE_INVALID', ['VLAN', vlan]);
});

test('pool.create_VLAN_from_PIF: every live host on the pif\'s network; atomic on failure; best-effort plug', async () => {
  const eth1 = pifOf('eth1');
  const phys = (await rec('PIF', eth1)).network;
  const h2eth1 = await dbPif(host2, 'eth1', phys, '02:00:00:00:02:01');
  const net = await newNet('pool vlan 50');
  // a failure on any host leaves nothing anywhere
  await assertApiError(call('pool.create_VLAN_from_PIF', eth1, net, 5000), 'VLAN_TAG_INVALID', [5000]);
  const blocker = await dbPif(host2, 'eth6', net, '02:00:00:00:02:06');
  await assertApiError(call('pool.create_VLAN_from_PIF', eth1, net, 50), 'NETWORK_ALREADY_CONNECTED', [host2, blocker]);
  assert.deepEqual((await rec('network', net)).PIFs, [blocker]);
  await call('PIF.db_forget', blocker);
  // host2 has no agent: its plug fails and is ignored
  const made = await call<string[]>('pool.create_VLAN_from_PIF', eth1, net, 50);
  assert.equal(made.length, 2);
  const recs = await Promise.all(made.map((p) => rec('PIF', p)));
  assert.deepEqual(recs.map((p) => p.host).sort(), [host, host2].sort());
  for (const p of recs) assert.deepEqual([p.network, p.VLAN, p.MAC], [net, 50, 'fe:ff:ff:ff:ff:ff']);
  assert.equal(recs.find((p) => p.host === host).currently_attached, true);
  const parents = await Promise.all(recs.map(async (p) => (await rec('VLAN', p.VLAN_master_of)).tagged_PIF));
  assert.deepEqual(parents.sort(), [eth1, h2eth1].sort());
  // a host that is not live is left out
  poke('host', host2, { enabled: false });
  const only = await call<string[]>('pool.create_VLAN_from_PIF', eth1, await newNet('pool vlan 51'), 51);
  assert.equal(only.length, 1);
  assert.equal((await rec('PIF', only[0]!)).host, host);
  poke('host', host2, { enabled: true });
});

test('pool.create_VLAN: by device name on every host; INVALID_VALUE for an unknown device', async () => {
  const net = await newNet('pool vlan 60');
  await assertApiError(call('pool.create_VLAN', 'eth42', net, 60), 'INVALID_VALUE', ['device', 'eth42']);
  const made = await call<string[]>('pool.create_VLAN', 'eth1', net, 60);
  const recs = await Promise.all(made.map((p) => rec('PIF', p)));
  assert.deepEqual(recs.map((p) => p.host).sort(), [host, host2].sort());
  for (const p of recs) assert.deepEqual([p.device, p.VLAN, p.network], ['eth1', 60, net]);
});
