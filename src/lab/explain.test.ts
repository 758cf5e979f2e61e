// The pure core of `xcpnet explain`: one pool of records, a healthy pair per network kind, and
// one test per reason, each planting exactly one fault into the healthy facts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain, resolveEndpoint, EndpointError, type ReasonCode } from './explain.js';
import type { Facts, Rec, Records } from './topology-model.js';

const ref = (s: string): string => `OpaqueRef:${s}`;

/** Two hosts; networks: ext (eth0), v10 (VLAN 10 on eth1), bond (eth2+eth3), priv (no PIF), tun (gre tunnel on eth0). */
function pool(): Facts {
  const r: Records = { host: {}, network: {}, PIF: {}, PIF_metrics: {}, VLAN: {}, Bond: {}, tunnel: {}, VIF: {}, VM: {} };
  for (const h of ['h1', 'h2']) r.host[ref(h)] = { uuid: `${h}-uuid`, name_label: h === 'h1' ? 'host1' : 'host2' };
  const net = (n: string, extra: Rec = {}): void => { r.network[ref(n)] = { uuid: `${n}-uuid`, name_label: n, bridge: `br-${n}`, MTU: 1500, other_config: {}, default_locking_mode: 'unlocked', ...extra }; };
  for (const n of ['ext', 'eth1net', 'v10', 'bond', 'priv', 'other']) net(n);
  // A tunnel network's frames fit its transport's 1500 with GRE's 42 bytes.
  net('tun', { MTU: 1450 });
  const pif = (id: string, host: string, extra: Rec): void => {
    r.PIF[ref(id)] = { uuid: `${id}-uuid`, host: ref(host), currently_attached: true, physical: false, VLAN: -1, MTU: 1500, IP: '', VLAN_master_of: 'OpaqueRef:NULL', bond_master_of: [], bond_slave_of: 'OpaqueRef:NULL', ...extra };
  };
  for (const h of ['h1', 'h2']) {
    pif(`${h}eth0`, h, { device: 'eth0', physical: true, network: ref('ext'), IP: h === 'h1' ? '192.0.2.11' : '192.0.2.12' });
    pif(`${h}eth1`, h, { device: 'eth1', physical: true, network: ref('eth1net') });
    pif(`${h}v10`, h, { device: 'eth1', VLAN: 10, network: ref('v10'), VLAN_master_of: ref(`${h}vlan`) });
    r.VLAN[ref(`${h}vlan`)] = { uuid: `${h}vlan-uuid`, tag: 10, tagged_PIF: ref(`${h}eth1`), untagged_PIF: ref(`${h}v10`) };
    pif(`${h}eth2`, h, { device: 'eth2', physical: true, network: ref('x2'), bond_slave_of: ref(`${h}bond`) });
    pif(`${h}eth3`, h, { device: 'eth3', physical: true, network: ref('x3'), bond_slave_of: ref(`${h}bond`) });
    pif(`${h}bond0`, h, { device: 'bond0', network: ref('bond'), bond_master_of: [ref(`${h}bond`)] });
    r.Bond[ref(`${h}bond`)] = { uuid: `${h}bond-uuid`, master: ref(`${h}bond0`), slaves: [ref(`${h}eth2`), ref(`${h}eth3`)], mode: 'active-backup', links_up: 2 };
    pif(`${h}tun`, h, { device: 'tunnel0', network: ref('tun') });
    r.tunnel[ref(`${h}tunnel`)] = { uuid: `${h}tunnel-uuid`, access_PIF: ref(`${h}tun`), transport_PIF: ref(`${h}eth0`), status: { active: 'true' }, protocol: 'gre' };
  }
  return { records: r, observed: {
    host1: { nics: { eth0: { carrier: true }, eth1: { carrier: true }, eth2: { carrier: true }, eth3: { carrier: true } } },
    host2: { nics: { eth0: { carrier: true }, eth1: { carrier: true }, eth2: { carrier: true }, eth3: { carrier: true } } },
  }, switchPorts: Object.fromEntries(['host1', 'host2'].flatMap((h, i) => [0, 1, 2, 3].map((n) => [`${h}/eth${n}`, { port: `p${i + 1}e${n}`, up: true, vlanMode: 'native-untagged', tag: 1, trunks: [] }]))),
  guests: {}, labSwitch: { bridge: 'sw0', dbSocket: 'unix:/sw/db.sock' } };
}

/** VMs a (host1) and b (host2, or host1 for priv), running, one VIF each on `net`. */
function withVms(f: Facts, net: string, hostB = 'h2'): Facts {
  const r = f.records;
  for (const [vm, host, domid] of [['a', 'h1', 1], ['b', hostB, 2]] as const) {
    r.VM[ref(vm)] = { uuid: `${vm}-uuid`, name_label: vm, power_state: 'Running', resident_on: ref(host), domid, is_control_domain: false, affinity: 'OpaqueRef:NULL' };
    r.VIF[ref(`${vm}vif`)] = { uuid: `${vm}vif-uuid`, VM: ref(vm), network: ref(net), device: '0', MAC: vm === 'a' ? '02:00:00:00:00:0a' : '02:00:00:00:00:0b', currently_attached: true, locking_mode: 'network_default', ipv4_allowed: [] };
    f.guests![`${vm}-uuid`] = [{ device: '0', mac: vm === 'a' ? '02:00:00:00:00:0a' : '02:00:00:00:00:0b', ipv4: [vm === 'a' ? '10.0.0.1' : '10.0.0.2'] }];
  }
  return f;
}

function codes(f: Facts): ReasonCode[] {
  return explain(f, 'a', 'b').reasons.map((r) => r.code);
}

test('healthy pairs reach each other on every kind of network', () => {
  for (const [net, hostB] of [['ext', 'h2'], ['v10', 'h2'], ['bond', 'h2'], ['priv', 'h1'], ['tun', 'h2']] as const) {
    const e = explain(withVms(pool(), net, hostB), 'a', 'b');
    assert.equal(e.reachable, true, `${net}: ${JSON.stringify(e.reasons)}`);
  }
});

test('different networks', () => {
  const f = withVms(pool(), 'ext');
  f.records.VIF[ref('bvif')]!.network = ref('other');
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['different-networks']);
  assert.match(e.reasons[0]!.fix, /^xe vif-move uuid=bvif-uuid network-uuid=ext-uuid/);
});

test('a private network pinned to another host', () => {
  const f = withVms(pool(), 'priv');
  f.records.VM[ref('b')]!.power_state = 'Halted';
  f.records.VM[ref('b')]!.resident_on = 'OpaqueRef:NULL';
  f.records.VM[ref('b')]!.affinity = ref('h2');
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['vm-halted', 'private-pinned']);
  assert.equal(e.reasons[0]!.fix, 'xe vm-start uuid=b-uuid on=host1');
});

test('the network absent on a host: the VLAN it needs there', () => {
  const f = withVms(pool(), 'v10');
  delete f.records.PIF[ref('h2v10')];
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['network-absent']);
  // A halted VM is checked where it would start (its affinity).
  Object.assign(f.records.VM[ref('b')]!, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', affinity: ref('h2') });
  assert.deepEqual(codes(f), ['vm-halted', 'network-absent']);
  assert.equal(e.reasons[0]!.fix, 'xe vlan-create pif-uuid=h2eth1-uuid vlan=10 network-uuid=v10-uuid');
});

test('a PIF unplugged', () => {
  const f = withVms(pool(), 'ext');
  f.records.PIF[ref('h2eth0')]!.currently_attached = false;
  assert.deepEqual(codes(f), ['pif-unplugged']);
});

test('VLAN tag not carried by the switch port', () => {
  const f = withVms(pool(), 'v10');
  f.switchPorts!['host2/eth1']!.trunks = [1, 20];
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['vlan-not-carried']);
  assert.equal(e.reasons[0]!.fix, 'ovs-vsctl --db=unix:/sw/db.sock set port p2e1 trunks=1,10,20');
});

test('bond members down', () => {
  const f = withVms(pool(), 'bond');
  f.observed!.host2!.nics.eth2!.carrier = false;
  assert.deepEqual(codes(f), [], 'one member up is enough');
  f.observed!.host2!.nics.eth3!.carrier = false;
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['bond-down']);
  assert.equal(e.reasons[0]!.fix, 'xcpnet lab cable host2 eth2 up; xcpnet lab cable host2 eth3 up');
});

test('cable down', () => {
  const f = withVms(pool(), 'ext');
  f.observed!.host1!.nics.eth0!.carrier = false;
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['cable-down']);
  assert.equal(e.reasons[0]!.fix, 'xcpnet lab cable host1 eth0 up');
});

test('tunnel missing on a host, and inactive', () => {
  const f = withVms(pool(), 'tun');
  delete f.records.PIF[ref('h2tun')];
  delete f.records.tunnel[ref('h2tunnel')];
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['tunnel-missing']);
  assert.equal(e.reasons[0]!.fix, 'xe tunnel-create pif-uuid=h2eth0-uuid network-uuid=tun-uuid protocol=gre');
  const g = withVms(pool(), 'tun');
  (g.records.tunnel[ref('h2tunnel')]!.status as Rec).active = 'false';
  g.records.PIF[ref('h2eth0')]!.IP = '';
  const e2 = explain(g, 'a', 'b');
  assert.deepEqual(e2.reasons.map((r) => r.code), ['tunnel-inactive']);
  assert.match(e2.reasons[0]!.fix, /^xe pif-reconfigure-ip uuid=h2eth0-uuid mode=static/);
});

test('a tunnel port missing on the host switch', () => {
  const f = withVms(pool(), 'tun');
  f.observed!.host1!.ovs = [{ name: 'br-tun', ports: [] }];
  assert.deepEqual(codes(f), ['tunnel-missing']);
  f.observed!.host1!.ovs = [{ name: 'br-tun', ports: [{ name: 't1', interfaces: [{ name: 't1', type: 'gre', remote: '192.0.2.12', key: '7' }] }] }];
  assert.deepEqual(codes(f), []);
});

test('MTU larger than the tunnel carries', () => {
  const f = withVms(pool(), 'tun');
  f.records.network[ref('tun')]!.MTU = 1458;
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), [], '1458 + 42 fits 1500');
  f.records.network[ref('tun')]!.MTU = 1480;
  const e2 = explain(f, 'a', 'b');
  // The fix is what network.set_MTU accepts: gre counts Geneve's 58 bytes, what it becomes on OVN.
  assert.deepEqual(e2.reasons.map((r) => [r.code, r.fix]), [['mtu-too-large', 'xe network-param-set uuid=tun-uuid MTU=1442'], ['mtu-too-large', 'xe network-param-set uuid=tun-uuid MTU=1442']], 'one per host\'s transport');
  assert.match(e2.reasons[0]!.message, /gre \(gre, 42 bytes\) over eth0 of host1 \(MTU 1500\) carries at most 1458/);
});

test('OVN pool: a gre tunnel is Geneve, 58 bytes', () => {
  const f = withVms(pool(), 'tun');
  f.records.pool = { 'OpaqueRef:pool': { other_config: { 'xcpnet-sdn': 'ovn' } } };
  f.records.network[ref('tun')]!.MTU = 1458;
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => [r.code, r.fix]), [['mtu-too-large', 'xe network-param-set uuid=tun-uuid MTU=1442'], ['mtu-too-large', 'xe network-param-set uuid=tun-uuid MTU=1442']]);
  assert.match(e.reasons[0]!.message, /gre \(geneve, 58 bytes\) over .* carries at most 1442/);
});

test('a guest whose MTU is larger than the tunnel network carries: the MTU it needs', () => {
  const f = withVms(pool(), 'tun');
  f.records.network[ref('tun')]!.MTU = 1442;
  f.guests!['a-uuid']![0]!.mtu = 1442;
  f.guests!['b-uuid']![0]!.mtu = 1442;
  assert.deepEqual(codes(f), [], 'guests at the network\'s MTU');
  f.guests!['b-uuid']![0]!.mtu = 1500;
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => [r.code, r.object, r.fix]), [['guest-mtu-too-large', 'VIF bvif-uuid', 'xcpnet lab exec b -- ip link set eth0 mtu 1442']]);
  assert.match(e.reasons[0]!.message, /VM "b" eth0 has MTU 1500, but network "tun" \(tun-uuid\) carries at most 1442 \(its MTU is 1442\): the guest needs MTU 1442/);
  // A transport that shrank below the network: the guest needs what the tunnel carries, and the reason says why.
  f.records.network[ref('tun')]!.MTU = 1500;
  for (const p of Object.values(f.records.PIF)) if (p.IP === '192.0.2.12') p.MTU = 1400;
  const small = explain(f, 'a', 'b').reasons.filter((r) => r.code === 'guest-mtu-too-large');
  assert.deepEqual(small.map((r) => r.fix), ['xcpnet lab exec a -- ip link set eth0 mtu 1358', 'xcpnet lab exec b -- ip link set eth0 mtu 1358']);
  assert.match(small[0]!.message, /carries at most 1358 \(.* of host2 has MTU 1400 and gre adds 42 bytes\)/);
  // A network without tunnels: nothing to say about the guest's MTU here.
  const g = withVms(pool(), 'ext');
  g.guests!['b-uuid']![0]!.mtu = 9000;
  assert.deepEqual(codes(g), []);
});

test('VIF locking refusing the MAC, the IP, or everything', () => {
  const f = withVms(pool(), 'ext');
  Object.assign(f.records.VIF[ref('bvif')]!, { locking_mode: 'locked', ipv4_allowed: ['10.0.0.2'] });
  assert.deepEqual(codes(f), [], 'locked to what the guest uses');
  f.guests!['b-uuid']![0]!.ipv4 = ['10.0.0.9'];
  const e = explain(f, 'a', 'b');
  assert.deepEqual(e.reasons.map((r) => r.code), ['vif-locking']);
  assert.match(e.reasons[0]!.message, /10\.0\.0\.9 is not among its allowed addresses \(10\.0\.0\.2\)/);
  f.guests!['b-uuid']![0] = { device: '0', mac: '02:00:00:00:00:99', ipv4: ['10.0.0.2'] };
  assert.match(explain(f, 'a', 'b').reasons[0]!.fix, /ip link set eth0 address 02:00:00:00:00:0b/);
  f.records.VIF[ref('bvif')]!.locking_mode = 'network_default';
  f.records.network[ref('ext')]!.default_locking_mode = 'disabled';
  assert.deepEqual(explain(f, 'a', 'b').reasons.map((r) => [r.code, r.fix]), [['vif-locking', 'xe vif-param-set uuid=avif-uuid locking-mode=unlocked'], ['vif-locking', 'xe vif-param-set uuid=bvif-uuid locking-mode=unlocked']]);
});

test('VM halted, VIF unplugged', () => {
  const f = withVms(pool(), 'ext');
  f.records.VIF[ref('avif')]!.currently_attached = false;
  assert.deepEqual(codes(f), ['vif-unplugged']);
  f.records.VM[ref('b')]!.power_state = 'Halted';
  assert.deepEqual(codes(f), ['vif-unplugged', 'vm-halted']);
});

test('endpoints: by name, uuid or VIF uuid; unknown and ambiguous names say what to do', () => {
  const f = withVms(pool(), 'ext');
  assert.deepEqual(resolveEndpoint(f, 'a-uuid').vifs, [ref('avif')]);
  assert.deepEqual(resolveEndpoint(f, 'bvif-uuid').vifs, [ref('bvif')]);
  assert.throws(() => resolveEndpoint(f, 'zz'), (e: Error) => e instanceof EndpointError && /no VM or VIF "zz"; VMs: a, b/.test(e.message));
  f.records.VM[ref('c')] = { uuid: 'c-uuid', name_label: 'a', is_control_domain: false };
  assert.throws(() => resolveEndpoint(f, 'a'), /2 VMs are named "a": give a uuid/);
});
