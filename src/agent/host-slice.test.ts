import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Rec } from '../idl/meta.js';
import { OVN_CLUSTER_KEY, OVN_REMOTE_KEY, SDN_KEY, TUNNEL_KEY } from '../idl/checks.js';
import { compileHost, meshPeers, type Desired } from './desired.js';
import { HostCompiler, indexPool, MeshPeers, type IndexedPool } from './host-slice.js';
import { PoolBuilder } from './pool-builder.js';
import { NULL, POOL_CLASSES, type PoolClass } from './records.js';

/** A small deterministic generator (mulberry32): a failing seed can be run again. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const mac = (i: number, j: number) => `02:00:00:00:${(i % 256).toString(16).padStart(2, '0')}:${(j % 256).toString(16).padStart(2, '0')}`;

/** A random pool: hosts with NICs on shared networks, VLANs, a bond, tunnel networks, VMs with VIFs. */
function randomPool(r: ReturnType<typeof rng>) {
  const b = new PoolBuilder();
  b.records.pool['OpaqueRef:pool'] = { uuid: '00000000-0000-0000-0000-00000000000a', other_config: {} };
  const hosts = Array.from({ length: 2 + r.int(4) }, (_, i) => b.host(undefined, `h${i}`));
  hosts.forEach((h, i) => { b.records.host[h]!.address = `10.0.0.${i + 2}`; });
  b.records.pool['OpaqueRef:pool']!.master = hosts[0]!;
  const phys = [b.network('xenbr0'), b.network('xenbr1')];
  const vlanNets = [b.network('xapi1'), b.network('xapi2', 9000)];
  const tunnelNets = [b.network('xapi5', 1500, { [TUNNEL_KEY]: '7' }), b.network('xapi6', 1500, { [TUNNEL_KEY]: '8' })];
  const internal = b.network('xapi9');
  hosts.forEach((h, i) => {
    b.physical(h, 'eth0', phys[0]!, { mode: 'Static', IP: `10.0.0.${i + 2}`, netmask: '255.255.255.0', management: true, MAC: mac(i, 0) });
    const eth1 = b.physical(h, 'eth1', phys[1]!, { attached: r.next() < 0.7, MAC: mac(i, 1), mode: 'Static', IP: `10.1.0.${i + 2}`, netmask: '255.255.255.0' });
    if (r.next() < 0.6) b.vlan(h, eth1, r.pick(vlanNets), 10 + r.int(3));
    if (r.next() < 0.3) {
      const eth2 = b.physical(h, 'eth2', b.network(`xenbr${2 + i}`), { MAC: mac(i, 2) });
      const eth3 = b.physical(h, 'eth3', b.network(`xenbr${20 + i}`), { MAC: mac(i, 3) });
      b.bond(h, b.network(`xapi${30 + i}`), [eth2, eth3]);
    }
    for (const n of tunnelNets) if (r.next() < 0.8) b.tunnel(h, eth1, n, r.pick(['gre', 'vxlan'] as const));
    for (let v = 0; v < r.int(3); v++) {
      const vm = b.vm(h, 1 + v, r.next() < 0.8);
      for (let d = 0; d < 1 + r.int(2); d++) b.vif(vm, r.pick([...phys, ...vlanNets, ...tunnelNets, internal]), d, mac(100 + i, v * 8 + d));
    }
  });
  return { b, hosts };
}

/** A random change, made as the agent's replica makes it: a new record replaces the old one. */
function randomChange(r: ReturnType<typeof rng>, ix: IndexedPool, hosts: string[], step: number): void {
  const p = ix.records;
  const refsOf = (cls: PoolClass) => Object.keys(p[cls]);
  const anyRef = (cls: PoolClass) => { const rs = refsOf(cls); return rs.length ? r.pick(rs) : NULL; };
  const change = (cls: PoolClass, fields: (old: Rec) => object) => {
    const ref = anyRef(cls);
    const old = p[cls][ref];
    if (old) ix.put(cls, ref, { ...old, ...fields(old) } as Rec);
  };
  switch (r.int(19)) {
    case 0: change('VM', () => ({ resident_on: r.next() < 0.8 ? r.pick(hosts) : NULL })); break;
    case 1: change('VM', () => ({ power_state: r.pick(['Running', 'Halted', 'Paused']), domid: r.int(4) })); break;
    case 2: change('VIF', (o) => ({ currently_attached: !o.currently_attached })); break;
    case 3: change('VIF', () => ({ network: anyRef('network'), VM: r.next() < 0.7 ? anyRef('VM') : NULL })); break;
    case 4: change('PIF', (o) => ({ currently_attached: !o.currently_attached })); break;
    // Records the master would never write: the compile must agree on them too.
    case 5: change('PIF', () => (r.next() < 0.5 ? { host: r.pick(hosts) } : { network: anyRef('network') })); break;
    case 6: change('PIF', () => ({ other_config: { mtu: String(r.pick([1400, 1500, 9000, 70000])) }, IP: `10.1.0.${r.int(250)}` })); break;
    case 7: change('network', () => ({ other_config: r.next() < 0.7 ? { [TUNNEL_KEY]: String(1 + r.int(20)) } : {}, MTU: r.pick([1500, 9000, 1450]) })); break;
    case 8: change('network', (o) => (r.next() < 0.5 ? { PIFs: (o.PIFs as string[]).filter(() => r.next() < 0.8) } : { VIFs: [...(o.VIFs as string[]), anyRef('VIF')] })); break;
    case 9: change('tunnel', () => (r.next() < 0.5 ? { transport_PIF: anyRef('PIF') } : { access_PIF: anyRef('PIF'), protocol: r.pick(['gre', 'vxlan']) })); break;
    case 10: change('VLAN', () => (r.next() < 0.5 ? { tagged_PIF: anyRef('PIF') } : { tag: r.int(4100) })); break;
    case 11: change('pool', () => {
      if (r.next() < 0.5) return { other_config: {} };
      const ovn = { [SDN_KEY]: 'ovn', [OVN_REMOTE_KEY]: 'tcp:10.0.0.2:6642' };
      // Sometimes the OVN databases as a cluster of three of the hosts (the master among them).
      const uuids = Object.values(p.host).map((h) => String(h.uuid)).slice(0, 3);
      return { master: r.pick(refsOf('host')), other_config: uuids.length === 3 && r.next() < 0.6 ? { ...ovn, [OVN_CLUSTER_KEY]: uuids.join(',') } : ovn };
    }); break;
    case 12: change('host', () => ({ uuid: r.next() < 0.9 ? `aaaaaaaa-0000-0000-0000-${String(step).padStart(12, '0')}` : 'not-a-uuid' })); break;
    case 13: { // a record goes
      const cls = r.pick(POOL_CLASSES.filter((c) => c !== 'host' && c !== 'pool'));
      ix.remove(cls, anyRef(cls));
      break;
    }
    case 14: { // a new running VM with a VIF on some host
      const vm = `OpaqueRef:vm-${step}`;
      const vif = `OpaqueRef:vif-${step}`;
      ix.put('VM', vm, { uuid: `bbbbbbbb-0000-0000-0000-${String(step).padStart(12, '0')}`, power_state: 'Running', resident_on: r.pick(hosts), domid: 10 + r.int(5), VIFs: [vif] });
      ix.put('VIF', vif, { uuid: `cccccccc-0000-0000-0000-${String(step).padStart(12, '0')}`, VM: vm, network: anyRef('network'), device: '0',
        MAC: mac(200, step), currently_attached: true, locking_mode: r.pick(['locked', 'unlocked', 'network_default']), ipv4_allowed: [], ipv6_allowed: [], other_config: {} });
      break;
    }
    case 16: { // a new host joins a network with a tunnel (its transport, access PIF and tunnel), as a join does
      const net = anyRef('network');
      const [h, transport, access, tunnel] = ['host', 'eth1', 'access', 'tunnel'].map((x) => `OpaqueRef:${x}-${step}`) as [string, string, string, string];
      ix.put('host', h, { uuid: `dddddddd-0000-0000-0000-${String(step).padStart(12, '0')}`, address: `10.0.1.${step % 250}` });
      ix.put('PIF', transport, { uuid: `eeeeeeee-0000-0000-0000-${String(step).padStart(12, '0')}`, host: h, network: anyRef('network'), device: 'eth1', physical: true,
        currently_attached: true, IP: `10.1.1.${step % 250}`, ip_configuration_mode: 'Static', netmask: '255.255.0.0', tunnel_access_PIF_of: [], tunnel_transport_PIF_of: [tunnel] });
      ix.put('PIF', access, { uuid: `ffffffff-0000-0000-0000-${String(step).padStart(12, '0')}`, host: h, network: net, device: 'tunnel0', physical: false,
        currently_attached: r.next() < 0.8, IP: '', tunnel_access_PIF_of: [tunnel], tunnel_transport_PIF_of: [] });
      ix.put('tunnel', tunnel, { uuid: `abababab-0000-0000-0000-${String(step).padStart(12, '0')}`, access_PIF: access, transport_PIF: transport, protocol: 'vxlan', status: { active: 'false' } });
      if (p.network[net]) ix.put('network', net, { ...p.network[net], PIFs: [...(p.network[net].PIFs as string[]), access] });
      break;
    }
    // Fields the compile does not read (a tunnel's status, a PIF's other_config but its mtu): changes all the same.
    case 17: change('tunnel', () => ({ status: { active: String(r.next() < 0.5) } })); break;
    case 18: change(r.pick(['PIF', 'host'] as const), () => ({ other_config: { seen: String(step) } })); break;
    default: { // the same record again as a new object (a write that changed nothing here)
      const cls = r.pick(POOL_CLASSES);
      const ref = anyRef(cls);
      if (p[cls][ref]) ix.put(cls, ref, { ...p[cls][ref] });
    }
  }
}

test('a host compiled from its slice and its networks\' meshes, memoised, equals a compile of the whole pool over random changes', () => {
  let compiles = 0;
  let checks = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const r = rng(seed);
    const { b, hosts } = randomPool(r);
    const ix = indexPool(b.records);
    const compilers = new Map(hosts.map((h) => [h, new HostCompiler()]));
    // Each network's peers for each host, kept by the changes' keys alone (as HostCompiler keeps them).
    const meshes = hosts.flatMap((h) => Object.keys(ix.records.network).map((n) => new MeshPeers(n, h)));
    meshes.forEach((m) => m.refresh(ix));
    for (let step = 0; step < 80; step++) {
      if (step > 0) {
        const v = ix.version;
        randomChange(r, ix, hosts, step);
        for (const keys of ix.changedSince(v)!) for (const k of keys) for (const m of meshes) m.touch(k);
        for (const m of meshes) {
          m.refresh(ix);
          assert.deepEqual(m.peers, meshPeers(ix.records, m.netRef, m.hostRef), `seed ${seed}, step ${step}, network ${m.netRef} from ${m.hostRef}`);
        }
      }
      for (const h of hosts) {
        const c = compilers.get(h)!;
        assert.deepEqual(c.compile(ix, h), compileHost(ix.records, h), `seed ${seed}, step ${step}, host ${h}`);
        checks++;
      }
    }
    compiles += [...compilers.values()].reduce((n, c) => n + c.compiles, 0);
  }
  // The memo answered a good part of the checks: most changes are on one host's things.
  assert.ok(compiles < checks * 0.8, `${compiles} compiles for ${checks} checks`);
});

test('a host joining a tunnel network makes one peer on the other hosts, and a tunnel\'s status none', () => {
  const b = new PoolBuilder();
  const n0 = b.network('xenbr0');
  const nets = [b.network('xapi1', 1500, { [TUNNEL_KEY]: '1' }), b.network('xapi2', 1500, { [TUNNEL_KEY]: '2' })];
  const hosts = [1, 2, 3].map((i) => {
    const h = b.host(`00000000-0000-0000-0000-00000000000${i}`);
    const eth1 = b.physical(h, 'eth1', n0, { MAC: mac(i, 1), mode: 'Static', IP: `10.1.0.${i}`, netmask: '255.255.0.0' });
    for (const n of nets) b.tunnel(h, eth1, n, 'vxlan', { attached: true });
    return h;
  });
  const ix = indexPool(b.records);
  const c = new HostCompiler();
  const tunnels = (d: Desired) => d.doc.bridges.map((br) => br.tunnels.length);
  assert.deepEqual(tunnels(c.compile(ix, hosts[0]!)), [0, 2, 2], 'eth1\'s bridge, then the two meshes');
  const before = { compiles: c.compiles, slices: c.slices, peersMade: c.peersMade };
  // A fourth host joins the second network: its transport, its access PIF, its tunnel.
  ix.put('host', 'OpaqueRef:h4', { uuid: '00000000-0000-0000-0000-000000000004' });
  ix.put('PIF', 'OpaqueRef:eth1-4', { host: 'OpaqueRef:h4', network: n0, IP: '10.1.0.4', tunnel_access_PIF_of: [], tunnel_transport_PIF_of: ['OpaqueRef:t4'] });
  ix.put('PIF', 'OpaqueRef:a4', { host: 'OpaqueRef:h4', network: nets[1]!, currently_attached: true, tunnel_access_PIF_of: ['OpaqueRef:t4'] });
  ix.put('tunnel', 'OpaqueRef:t4', { access_PIF: 'OpaqueRef:a4', transport_PIF: 'OpaqueRef:eth1-4', protocol: 'vxlan', status: { active: 'false' } });
  ix.put('network', nets[1]!, { ...ix.records.network[nets[1]!]!, PIFs: [...(ix.records.network[nets[1]!]!.PIFs as string[]), 'OpaqueRef:a4'] });
  const joined = c.compile(ix, hosts[0]!);
  assert.deepEqual(tunnels(joined), [0, 2, 3]);
  assert.deepEqual(joined, compileHost(ix.records, hosts[0]!));
  assert.deepEqual({ compiles: c.compiles - before.compiles, slices: c.slices - before.slices, peersMade: c.peersMade - before.peersMade },
    { compiles: 1, slices: 0, peersMade: 1 }, 'assembled once, from the slice kept and the one new peer');
  // The joiner's tunnel comes up: its status changes, the mesh does not.
  ix.put('tunnel', 'OpaqueRef:t4', { ...ix.records.tunnel['OpaqueRef:t4']!, status: { active: 'true' } });
  assert.equal(c.compile(ix, hosts[0]!), joined, 'the same compiled config, not assembled again');
  assert.deepEqual({ compiles: c.compiles - before.compiles, peersMade: c.peersMade - before.peersMade }, { compiles: 1, peersMade: 2 });
});

test('a change on another host (a VM started there, a PIF of its own) does not compile this host again', () => {
  const b = new PoolBuilder();
  const [h1, h2] = [b.host(), b.host()];
  const n0 = b.network('xenbr0');
  b.physical(h1, 'eth0', n0, { MAC: mac(1, 0) });
  const p2 = b.physical(h2, 'eth0', n0, { MAC: mac(2, 0) });
  const vm1 = b.vm(h1, 1);
  b.vif(vm1, n0, 0, mac(9, 1));
  const ix = indexPool(b.records);
  const c1 = new HostCompiler();
  const first = c1.compile(ix, h1);
  ix.put('VM', 'OpaqueRef:vm2', { uuid: '22222222-0000-0000-0000-000000000002', power_state: 'Running', resident_on: h2, domid: 3, VIFs: [] });
  ix.put('PIF', p2, { ...ix.records.PIF[p2]!, currently_attached: false });
  // A VIF on the same network, on the other host: the network's VIFs change, nothing of this host.
  ix.put('VIF', 'OpaqueRef:vif2', { uuid: '22222222-0000-0000-0000-0000000000f2', VM: 'OpaqueRef:vm2', network: n0, device: '0', MAC: mac(9, 2), currently_attached: true });
  ix.put('network', n0, { ...ix.records.network[n0]!, VIFs: [...(ix.records.network[n0]!.VIFs as string[]), 'OpaqueRef:vif2'] });
  assert.equal(c1.compile(ix, h1), first, 'the same compiled config, not compiled again');
  assert.equal(c1.compiles, 1);
  // A change of this host's VM compiles it again.
  ix.put('VM', vm1, { ...ix.records.VM[vm1]!, domid: 2 });
  assert.equal(c1.compile(ix, h1).doc.vifs[0]!.name, 'vif2.0');
  assert.equal(c1.compiles, 2);
});

test('a compiler further behind than the pool remembers takes its slice again', () => {
  const b = new PoolBuilder();
  const [h1, h2] = [b.host(), b.host()];
  const n0 = b.network('xenbr0');
  b.physical(h1, 'eth0', n0, { MAC: mac(1, 0) });
  const vm1 = b.vm(h1, 1);
  b.vif(vm1, n0, 0, mac(9, 1));
  const ix = indexPool(b.records);
  const c1 = new HostCompiler();
  c1.compile(ix, h1);
  // Many changes elsewhere, then one here: the log no longer reaches back to the last compile.
  for (let i = 0; i < 5000; i++) ix.put('VM', 'OpaqueRef:vm2', { uuid: '22222222-0000-0000-0000-000000000002', power_state: 'Running', resident_on: h2, domid: i, VIFs: [] });
  ix.put('VM', vm1, { ...ix.records.VM[vm1]!, domid: 7 });
  assert.equal(ix.changedSince(1), undefined, 'the log was cut');
  assert.equal(c1.compile(ix, h1).doc.vifs[0]!.name, 'vif7.0');
  assert.deepEqual(c1.compile(ix, h1), compileHost(ix.records, h1));
});

test('after a full sync (a new replica, its change count from 0) the compiler does not answer from the old one', () => {
  const b = new PoolBuilder();
  const h1 = b.host();
  const n0 = b.network('xenbr0');
  b.physical(h1, 'eth0', n0, { MAC: mac(1, 0) });
  const vm1 = b.vm(h1, 1);
  b.vif(vm1, n0, 0, mac(9, 1));
  const c = new HostCompiler();
  const old = indexPool(b.records);
  for (let i = 0; i < 50; i++) old.put('network', n0, { ...old.records.network[n0]! }); // the old replica's count runs ahead
  c.compile(old, h1);
  // The records as a full sync brings them: the VM restarted meanwhile (a change the events missed).
  const fresh = indexPool({ ...b.records, VM: { [vm1]: { ...b.records.VM[vm1]!, domid: 7 } } });
  assert.equal(c.compile(fresh, h1).doc.vifs[0]!.name, 'vif7.0');
  assert.deepEqual(c.compile(fresh, h1), compileHost(fresh.records, h1));
});
