// The topology model: records and a lab's wiring in, the graph the page draws out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvents, buildTopology, emptyRecords, parseWiring, type LabWiring, type Records, type Topology } from './model.js';

const R = (name: string) => `OpaqueRef:${name}`;

/** Two hosts: host1 with eth0 (management), eth1 carrying VLAN 10, eth2+eth3 in an active-backup bond; a VXLAN tunnel pair; a VM. */
function pool(): Records {
  const r = emptyRecords();
  const add = (cls: keyof Records, ref: string, rec: Record<string, unknown>) => r[cls].set(R(ref), { uuid: `${ref}-uuid`, ...rec });
  add('host', 'h1', { name_label: 'host1', address: '192.0.2.11', software_version: { network_backend: 'openvswitch' } });
  add('host', 'h2', { name_label: 'host2', address: '192.0.2.12', software_version: { network_backend: 'openvswitch' } });
  const nic = (ref: string, host: string, device: string, net: string, carrier: boolean, extra: Record<string, unknown> = {}) => {
    add('pif_metrics', `${ref}m`, { carrier, speed: 10000, duplex: true });
    add('pif', ref, { host: R(host), device, network: R(net), VLAN: -1, physical: true, currently_attached: true, MTU: 1500,
      metrics: R(`${ref}m`), bond_master_of: [], bond_slave_of: 'OpaqueRef:NULL', VLAN_master_of: 'OpaqueRef:NULL', tunnel_access_PIF_of: [], MAC: '02:00:00:00:00:01', ...extra });
  };
  nic('p0', 'h1', 'eth0', 'n0', true, { management: true, IP: '192.0.2.11' });
  nic('p1', 'h1', 'eth1', 'n1', true);
  nic('p2', 'h1', 'eth2', 'n2', true, { bond_slave_of: R('b') });
  nic('p3', 'h1', 'eth3', 'n3', false, { bond_slave_of: R('b') });
  nic('q0', 'h2', 'eth0', 'n0', true, { management: true, IP: '192.0.2.12' });
  add('pif', 'bm', { host: R('h1'), device: 'bond0', network: R('nb'), VLAN: -1, physical: false, currently_attached: true, MTU: 1500,
    bond_master_of: [R('b')], tunnel_access_PIF_of: [] });
  add('bond', 'b', { master: R('bm'), slaves: [R('p2'), R('p3')], mode: 'active-backup', primary_slave: R('p2'), links_up: 1, active_member: R('p2') });
  add('pif', 'v10', { host: R('h1'), device: 'eth1', network: R('nv'), VLAN: 10, physical: false, currently_attached: true, MTU: 1500,
    VLAN_master_of: R('vl'), bond_master_of: [], tunnel_access_PIF_of: [] });
  add('vlan', 'vl', { tagged_PIF: R('p1'), untagged_PIF: R('v10'), tag: 10 });
  for (const [h, t, transport] of [['h1', 't1', 'p0'], ['h2', 't2', 'q0']] as const) {
    add('pif', `a${t}`, { host: R(h), device: 'tunnel0', network: R('nt'), VLAN: -1, physical: false, currently_attached: true, MTU: 1450,
      tunnel_access_PIF_of: [R(t)], bond_master_of: [] });
    add('tunnel', t, { access_PIF: R(`a${t}`), transport_PIF: R(transport), protocol: 'vxlan', status: { active: t === 't1' ? 'true' : 'false' } });
  }
  const net = (ref: string, bridge: string, name: string, pifs: string[], extra: Record<string, unknown> = {}) =>
    add('network', ref, { bridge, name_label: name, MTU: 1500, PIFs: pifs.map(R), other_config: {}, default_locking_mode: 'unlocked', ...extra });
  net('n0', 'xenbr0', 'Pool-wide network 0', ['p0', 'q0']);
  net('n1', 'xenbr1', 'Pool-wide network 1', ['p1']);
  net('n2', 'xenbr2', 'Pool-wide network 2', []);
  net('n3', 'xenbr3', 'Pool-wide network 3', []);
  net('nb', 'xapi1', 'bonded', ['bm']);
  net('nv', 'xapi2', 'vlan10', ['v10']);
  net('nt', 'xapi3', 'overlay', ['at1', 'at2'], { other_config: { 'xcpnet-tunnel-key': '7' } });
  add('vm', 'dom0', { name_label: 'Control domain on host: host1', is_control_domain: true, power_state: 'Running', resident_on: R('h1') });
  add('vm', 'vm1', { name_label: 'web1', power_state: 'Running', resident_on: R('h1'), is_control_domain: false, is_a_template: false });
  add('vif', 'vif1', { VM: R('vm1'), network: R('nt'), device: '0', MAC: '02:aa:bb:cc:dd:01', locking_mode: 'locked',
    ipv4_allowed: ['10.77.0.1'], ipv6_allowed: [], currently_attached: true, ipv4_addresses: ['10.77.0.1/24'], ipv6_addresses: [] });
  return r;
}

const WIRING: LabWiring = {
  version: 1, lab: 'demo', switch: { name: 'sw0' },
  upstream: { name: 'upstream', port: 'xldemo-up', gateways: [{ vlan: 1, address: '192.0.2.1/24' }] },
  cables: [{ host: 'host1', device: 'eth0', port: 'xldemo-h1e0', state: 'up' }, { host: 'host1', device: 'eth3', port: 'xldemo-h1e3', state: 'down' }],
};

const node = (t: Topology, id: string) => t.nodes.find((n) => n.id === id);
const edge = (t: Topology, id: string) => t.edges.find((e) => e.id === id);

test('hosts hold NICs with carrier and speed, the bond with mode, primary and links, the VLAN on its parent', () => {
  const t = buildTopology(pool());
  assert.deepEqual(node(t, 'host:OpaqueRef:h1'), { id: 'host:OpaqueRef:h1', kind: 'host', label: 'host1\n192.0.2.11\nopenvswitch', state: 'ok',
    details: [['host', 'host1'], ['uuid', 'h1-uuid'], ['address', '192.0.2.11'], ['network backend', 'openvswitch']] });
  assert.equal(node(t, 'pif:OpaqueRef:p0')?.label, 'eth0\ncarrier up · 10000 Mbit/s\nmanagement 192.0.2.11');
  assert.equal(node(t, 'pif:OpaqueRef:p0')?.parent, 'host:OpaqueRef:h1');
  assert.deepEqual([node(t, 'pif:OpaqueRef:p3')?.label, node(t, 'pif:OpaqueRef:p3')?.state], ['eth3\nno carrier', 'down']);
  assert.deepEqual([node(t, 'pif:OpaqueRef:bm')?.kind, node(t, 'pif:OpaqueRef:bm')?.label],
    ['bond', 'bond0\nbond active-backup\nprimary eth2\nactive eth2\n1/2 links up']);
  assert.deepEqual(edge(t, 'member:OpaqueRef:p2'), { id: 'member:OpaqueRef:p2', kind: 'member', source: 'pif:OpaqueRef:p2', target: 'pif:OpaqueRef:bm', label: 'member (primary, active)', state: 'ok', active: true });
  assert.deepEqual(edge(t, 'member:OpaqueRef:p3'), { id: 'member:OpaqueRef:p3', kind: 'member', source: 'pif:OpaqueRef:p3', target: 'pif:OpaqueRef:bm', label: 'member', state: 'down' });
  // Bond members reach their network only through the bond.
  assert.equal(edge(t, 'uplink:OpaqueRef:p2'), undefined);
  assert.equal(edge(t, 'uplink:OpaqueRef:bm')?.target, 'net:OpaqueRef:nb');
  assert.deepEqual([node(t, 'pif:OpaqueRef:v10')?.kind, node(t, 'pif:OpaqueRef:v10')?.label], ['vlan', 'VLAN 10\non eth1\nMTU 1500']);
  assert.deepEqual(edge(t, 'tag:OpaqueRef:v10'), { id: 'tag:OpaqueRef:v10', kind: 'tag', source: 'pif:OpaqueRef:p1', target: 'pif:OpaqueRef:v10', label: 'tag 10', state: 'ok' });
});

test('the bond\'s active member moves with Bond.active_member; NULL marks none', () => {
  const records = pool();
  const bond = records.bond.get(R('b'))!;
  bond.active_member = R('p3');
  let t = buildTopology(records);
  assert.equal(node(t, 'pif:OpaqueRef:bm')?.label, 'bond0\nbond active-backup\nprimary eth2\nactive eth3\n1/2 links up');
  assert.deepEqual(t.edges.filter((e) => e.active).map((e) => [e.id, e.label]), [['member:OpaqueRef:p3', 'member (active)']]);
  bond.active_member = 'OpaqueRef:NULL';
  t = buildTopology(records);
  assert.equal(node(t, 'pif:OpaqueRef:bm')?.label, 'bond0\nbond active-backup\nprimary eth2\n1/2 links up');
  assert.ok(node(t, 'pif:OpaqueRef:bm')?.details.some(([k, v]) => k === 'active member' && v === 'none'));
  assert.deepEqual(t.edges.filter((e) => e.active), []);
});

test('networks show bridge, name, VLAN and MTU; tunnels their protocol, key and status, and join the hosts', () => {
  const t = buildTopology(pool());
  assert.equal(node(t, 'net:OpaqueRef:nv')?.label, 'xapi2\nvlan10\nVLAN 10 on eth1\nMTU 1500');
  assert.equal(node(t, 'net:OpaqueRef:n0')?.label, 'xenbr0\nPool-wide network 0\nMTU 1500');
  assert.deepEqual([node(t, 'pif:OpaqueRef:at1')?.label, node(t, 'pif:OpaqueRef:at1')?.state], ['tunnel0\nvxlan key 7\nactive', 'ok']);
  assert.deepEqual([node(t, 'pif:OpaqueRef:at2')?.label, node(t, 'pif:OpaqueRef:at2')?.state], ['tunnel0\nvxlan key 7\ninactive', 'down']);
  assert.equal(edge(t, 'transport:OpaqueRef:at1')?.source, 'pif:OpaqueRef:p0');
  const between = t.edges.filter((e) => e.kind === 'tunnel');
  assert.deepEqual(between, [{ id: 'tunnel:OpaqueRef:t1:OpaqueRef:t2', kind: 'tunnel', source: 'pif:OpaqueRef:at1', target: 'pif:OpaqueRef:at2',
    label: 'vxlan key 7\ninactive', state: 'down' }]);
});

test('VMs show power state, host and guest addresses; their VIFs MAC and locking; no control domain', () => {
  const t = buildTopology(pool());
  assert.deepEqual(t.nodes.filter((n) => n.kind === 'vm').map((n) => n.label), ['web1\nRunning on host1\n10.77.0.1/24']);
  assert.deepEqual(node(t, 'vif:OpaqueRef:vif1'), { id: 'vif:OpaqueRef:vif1', kind: 'vif', parent: 'vm:OpaqueRef:vm1', state: 'ok',
    label: 'eth0 02:aa:bb:cc:dd:01\nlocked to 10.77.0.1',
    details: [['VIF uuid', 'vif1-uuid'], ['device', '0'], ['MAC', '02:aa:bb:cc:dd:01'], ['locking', 'locked to 10.77.0.1'], ['attached', 'yes'], ['network', 'overlay']] });
  assert.equal(edge(t, 'vifnet:OpaqueRef:vif1')?.source, 'net:OpaqueRef:nt');
});

test('a lab adds its upstream, switch and cables; a pulled cable is drawn down', () => {
  const t = buildTopology(pool(), WIRING);
  assert.equal(node(t, 'lab:upstream')?.label, 'upstream\nVLAN 1 (native) 192.0.2.1/24');
  assert.equal(node(t, 'lab:switch')?.label, 'sw0\nlab demo switch');
  assert.deepEqual(edge(t, 'cable:host1/eth0'), { id: 'cable:host1/eth0', kind: 'cable', source: 'lab:switch', target: 'pif:OpaqueRef:p0', label: 'xldemo-h1e0', state: 'ok' });
  assert.deepEqual(edge(t, 'cable:host1/eth3'), { id: 'cable:host1/eth3', kind: 'cable', source: 'lab:switch', target: 'pif:OpaqueRef:p3', label: 'xldemo-h1e3 (pulled)', state: 'down' });
  assert.equal(buildTopology(pool()).nodes.some((n) => n.id.startsWith('lab:')), false, 'no lab, no switch');
});

test('events add, change and delete records; other classes and malformed events are ignored', () => {
  const r = pool();
  assert.equal(applyEvents(r, [{ class: 'pif_metrics', operation: 'mod', ref: R('p0m'), snapshot: { carrier: false, speed: 0 } }]), true);
  assert.equal(node(buildTopology(r), 'pif:OpaqueRef:p0')?.label, 'eth0\nno carrier\nmanagement 192.0.2.11');
  assert.equal(applyEvents(r, [{ class: 'vm', operation: 'del', ref: R('vm1') }]), true);
  assert.equal(buildTopology(r).nodes.some((n) => n.kind === 'vm' || n.kind === 'vif'), false, 'a VIF is drawn only in its VM');
  assert.equal(applyEvents(r, [{ class: 'session', operation: 'add', ref: R('s'), snapshot: {} },
    { class: 'pif', operation: 'mod', ref: R('p1'), snapshot: 'not a record' }]), false);
  assert.equal(r.pif.get(R('p1'))?.device, 'eth1');
});

test('the order of the graph does not depend on the order records arrived in', () => {
  const a = pool();
  const b = emptyRecords();
  for (const cls of Object.keys(a) as (keyof Records)[]) for (const [ref, rec] of [...a[cls]].reverse()) b[cls].set(ref, rec);
  assert.deepEqual(buildTopology(b, WIRING), buildTopology(a, WIRING));
});

test('a wiring is accepted only as published: every field checked', () => {
  assert.deepEqual(parseWiring(JSON.parse(JSON.stringify(WIRING))), WIRING);
  const bad: unknown[] = [
    null, [], { ...WIRING, version: 2 }, { ...WIRING, lab: '' }, { ...WIRING, lab: 'a b' }, { ...WIRING, switch: 'sw0' },
    { ...WIRING, cables: [{ ...WIRING.cables[0], state: 'maybe' }] }, { ...WIRING, cables: [{ ...WIRING.cables[0], port: 'x'.repeat(65) }] },
    { ...WIRING, cables: {} }, { ...WIRING, upstream: { ...WIRING.upstream, gateways: [{ vlan: 4095, address: '192.0.2.1/24' }] } },
    { ...WIRING, upstream: { ...WIRING.upstream, gateways: [{ vlan: 1, address: '<b>' }] } },
  ];
  for (const v of bad) assert.throws(() => parseWiring(v), /lab wiring/, JSON.stringify(v));
  // Extra fields are dropped, never passed on.
  assert.deepEqual(parseWiring({ ...WIRING, secret: 'x' }), WIRING);
});
