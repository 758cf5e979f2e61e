import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bondProperties } from './bond.js';
import { compileHost, plugMtus, tunnelPortName, vmsElsewhere } from './desired.js';
import { PoolBuilder } from './pool-builder.js';
import { GUEST_NETWORK_KEY } from '../protocol/host-agent.js';
import { prefixOf } from './records.js';

const HU = '11111111-2222-3333-4444-555555555555';

function onePhysical() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0', 1500);
  const p0 = b.physical(h, 'eth0', n0, { MAC: '02:00:00:00:00:01', mode: 'Static', IP: '10.1.0.5', netmask: '255.255.255.0', gateway: '10.1.0.1', DNS: '10.1.0.53', management: true });
  return { b, h, n0, p0 };
}

test('physical PIF: bridge xenbrN with its NIC as uplink and the PIF MAC, IP on the bridge', () => {
  const { b, h, p0 } = onePhysical();
  const c = compileHost(b.records, h);
  assert.deepEqual(c.errors, {});
  assert.equal(c.doc.host, HU);
  assert.deepEqual(c.doc.bridges, [{
    name: 'xenbr0', owner: p0, networkUuid: b.rec('network', b.rec('PIF', p0).network as string).uuid, mtu: 1500,
    mac: '02:00:00:00:00:01', uplink: { kind: 'nic', device: 'eth0' }, tunnels: [],
  }]);
  assert.deepEqual(c.doc.addresses, [{ dev: 'xenbr0', owner: p0, mode: 'Static', addrs: ['10.1.0.5/24'] }]);
  assert.deepEqual(c.doc.gateway, { dev: 'xenbr0', via: '10.1.0.1', owner: p0 });
  assert.deepEqual(c.doc.dns?.servers, ['10.1.0.53']);
  assert.deepEqual(c.pifs, [{ ref: p0, bridge: 'xenbr0', mtu: 1500, mode: 'Static' }]);
});

test('unplugged PIF produces nothing; other hosts are ignored', () => {
  const { b, h, p0 } = onePhysical();
  const other = b.host();
  b.physical(other, 'eth1', b.network('xenbr1'));
  b.set('PIF', p0, { currently_attached: false });
  const c = compileHost(b.records, h);
  assert.deepEqual(c.doc.bridges, []);
});

test('MTU: PIF other_config:mtu overrides network.MTU', () => {
  const { b, h, p0 } = onePhysical();
  b.set('network', b.rec('PIF', p0).network as string, { MTU: 9000 });
  let c = compileHost(b.records, h);
  assert.equal(c.doc.bridges[0]!.mtu, 9000);
  b.set('PIF', p0, { other_config: { mtu: '4000' } });
  c = compileHost(b.records, h);
  assert.equal(c.doc.bridges[0]!.mtu, 4000);
  assert.equal(c.pifs[0]!.mtu, 4000);
});

test('MTU at the next plug: an attached PIF keeps the MTU of its plug; unplugged and plugged again, it takes the network\'s', () => {
  const { b, h, p0 } = onePhysical();
  const net = b.rec('PIF', p0).network as string;
  let kept = plugMtus(new Map(), b.records, h);
  assert.deepEqual([...kept], [[p0, 1500]]);
  b.set('network', net, { MTU: 9000 });
  kept = plugMtus(kept, b.records, h);
  assert.equal(compileHost(b.records, h, kept).doc.bridges[0]!.mtu, 1500, 'still attached: the MTU of its plug');
  b.set('PIF', p0, { currently_attached: false });
  kept = plugMtus(kept, b.records, h);
  assert.deepEqual([...kept], []);
  b.set('PIF', p0, { currently_attached: true });
  kept = plugMtus(kept, b.records, h);
  assert.equal(compileHost(b.records, h, kept).doc.bridges[0]!.mtu, 9000, 'plugged again: the network\'s');
  // other_config:mtu, too, is taken at the plug.
  b.set('PIF', p0, { other_config: { mtu: '4000' } });
  kept = plugMtus(kept, b.records, h);
  assert.equal(compileHost(b.records, h, kept).doc.bridges[0]!.mtu, 9000);
});

test('VLAN: a bridge (parent, tag) after its parent, parent brought up, MTU clamped to parent', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n1 = b.network('xenbr1', 1500);
  const p1 = b.physical(h, 'eth1', n1, { attached: false, MAC: '02:00:00:00:00:02' });
  const nv = b.network('xapi3', 9000);
  const v = b.vlan(h, p1, nv, 20, { mode: 'Static', IP: '192.168.20.2', netmask: '255.255.255.0' });
  const c = compileHost(b.records, h);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.doc.bridges.map((x) => [x.name, x.uplink?.kind, x.vlan, x.mtu, x.mac]), [
    ['xenbr1', 'nic', undefined, 1500, '02:00:00:00:00:02'],
    ['xapi3', undefined, { parent: 'xenbr1', tag: 20 }, 1500, '02:00:00:00:00:02'],
  ], 'a VLAN cannot exceed its parent; its device has the parent\'s MAC');
  assert.deepEqual(c.doc.addresses.map((i) => [i.dev, i.addrs]), [['xapi3', ['192.168.20.2/24']]], 'no IP config for the implicitly raised parent');
  assert.deepEqual(c.pifs.find((x) => x.ref === v), { ref: v, bridge: 'xapi3', mtu: 1500, mode: 'Static' });
});

test('bond: a bridge whose uplink is the bond of the member NICs; slaves not realised on their own', () => {
  for (const mode of ['balance-slb', 'active-backup', 'lacp'] as const) {
    const b = new PoolBuilder();
    const h = b.host(HU);
    const s0 = b.physical(h, 'eth0', b.network('xenbr0'));
    const s1 = b.physical(h, 'eth1', b.network('xenbr1'));
    const { master } = b.bond(h, b.network('xapi1'), [s0, s1], mode, {}, { MAC: '02:00:00:00:00:aa' });
    b.set('PIF', s0, { currently_attached: true }); // even if a slave still claims to be attached
    const c = compileHost(b.records, h);
    assert.deepEqual(c.errors, {}, mode);
    assert.deepEqual(c.doc.bridges.map((x) => x.name), ['xapi1']);
    assert.deepEqual(c.doc.bridges[0]!.uplink, {
      kind: 'bond', device: 'bond0', members: ['eth0', 'eth1'], mode, mac: '02:00:00:00:00:aa',
      properties: bondProperties(mode, {}, {}),
    });
    assert.deepEqual(c.bonds, [{ ref: (b.rec('PIF', master).bond_master_of as string[])[0], bridge: 'xapi1' }]);
  }
});

test('bond properties: xapi defaults per mode and checked bond-<k> overrides', () => {
  assert.deepEqual(bondProperties('balance-slb', {}, {}), { mode: 'balance-slb', miimon: '100', downdelay: '200', updelay: '31000', use_carrier: '1', 'rebalance-interval': '1800000' });
  assert.deepEqual(bondProperties('lacp', { hashing_algorithm: 'src_mac' }, {}), {
    mode: 'lacp', miimon: '100', downdelay: '200', updelay: '31000', use_carrier: '1', 'hashing-algorithm': 'src_mac', 'lacp-time': 'slow', 'lacp-fallback-ab': 'true',
  });
  const rejected: string[] = [];
  const props = bondProperties('lacp', {}, { 'bond-updelay': '5000', 'bond-lacp-time': 'fast', 'bond-lacp-aggregation-key': '7',
    'bond-use_carrier': '0', 'bond-xyz': '1', 'bond-downdelay': '-3', 'bond-miimon': '1\nx', 'bond-primary': 'eth1' }, rejected);
  assert.equal(props.updelay, '5000');
  assert.equal(props.downdelay, '200', 'an invalid override leaves the default');
  assert.equal(props['lacp-time'], 'fast');
  assert.equal(props.use_carrier, '0');
  assert.equal(props.miimon, '100');
  assert.equal(props.primary, 'eth1');
  assert.equal(props['lacp-aggregation-key'], '7');
  assert.equal(props.xyz, undefined, 'unknown keys never reach a backend');
  assert.deepEqual(rejected, ['bond-xyz="1"', 'bond-downdelay="-3"', 'bond-miimon="1\\nx"']);
});

test('tunnel: a bridge with no uplink and one tunnel per remote host with an attached access PIF', () => {
  const b = new PoolBuilder();
  const hosts = [HU, 'aaaaaaaa-0000-0000-0000-000000000002', 'bbbbbbbb-0000-0000-0000-000000000003'].map((u) => b.host(u));
  const nt = b.network('xenbr1');
  const pn = b.network('xapi9', 1500, { 'xcpnet-tunnel-key': '42' });
  const ips = ['10.9.0.1', '10.9.0.2', '10.9.0.3'];
  const access = hosts.map((h, i) => {
    const t = b.physical(h, 'eth1', nt, { mode: 'Static', IP: ips[i], netmask: '255.255.255.0' });
    return b.tunnel(h, t, pn, 'vxlan', { MAC: `02:00:00:00:09:0${i}` });
  });
  let c = compileHost(b.records, hosts[0]!);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.doc.bridges.map((x) => x.name).sort(), ['xapi9', 'xenbr1']);
  const tb = c.doc.bridges.find((x) => x.name === 'xapi9')!;
  assert.equal(tb.uplink, undefined);
  assert.equal(tb.mac, '02:00:00:00:09:00');
  assert.deepEqual(tb.tunnels, [
    { name: tunnelPortName('10.9.0.2', 42), protocol: 'vxlan', remote: '10.9.0.2', key: 42, remoteHost: 'aaaaaaaa-0000-0000-0000-000000000002' },
    { name: tunnelPortName('10.9.0.3', 42), protocol: 'vxlan', remote: '10.9.0.3', key: 42, remoteHost: 'bbbbbbbb-0000-0000-0000-000000000003' },
  ]);
  assert.ok(tb.tunnels.every((t) => t.name.length <= 15));
  // a host whose access PIF is unplugged leaves the mesh
  b.set('PIF', access[2]!, { currently_attached: false });
  c = compileHost(b.records, hosts[0]!);
  assert.deepEqual(c.doc.bridges.find((x) => x.name === 'xapi9')!.tunnels.map((t) => t.remote), ['10.9.0.2']);
  // no key yet: a host-local bridge, no tunnels
  b.set('network', pn, { other_config: {} });
  c = compileHost(b.records, hosts[0]!);
  assert.deepEqual(c.doc.bridges.find((x) => x.name === 'xapi9')!.tunnels, []);
});

test('VIFs: vif<domid>.<device> on their network\'s bridge; internal network bridge; locking', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { attached: false });
  const nv = b.network('xapi5');
  b.vlan(h, p1, nv, 30, { attached: false });
  const ni = b.network('xapi7', 1400);
  const vm = b.vm(h, 4);
  const v0 = b.vif(vm, ni, 0, '02:AA:00:00:00:01');
  const v1 = b.vif(vm, nv, 1, '02:aa:00:00:00:02', { locking_mode: 'locked', ipv4_allowed: ['10.0.0.9'] });
  const v2 = b.vif(vm, ni, 2, '02:aa:00:00:00:03', { locking_mode: 'disabled' });
  const halted = b.vm(h, 9, false);
  b.vif(halted, ni, 0, '02:aa:00:00:00:04');
  const c = compileHost(b.records, h);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.doc.bridges.map((x) => x.name).sort(), ['xapi5', 'xapi7', 'xenbr1']);
  const port = (ref: string) => c.doc.vifs.find((v) => v.owner === ref)!;
  assert.deepEqual(port(v0), {
    owner: v0, name: 'vif4.0', bridge: 'xapi7', mac: '02:aa:00:00:00:01', mtu: 1400, locking: 'unlocked', ipv4_allowed: [], ipv6_allowed: [],
    vifUuid: b.rec('VIF', v0).uuid, vmUuid: b.rec('VM', vm).uuid, networkUuid: b.rec('network', ni).uuid, vmDomid: 4, device: 0,
  });
  assert.equal(port(v1).bridge, 'xapi5', 'a VIF on a VLAN network is on the VLAN\'s bridge');
  assert.equal(port(v1).locking, 'locked');
  assert.deepEqual(port(v1).ipv4_allowed, ['10.0.0.9']);
  assert.equal(port(v2).locking, 'disabled');
  assert.deepEqual(c.doc.vifs.map((v) => v.owner).sort(), [v0, v1, v2].sort());
});

test('gateway and DNS: defaultroute/peerdns win over management', () => {
  const { b, h, p0 } = onePhysical();
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { mode: 'Static', IP: '10.2.0.5', netmask: '255.255.0.0', gateway: '10.2.0.1', DNS: '10.2.0.53', other_config: { defaultroute: 'true' } });
  const c = compileHost(b.records, h);
  assert.deepEqual(c.doc.gateway, { dev: 'xenbr1', via: '10.2.0.1', owner: p1 });
  assert.equal(c.doc.dns?.owner, p0);
  assert.deepEqual(c.doc.addresses.find((i) => i.owner === p1)!.addrs, ['10.2.0.5/16']);
});

test('a bad static configuration is an error naming the PIF', () => {
  const { b, h, p0 } = onePhysical();
  b.set('PIF', p0, { netmask: '255.0.255.0' });
  const c = compileHost(b.records, h);
  assert.match(c.errors[p0]!, /invalid static IP/);
});

test('two objects never share a device name', () => {
  const { b, h, p0 } = onePhysical();
  const clash = b.physical(h, 'xenbr0', b.network('xenbr5'));
  const c = compileHost(b.records, h);
  assert.match(c.errors[clash]!, /interface xenbr0 is already used by /);
  assert.equal(c.errors[p0], undefined);
  assert.deepEqual(c.doc.bridges.map((x) => x.name), ['xenbr0']);
});

test('prefixOf', () => {
  assert.equal(prefixOf('255.255.255.0'), 24);
  assert.equal(prefixOf('255.255.0.0'), 16);
  assert.equal(prefixOf('255.255.255.255'), 32);
  assert.equal(prefixOf('0.0.0.0'), 0);
  assert.equal(prefixOf('255.0.255.0'), undefined);
});

test('OVN pool: no mesh ports; the host is a chassis of its tunnels and VIFs of OVN networks go on br-int with their iface-id', () => {
  const b = new PoolBuilder();
  const hosts = ['aaaaaaaa-0000-0000-0000-000000000001', 'aaaaaaaa-0000-0000-0000-000000000002'].map((u) => b.host(u));
  const nt = b.network('xenbr1');
  const pn = b.network('xapi9', 1500, { 'xcpnet-tunnel-key': '42' });
  const local = b.network('xapi3');
  const transports = hosts.map((h, i) => b.physical(h, 'eth1', nt, { mode: 'Static', IP: `10.9.0.${i + 1}`, netmask: '255.255.255.0' }));
  const access = hosts.map((h, i) => b.tunnel(h, transports[i]!, pn, 'gre'));
  const vm = b.vm(hosts[0]!, 3);
  const v = b.vif(vm, pn, 0, '02:00:00:00:00:aa');
  const lv = b.vif(vm, local, 1, '02:00:00:00:00:bb');
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'tcp:10.9.0.254:6642' } };
  const c = compileHost(b.records, hosts[0]!);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.doc.ovn, { systemId: hosts.map((h) => b.rec('host', h).uuid)[0], remote: 'tcp:10.9.0.254:6642', encapTypes: ['geneve'], encapIp: '10.9.0.1', bridge: 'br-int' });
  // The pool CA's fingerprint, once the master publishes it, goes to the chassis (a malformed one does not).
  const fp = Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'ssl:10.9.0.254:6642', 'xcpnet-ovn-ca': fp } };
  assert.equal(compileHost(b.records, hosts[0]!).doc.ovn?.caFingerprint, fp);
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'ssl:10.9.0.254:6642', 'xcpnet-ovn-ca': 'AB:CD' } };
  assert.equal(compileHost(b.records, hosts[0]!).doc.ovn?.caFingerprint, undefined);
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'tcp:10.9.0.254:6642' } };
  assert.deepEqual(c.doc.bridges.find((x) => x.name === 'xapi9')!.tunnels, [], 'no mesh port');
  assert.equal(c.doc.bridges.find((x) => x.name === 'br-int')?.integration, true);
  const vifs = Object.fromEntries(c.doc.vifs.map((x) => [x.owner, x]));
  assert.equal(vifs[v]!.bridge, 'br-int');
  assert.equal(vifs[v]!.ifaceId, b.rec('VIF', v).uuid);
  // a network without tunnels stays a bridge of its own
  assert.equal(vifs[lv]!.bridge, 'xapi3');
  assert.equal(vifs[lv]!.ifaceId, undefined);
  // vxlan is vxlan to OVN
  b.set('tunnel', (b.rec('PIF', access[0]!).tunnel_access_PIF_of as string[])[0]!, { protocol: 'vxlan' });
  assert.deepEqual(compileHost(b.records, hosts[0]!).doc.ovn?.encapTypes, ['vxlan']);
  // until the master has published a valid southbound address, the mesh goes on (nothing unplugged)
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'tcp:nonsense' } };
  const early = compileHost(b.records, hosts[0]!);
  assert.deepEqual(early.errors, {});
  assert.equal(early.doc.ovn, undefined);
  assert.equal(early.doc.bridges.find((x) => x.name === 'xapi9')!.tunnels.length, 1);
  // back to the mesh: the tunnel port is there again
  b.records.pool['OpaqueRef:pool'] = { other_config: { 'xcpnet-sdn': 'mesh' } };
  const mesh = compileHost(b.records, hosts[0]!);
  assert.equal(mesh.doc.ovn, undefined);
  assert.equal(mesh.doc.bridges.find((x) => x.name === 'xapi9')!.tunnels.length, 1);
  assert.equal(mesh.doc.vifs.find((x) => x.owner === v)!.bridge, 'xapi9');
});

test('OVN cluster: a member other than the master runs its database members; the master (its central does) and other hosts do not', () => {
  const b = new PoolBuilder();
  const uuids = ['aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002', 'aaaaaaaa-0000-4000-8000-000000000003', 'aaaaaaaa-0000-4000-8000-000000000004'];
  const hosts = uuids.map((u, i) => { const h = b.host(u); b.set('host', h, { address: `10.8.0.${i + 1}` }); return h; });
  const cluster = [uuids[2], uuids[0], uuids[1]].join(',');
  b.records.pool['OpaqueRef:pool'] = { master: hosts[0]!, other_config: { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'tcp:10.8.0.1:6642', 'xcpnet-ovn-cluster': cluster } };
  assert.equal(compileHost(b.records, hosts[0]!).doc.ovnDb, undefined, 'the master');
  assert.deepEqual(compileHost(b.records, hosts[2]!).doc.ovnDb, { self: '10.8.0.3', peers: ['10.8.0.1', '10.8.0.2'], creator: false });
  assert.deepEqual(compileHost(b.records, hosts[1]!).doc.ovnDb, { self: '10.8.0.2', peers: ['10.8.0.1', '10.8.0.3'], creator: false });
  assert.equal(compileHost(b.records, hosts[3]!).doc.ovnDb, undefined, 'not a member');
  b.records.pool['OpaqueRef:pool'] = { master: hosts[0]!, other_config: { 'xcpnet-sdn': 'mesh', 'xcpnet-ovn-cluster': cluster } };
  assert.equal(compileHost(b.records, hosts[2]!).doc.ovnDb, undefined, 'not while the pool is on the mesh');
});

test('tunnel MTU: the network is clamped to the transport minus the encapsulation, an explicit larger MTU is an error', () => {
  const b = new PoolBuilder();
  const [h1, h2] = [b.host('aaaaaaaa-0000-0000-0000-000000000001'), b.host('aaaaaaaa-0000-0000-0000-000000000002')];
  const nt = b.network('xenbr1', 1500);
  const pn = b.network('xapi9', 1500, { 'xcpnet-tunnel-key': '42' });
  const t1 = b.physical(h1, 'eth1', nt, { mode: 'Static', IP: '10.9.0.1', netmask: '255.255.255.0' });
  const a1 = b.tunnel(h1, t1, pn, 'vxlan');
  b.tunnel(h2, b.physical(h2, 'eth1', nt, { mode: 'Static', IP: '10.9.0.2', netmask: '255.255.255.0' }), pn, 'vxlan');
  const vm = b.vm(h1, 4);
  const v = b.vif(vm, pn, 0, '02:00:00:00:00:cc');
  const c = compileHost(b.records, h1);
  assert.deepEqual(c.errors, {});
  assert.equal(c.doc.bridges.find((x) => x.name === 'xapi9')!.mtu, 1450);
  assert.equal(c.pifs.find((p) => p.ref === a1)!.mtu, 1450, 'the access PIF reports what guests get');
  assert.equal(c.doc.vifs.find((x) => x.owner === v)!.mtu, 1450);
  // gre on the mesh: 42 bytes
  b.set('tunnel', (b.rec('PIF', a1).tunnel_access_PIF_of as string[])[0]!, { protocol: 'gre' });
  assert.equal(compileHost(b.records, h1).doc.bridges.find((x) => x.name === 'xapi9')!.mtu, 1458);
  // asked explicitly: an error naming the limit
  b.set('PIF', a1, { other_config: { mtu: '1500' } });
  assert.match(compileHost(b.records, h1).errors[a1]!, /other_config:mtu 1500 does not fit the transport's MTU 1500 minus 42 bytes of gre: at most 1458/);
  // a jumbo transport carries a 1500 network
  b.set('PIF', a1, { other_config: {} });
  b.set('network', nt, { MTU: 9000 });
  assert.equal(compileHost(b.records, h1).doc.bridges.find((x) => x.name === 'xapi9')!.mtu, 1500);
});

test('tunnel port names are unique whatever the host uuids (two peers sharing a uuid prefix both get their port)', () => {
  const b = new PoolBuilder();
  const hosts = ['aaaaaaaa-0000-0000-0000-000000000001', 'abcdef12-0000-0000-0000-000000000002', 'abcdef12-9999-0000-0000-000000000003'].map((u) => b.host(u));
  const nt = b.network('xenbr1');
  const pns = [b.network('xapi8', 1400, { 'xcpnet-tunnel-key': '7' }), b.network('xapi9', 1400, { 'xcpnet-tunnel-key': '8' })];
  hosts.forEach((h, i) => {
    const t = b.physical(h, 'eth1', nt, { mode: 'Static', IP: `10.9.0.${i + 1}`, netmask: '255.255.255.0' });
    for (const pn of pns) b.tunnel(h, t, pn, 'vxlan');
  });
  const c = compileHost(b.records, hosts[0]!);
  assert.deepEqual(c.errors, {});
  const names = c.doc.bridges.flatMap((x) => x.tunnels.map((t) => t.name));
  assert.deepEqual(names.sort(), ['t0a090002000007', 't0a090002000008', 't0a090003000007', 't0a090003000008']);
  assert.ok(names.every((n) => n.length <= 15));
});

test('VM power states: a paused VM keeps its guest and VIF ports; suspended none; one running elsewhere is listed as moved', async () => {
  const { planGuests, guestNetworksOf } = await import('./reconcile.js');
  const b = new PoolBuilder();
  const h = b.host(HU);
  const other = b.host();
  const ni = b.network('xapi7');
  const paused = b.vm(h, 3);
  const vp = b.vif(paused, ni, 0, '02:aa:00:00:00:01');
  b.set('VM', paused, { power_state: 'Paused' });
  const suspended = b.vm(h, 4);
  b.vif(suspended, ni, 0, '02:aa:00:00:00:02');
  b.set('VM', suspended, { power_state: 'Suspended', resident_on: 'OpaqueRef:NULL', domid: -1 });
  const moved = b.vm(other, 5);
  const c = compileHost(b.records, h);
  assert.deepEqual(c.vms.map((v) => v.ref), [paused]);
  assert.deepEqual(c.doc.vifs.map((v) => v.owner), [vp]);
  const movedUuid = b.rec('VM', moved).uuid as string;
  assert.deepEqual(vmsElsewhere(b.records, h), [movedUuid]);
  // A guest of the moved VM still found here is handed over, not stopped; a stale one is stopped.
  const key = (u: string) => `g-${u}`;
  const plan = planGuests(c, new Map([[key(movedUuid), { domid: 5, devices: [0] }], [key('stale'), { domid: 9, devices: [] }]]), key,
    () => vmsElsewhere(b.records, h));
  assert.deepEqual(plan.stop, [key('stale')]);
  assert.deepEqual(plan.start.map((s) => s.vm.domid), [3]);
  // A guest's addresses as xapi's guest agent keys them.
  assert.deepEqual(guestNetworksOf([{ device: 0, v4: ['203.0.113.1', '198.51.100.7'], v6: ['2001:db8::1'] }, { device: 2, v4: [], v6: [] }]), {
    '0/ip': '203.0.113.1', '0/ipv4/0': '203.0.113.1', '0/ipv4/1': '198.51.100.7', '0/ipv6/0': '2001:db8::1',
  });
  // What a guest makes inside itself beyond its VIFs is not reported, and never more keys than
  // the master takes: a guest cannot get its host's whole report refused.
  const many = Array.from({ length: 40 }, (_, d) => ({ device: d, v4: Array.from({ length: 16 }, (_x, n) => `10.${d}.0.${n + 1}`), v6: [] }));
  const own = new Set(many.map((i) => i.device));
  const nets = guestNetworksOf([...many, { device: 123456, v4: ['192.0.2.9'], v6: [] }], own);
  assert.equal(Object.keys(nets).length, 256);
  assert.ok(Object.keys(nets).every((k) => GUEST_NETWORK_KEY.test(k)), 'every key one the master takes');
  assert.deepEqual(guestNetworksOf([{ device: 123456, v4: ['192.0.2.9'], v6: [] }, { device: 1, v4: ['192.0.2.1'], v6: [] }], new Set([1])),
    { '1/ip': '192.0.2.1', '1/ipv4/0': '192.0.2.1' });
});
