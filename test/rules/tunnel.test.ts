// tunnel rules over JSON-RPC (xen-api: ocaml/xapi/xapi_tunnel.ml) and the pool tunnel controller
// : access PIF, checks in order, rows kept when the plug fails, destroy,
// per-network keys in network.other_config, tunnel.status.active.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rec } from '../../src/idl/meta.js';
import { createHost } from '../../src/server/boot.js';
import { planTunnelKeys, TUNNEL_KEY } from '../../src/server/impl/controller.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ruleKit } from '../support/rule-kit.js';
import { report as fullReport } from '../support/report.js';

let pool: TestPool;
let host: string;
const kit = ruleKit(() => pool, () => host);
const { store, call, rec, pifOf, poke, token, newNet } = kit;
const eventsSince = async (tok: string) => (await kit.events(tok)).map((e) => `${e.operation} ${e.class} ${e.ref}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean): Promise<T> {
  let v = await fn();
  for (let i = 0; i < 100 && !ok(v); i++) { await sleep(20); v = await fn(); }
  assert.ok(ok(v), `${what}: got ${JSON.stringify(v)}`);
  return v;
}
const keyOf = async (net: string) => (await rec('network', net)).other_config[TUNNEL_KEY] as string | undefined;

before(async () => {
  pool = await startTestPool({ fakeNics: 4 });
  pool.master.server.hub.timeoutMs = 300;
  host = pool.master.host;
  await call('PIF.reconfigure_ip', pifOf('eth1'), 'Static', '192.0.2.1', '255.255.255.0', '', '');
  // startMaster runs the tunnel controller (src/server/serve.ts)
});
after(async () => { await pool.close(); });

test('tunnel.create: access PIF tunnel<N> on the transport\'s metrics, status, protocol; plugged; events', async () => {
  const eth1 = pifOf('eth1');
  const transport = await rec('PIF', eth1);
  const net = await newNet('private 1');
  const tok = await token();
  const tun = await call<string>('tunnel.create', eth1, net); // protocol defaults to gre
  const t = await rec('tunnel', tun);
  assert.deepEqual([t.transport_PIF, t.protocol, t.other_config], [eth1, 'gre', {}]);
  const a = await rec('PIF', t.access_PIF);
  // (MTU starts at -1, see the next test; the plug refreshes it from the agent's report)
  assert.deepEqual([a.device, a.network, a.host, a.VLAN, a.metrics, a.physical, a.currently_attached],
    ['tunnel0', net, host, -1, transport.metrics, false, true]);
  assert.deepEqual([a.IPv6, a.managed, a.primary_address_type, a.ip_configuration_mode, a.tunnel_access_PIF_of],
    [[''], true, transport.primary_address_type, 'None', [tun]]);
  assert.match(a.MAC, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered unicast');
  assert.deepEqual((await rec('PIF', eth1)).tunnel_transport_PIF_of, [tun]);
  const ev = await eventsSince(tok);
  for (const e of [`add tunnel ${tun}`, `add pif ${t.access_PIF}`, `mod pif ${eth1}`, `mod network ${net}`]) assert.ok(ev.includes(e), `${e} in events`);
  const tun2 = await call<string>('tunnel.create', eth1, await newNet('private 2'), 'vxlan');
  const t2 = await rec('tunnel', tun2);
  assert.equal(t2.protocol, 'vxlan');
  assert.equal((await rec('PIF', t2.access_PIF)).device, 'tunnel1');
});

test('tunnel.create: TRANSPORT_PIF_NOT_CONFIGURED when the transport has no IP; the rows remain', async () => {
  const eth2 = pifOf('eth2');
  const net = await newNet('no ip');
  await assertApiError(call('tunnel.create', eth2, net, 'gre'), 'TRANSPORT_PIF_NOT_CONFIGURED', [eth2]);
  const [tun] = (await rec('PIF', eth2)).tunnel_transport_PIF_of;
  const a = await rec('PIF', (await rec('tunnel', tun)).access_PIF);
  assert.deepEqual([a.network, a.currently_attached, a.MTU, a.VLAN], [net, false, -1, -1]);
  assert.equal((await rec('tunnel', tun)).status.active, 'false');
});

test('tunnel.create: checks with their parameters, in order', async () => {
  const eth1 = pifOf('eth1');
  const unmanaged = await newNet('unmanaged', { managed: false, bridge: 'extt' });
  const fresh = await newNet('fresh');
  const loose = await call<string>('PIF.db_introduce', 'eth7', await newNet('n-eth7'), host, '02:00:00:00:00:77', 1500, -1, true,
    'Static', '192.0.2.7', '255.255.255.0', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {}, false, 'None', [], '', 'IPv4', false);
  const host2 = store().transact((tx) => createHost(tx, 'host2', '10.9.9.2'));
  const sv = store().get('host', host2).software_version as Rec;
  poke('host', host2, { software_version: { ...sv, network_backend: 'bridge' } });
  await assertApiError(call('tunnel.create', eth1, unmanaged, 'gre'), 'NETWORK_UNMANAGED', [unmanaged]);
  const eth3 = pifOf('eth3');
  await assertApiError(call('tunnel.create', eth1, (await rec('PIF', eth3)).network, 'gre'), 'NETWORK_ALREADY_CONNECTED', [host, eth3]);
  await assertApiError(call('tunnel.create', loose, fresh, 'gre'), 'PIF_UNMANAGED', [loose]);
  const access = (await rec('tunnel', (await rec('PIF', eth1)).tunnel_transport_PIF_of[0])).access_PIF;
  await assertApiError(call('tunnel.create', access, fresh, 'gre'), 'IS_TUNNEL_ACCESS_PIF', [access]);
  // 4-5. SR-IOV (data only, no SR-IOV objects here): a logical PIF, a VLAN over one, a network with one
  const eth2 = pifOf('eth2');
  const v2 = await call<string>('VLAN.create', eth2, 34, await newNet('vlan 34'));
  const v2pif = (await rec('VLAN', v2)).untagged_PIF as string;
  const sriovNet = await newNet('sriov net');
  const vf = await call<string>('PIF.db_introduce', 'eth5', sriovNet, host2, '02:00:00:00:02:05', 1500, -1, false,
    'None', '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  poke('PIF', eth2, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  poke('PIF', vf, { sriov_logical_PIF_of: ['OpaqueRef:sriov'] });
  try {
    await assertApiError(call('tunnel.create', eth2, fresh, 'gre'), 'CANNOT_ADD_TUNNEL_TO_SRIOV_LOGICAL', [eth2]);
    await assertApiError(call('tunnel.create', v2pif, fresh, 'gre'), 'CANNOT_ADD_TUNNEL_TO_VLAN_ON_SRIOV_LOGICAL', [v2pif]);
    await assertApiError(call('tunnel.create', eth1, sriovNet, 'gre'), 'NETWORK_INCOMPATIBLE_WITH_TUNNEL', [sriovNet]);
  } finally {
    poke('PIF', eth2, { sriov_logical_PIF_of: [] });
  }
  store().transact((tx) => tx.destroy('PIF', vf));
  await call('VLAN.destroy', v2);
  await assertApiError(call('tunnel.create', eth1, fresh, 'gre'), 'OPENVSWITCH_NOT_ACTIVE', []);
  poke('host', host2, { software_version: sv });
  assert.deepEqual((await rec('network', fresh)).PIFs, [], 'refused calls wrote nothing');
  // a VLAN PIF is a valid transport
  const vlan = await call<string>('VLAN.create', pifOf('eth3'), 33, await newNet('vlan 33'));
  const vpif = (await rec('VLAN', vlan)).untagged_PIF;
  await call('PIF.reconfigure_ip', vpif, 'Static', '198.51.100.1', '255.255.255.0', '', '');
  const tun = await call<string>('tunnel.create', vpif, fresh, 'gre');
  assert.equal((await rec('tunnel', tun)).transport_PIF, vpif);
  store().transact((tx) => tx.destroy('host', host2));
});

test('tunnel.destroy: unplug checks, then the access PIF and the tunnel go; the transport\'s metrics stay', async () => {
  const eth1 = pifOf('eth1');
  const net = await newNet('to destroy');
  const tun = await call<string>('tunnel.create', eth1, net, 'vxlan');
  const access = (await rec('tunnel', tun)).access_PIF;
  await call('PIF.set_disallow_unplug', access, true);
  await assertApiError(call('tunnel.destroy', tun), 'PIF_DOES_NOT_ALLOW_UNPLUG', [access]);
  await call('PIF.set_disallow_unplug', access, false);
  const vm = await call<string>('VM.create', { name_label: 'tunnel user' });
  const vif = await call<string>('VIF.create', { device: '0', network: net, VM: vm, MAC: '02:bb:00:00:00:01', MTU: 1500,
    other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
  await call('VM.start_on', vm, host, false, false);
  await assertApiError(call('tunnel.destroy', tun), 'VIF_IN_USE', [net, vif]);
  await call('VM.hard_shutdown', vm);
  const tok = await token();
  await call('tunnel.destroy', tun);
  await assertApiError(rec('tunnel', tun), 'HANDLE_INVALID', ['tunnel', tun]);
  await assertApiError(rec('PIF', access), 'HANDLE_INVALID', ['PIF', access]);
  assert.ok(await rec('PIF_metrics', (await rec('PIF', eth1)).metrics));
  assert.ok(!(await rec('PIF', eth1)).tunnel_transport_PIF_of.includes(tun));
  const ev = await eventsSince(tok);
  for (const e of [`del tunnel ${tun}`, `del pif ${access}`, `mod pif ${eth1}`, `mod network ${net}`]) assert.ok(ev.includes(e), `${e} in events`);
  assert.ok((await keyOf(net))?.match(/^\d+$/), 'the network keeps its key');
});

test('controller: a unique key per tunnel network, kept; status.active follows attachment and realisation', async () => {
  const eth1 = pifOf('eth1');
  const [n1, n2] = [await newNet('mesh a'), await newNet('mesh b')];
  const plain = await newNet('no tunnels');
  const t1 = await call<string>('tunnel.create', eth1, n1, 'gre');
  const t2 = await call<string>('tunnel.create', eth1, n2, 'vxlan');
  const k1 = await until('key of mesh a', () => keyOf(n1), (k) => !!k && /^\d+$/.test(k));
  const k2 = await until('key of mesh b', () => keyOf(n2), (k) => !!k && /^\d+$/.test(k));
  assert.notEqual(k1, k2);
  assert.equal(await keyOf(plain), undefined, 'networks without tunnels get no key');
  const all = Object.values(await call<Record<string, any>>('network.get_all_records')).map((n) => n.other_config[TUNNEL_KEY]).filter(Boolean);
  assert.equal(new Set(all).size, all.length, 'keys are unique');
  await until('t1 active', async () => (await rec('tunnel', t1)).status.active, (a) => a === 'true');
  // unplugged → false; plugged again → true
  const a1 = (await rec('tunnel', t1)).access_PIF;
  await call('PIF.unplug', a1);
  await until('t1 inactive', async () => (await rec('tunnel', t1)).status.active, (a) => a === 'false');
  await call('PIF.plug', a1);
  await until('t1 active again', async () => (await rec('tunnel', t1)).status.active, (a) => a === 'true');
  // a duplicate key written by hand is given up by one of the two networks
  await call('network.set_other_config', n2, { ...(await rec('network', n2)).other_config, [TUNNEL_KEY]: k1 });
  await until('keys distinct again', async () => [await keyOf(n1), await keyOf(n2)], ([a, b]) => !!a && !!b && a !== b);
  assert.equal(await keyOf(n1) === k1 || await keyOf(n2) === k1, true);
  // settled (both tunnels realised with their keys): a pass over the same records writes nothing
  for (const t of [t1, t2]) await until('active with the new keys', async () => (await rec('tunnel', t)).status.active, (a) => a === 'true');
  const gen = store().generation;
  pool.master.controller.sync();
  assert.equal(store().generation, gen, 'no writes once settled');
});

test('controller: an attached access PIF stays inactive until its host\'s agent has realised it', async () => {
  const host2 = store().transact((tx) => createHost(tx, 'host2b', '10.9.9.3'));
  const net = await newNet('mesh c');
  const tp = await call<string>('PIF.db_introduce', 'eth1', (await rec('PIF', pifOf('eth1'))).network, host2, '02:00:00:00:03:01', 1500, -1, true,
    'Static', '192.0.2.2', '255.255.255.0', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
  poke('PIF', tp, { currently_attached: true });
  await assertApiError(call('tunnel.create', tp, net, 'gre'), 'HOST_OFFLINE', [host2]);
  const [tun] = (await rec('PIF', tp)).tunnel_transport_PIF_of;
  const access = (await rec('tunnel', tun)).access_PIF;
  // (the plug failed on the transport, which has no agent either: mark the access PIF wanted up)
  poke('PIF', access, { currently_attached: true });
  await until('key of mesh c', () => keyOf(net), (k) => !!k);
  // a controller pass now (as its retry would run): still no agent has realised it
  pool.master.controller.sync();
  assert.equal((await rec('tunnel', tun)).status.active, 'false', 'no agent has realised it');
  // host2's agent reports having realised everything so far
  pool.master.server.hub.report(host2, store().generation, fullReport());
  await until('active after the report', async () => (await rec('tunnel', tun)).status.active, (a) => a === 'true');
  // an agent error for the access PIF clears currently_attached, and the status follows
  pool.master.server.hub.report(host2, store().generation, fullReport({ errors: { [access]: 'no route to peer' } }));
  await until('inactive after the error', async () => (await rec('tunnel', tun)).status.active, (a) => a === 'false');
  assert.equal((await rec('PIF', access)).currently_attached, false);
});

test('planTunnelKeys: keeps valid keys, fixes duplicates and junk, fills the smallest free', () => {
  const keys = new Map<string, string | undefined>([['a', '1'], ['b', '1'], ['c', 'x'], ['d', undefined], ['e', '3']]);
  assert.deepEqual([...planTunnelKeys(keys, ['a', 'b', 'c', 'd'])], [['b', '2'], ['c', '4'], ['d', '5']]);
  assert.deepEqual([...planTunnelKeys(new Map([['a', '0'], ['b', '16777216']]), ['a', 'b'])], [['a', '1'], ['b', '2']]);
  assert.deepEqual([...planTunnelKeys(keys, [])], []);
});

test('tunnel.create lowers the network\'s MTU to what the transport carries once encapsulated', async () => {
  const eth1 = pifOf('eth1');
  const vx = await newNet('mtu vxlan');
  const made = await call<string>('tunnel.create', eth1, vx, 'vxlan');
  // 1500 over a 1500 transport: VXLAN adds 50 bytes
  assert.equal((await rec('network', vx)).MTU, 1450);
  const gre = await newNet('mtu gre');
  const made2 = await call<string>('tunnel.create', eth1, gre, 'gre');
  // GRE: 42 bytes on the mesh, 58 as Geneve on OVN; the larger is kept so either fits
  assert.equal((await rec('network', gre)).MTU, 1442);
  // a network already small enough is left alone
  const small = await newNet('mtu small');
  await call('network.set_MTU', small, 1400);
  const made3 = await call<string>('tunnel.create', eth1, small, 'vxlan');
  assert.equal((await rec('network', small)).MTU, 1400);
  for (const t of [made, made2, made3]) await call('tunnel.destroy', t);
});

test('network.set_MTU refuses an MTU that a tunnel of the network cannot carry, on the mesh and on OVN', async () => {
  const eth1 = pifOf('eth1');
  const transportMtu = (await rec('PIF', eth1)).MTU as number;
  const hostName = (await rec('host', host)).name_label as string;
  const poolRef = Object.keys(await call<Record<string, Rec>>('pool.get_all_records'))[0]!;
  for (const sdn of ['mesh', 'ovn']) {
    await call('pool.add_to_other_config', poolRef, 'xcpnet-sdn', sdn);
    try {
      for (const [protocol, overhead] of [['vxlan', 50], ['gre', 58]] as const) {
        const net = await newNet(`set mtu ${sdn} ${protocol}`);
        const t = await call<string>('tunnel.create', eth1, net, protocol);
        const fit = transportMtu - overhead;
        assert.equal((await rec('network', net)).MTU, fit);
        const note = protocol === 'gre' ? ' (gre counts Geneve\'s 58 bytes, what it becomes on OVN)' : '';
        const uuid = (await rec('network', net)).uuid as string;
        await assertApiError(call('network.set_MTU', net, fit + 1), 'INVALID_VALUE',
          ['MTU', String(fit + 1), `network ${uuid} is carried by a ${protocol} tunnel over eth1 of host ${hostName} (MTU ${transportMtu}): at most ${fit} fits once encapsulated${note}`]);
        assert.equal((await rec('network', net)).MTU, fit, 'nothing changed');
        // Smaller is fine; the implicit setter's own checks still apply.
        await call('network.set_MTU', net, fit - 100);
        assert.equal((await rec('network', net)).MTU, fit - 100);
        await assertApiError(call('network.set_MTU', net, 67), 'INVALID_VALUE');
        await call('tunnel.destroy', t);
        // Without its tunnel the network may be as large as it likes.
        await call('network.set_MTU', net, 9000);
      }
    } finally {
      await call('pool.remove_from_other_config', poolRef, 'xcpnet-sdn');
    }
  }
});
