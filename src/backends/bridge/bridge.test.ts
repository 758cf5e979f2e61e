// The Linux-bridge driver's pure parts: the plan for each kind of network (against an empty
// and a realised kernel), bond mode mapping, the argv of each operation, and the locking rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHost } from '../../agent/desired.js';
import { PoolBuilder } from '../../agent/pool-builder.js';
import { IpError } from '../linux/ip.js';
import { argvOf } from './cmd.js';
import { lockTable, lockTransaction, portRules } from './locking.js';
import { bondSettings, describeOp, greKey, hostState as bridgeHostState, linksTouched, markerOf, parseKLink, type KernelState, type KLink } from './model.js';
import { defaultRouteOf } from '../linux/kernel-cache.js';
import { expectedLinks, planBridge } from './plan.js';

/** The kernel as the two JSON arrays of `ip -json -details addr show` and `route show default` say it is. */
function parseKernel(out: string): KernelState {
  const [addrs, routes] = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>[]);
  const links = new Map<string, KLink>(addrs!.map((l) => { const k = parseKLink(l); return [k.name, k]; }));
  const r = defaultRouteOf(routes!);
  return { links, ...(r ? { defaultRoute: r } : {}) };
}

const HU = '11111111-2222-3333-4444-555555555555';
const nic = (name: string, extra: Partial<KLink> = {}): KLink => ({ name, kind: 'veth', up: true, carrier: true, mtu: 1500, mac: '02:00:00:00:00:01', alias: '', addrs: [], ...extra });
const kernel = (...links: KLink[]): KernelState => ({ links: new Map(links.map((l) => [l.name, l])) });

test('VLAN: the device <uplink>.<tag> in a bridge of its own, on the parent NIC', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'), { MAC: '02:00:00:00:00:0a' });
  b.vlan(h, p0, b.network('xapi1'), 20);
  const plan = planBridge(compileHost(b.records, h).doc, kernel(nic('eth0')));
  assert.deepEqual(plan.errors, {});
  assert.deepEqual(plan.ops.map(describeOp), [
    'create bridge xenbr0', 'mark xenbr0', 'create bridge xapi1', 'mark xapi1', 'create VLAN device eth0.20 (eth0 tag 20)', 'mark eth0.20',
    'add eth0 to xenbr0', 'add eth0.20 to xapi1',
    'set eth0.20 mtu 1500', 'set xenbr0 mtu 1500', 'set xapi1 mtu 1500',
    'set xenbr0 address 02:00:00:00:00:0a', 'set xapi1 address 02:00:00:00:00:0a',
    // A new bridge snoops (the kernel's default): it is set as the pool says.
    'turn IGMP snooping off on xenbr0', 'turn IGMP snooping off on xapi1',
    'up eth0', 'up eth0.20', 'up xenbr0', 'up xapi1',
  ].map((x) => x.replace(/^up (.*)/, 'set $1 up')));
  // The same host realised: nothing to do.
  const mark = markerOf(HU);
  const done = kernel(
    nic('eth0', { master: 'xenbr0' }),
    nic('eth0.20', { kind: 'vlan', lower: 'eth0', id: 20, master: 'xapi1', alias: mark }),
    nic('xenbr0', { kind: 'bridge', alias: mark, mac: '02:00:00:00:00:0a' }),
    nic('xapi1', { kind: 'bridge', alias: mark, mac: '02:00:00:00:00:0a' }),
  );
  assert.deepEqual(planBridge(compileHost(b.records, h).doc, done).ops, []);
});

test('foreign devices are left alone and block only the objects that need them', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'));
  const plan = planBridge(compileHost(b.records, h).doc, kernel(nic('eth0'), nic('xenbr0', { kind: 'bridge' }), nic('br-ext', { kind: 'bridge' })));
  assert.match(plan.errors[p0]!, /xenbr0 exists and is not managed by xcpnet/);
  assert.deepEqual(plan.ops, []);
  // and nothing of ours is wanted: only our marked devices go
  const none = compileHost(new PoolBuilder().records, 'OpaqueRef:none').doc;
  const k = kernel(nic('br-ext', { kind: 'bridge' }), nic('xapi9', { kind: 'bridge', alias: markerOf(HU) }));
  assert.deepEqual(planBridge({ ...none, host: HU }, k).ops.map(describeOp), ['remove xapi9']);
});

test('bond modes as XenServer\'s bridge backend maps them onto the bonding driver', () => {
  assert.deepEqual(bondSettings({ mode: 'lacp', miimon: '100', updelay: '31000', downdelay: '200' }),
    { mode: '802.3ad', miimon: 100, updelay: 31000, downdelay: 200, xmitHashPolicy: 'layer3+4', lacpRate: 'slow' });
  assert.equal(bondSettings({ mode: 'lacp', 'hashing-algorithm': 'src_mac', 'lacp-time': 'fast' }).xmitHashPolicy, 'layer2');
  assert.equal(bondSettings({ mode: 'active-backup' }).mode, 'active-backup');
  assert.equal(bondSettings({ mode: 'balance-slb' }).mode, 'balance-tlb');
  assert.equal(bondSettings({ mode: 'balance-slb', miimon: '150', updelay: '1000' }).updelay, 1050, 'a multiple of miimon');
});

test('every operation is checked argv: no value becomes an option, a second argument or a path', () => {
  assert.deepEqual(argvOf({ op: 'add-vlan', name: 'eth0.20', lower: 'eth0', tag: 20 }), ['link', 'add', 'link', 'eth0', 'name', 'eth0.20', 'type', 'vlan', 'id', '20']);
  assert.deepEqual(argvOf({ op: 'add-tunnel', name: 't1', protocol: 'vxlan', key: 77, remote: '10.0.0.2' }),
    ['link', 'add', 'name', 't1', 'type', 'vxlan', 'id', '77', 'remote', '10.0.0.2', 'dstport', '4789']);
  for (const bad of [
    { op: 'master', name: '-f', master: 'xenbr0' }, { op: 'master', name: 'eth0', master: 'a b' }, { op: 'mtu', name: 'eth0', mtu: 1.5 },
    { op: 'mac', name: 'eth0', mac: '02:00:00:00:00:01 up' }, { op: 'add-vlan', name: 'eth0.5000', lower: 'eth0', tag: 5000 },
    { op: 'add-tunnel', name: 't1', protocol: 'gre', key: 0x1000000, remote: '10.0.0.2' }, { op: 'addr-add', name: 'xenbr0', cidr: '10.0.0.1/24 dev lo' },
    { op: 'route-default', name: 'xenbr0', via: '-6' }, { op: 'mark', name: 'xenbr0', alias: 'xcpnet:x\ny' }, { op: 'del', name: '../x' },
  ] as const) assert.throws(() => argvOf(bad as never), (e: unknown) => e instanceof IpError && /invalid/.test((e as Error).message), JSON.stringify(bad));
});

test('locking: rules from parsed values only; a bad MAC drops everything; one fingerprint for the table', () => {
  const rules = portRules({ owner: 'o', port: 'vif1.0', mac: '02:AA:00:00:00:01', ipv4: ['10.0.0.9', '10.1.0.0/16', '10.0.0.1\n}'], ipv6: ['fd00::/64'] });
  const text = JSON.stringify(rules);
  assert.match(text, /"02:aa:00:00:00:01"/);
  assert.match(text, /\{"prefix":\{"addr":"10.1.0.0","len":16\}\}/);
  assert.match(text, /"addr":"fd00:0:0:0:0:0:0:0","len":64/);
  assert.doesNotMatch(text, /10\.0\.0\.1\\n/);
  assert.equal(rules.length, 6, 'MAC, DHCP, ARP, IPv4, IPv6, drop');
  assert.deepEqual(portRules({ owner: 'o', port: 'vif1.0', mac: 'nope', ipv4: ['10.0.0.9'], ipv6: [] }).length, 1);
  const t = lockTable([{ owner: 'o', port: 'vif1.0', mac: '02:00:00:00:00:01', ipv4: [], ipv6: [] }]);
  const tx = lockTransaction(t) as { nftables: { add?: { rule?: { comment: string } } }[] };
  assert.ok(tx.nftables.filter((c) => c.add?.rule).every((c) => c.add!.rule!.comment === `xcpnet ${t.fingerprint}`));
});

test('bond: member NICs leave their bridges for a kernel bond, a VLAN sits on the bond; realised, nothing to do', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const s2 = b.physical(h, 'eth2', b.network('xenbr2'));
  const s3 = b.physical(h, 'eth3', b.network('xenbr3'));
  const mark = markerOf(HU);
  const before = kernel(nic('eth2', { master: 'xenbr2' }), nic('eth3', { master: 'xenbr3' }),
    nic('xenbr2', { kind: 'bridge', alias: mark }), nic('xenbr3', { kind: 'bridge', alias: mark }));
  assert.deepEqual(planBridge(compileHost(b.records, h).doc, { links: new Map([...before.links].map(([k, v]) => [k, { ...v, mac: k === 'xenbr2' || k === 'xenbr3' ? '02:00:00:00:00:01' : v.mac }])) }).ops
    .filter((o) => o.op !== 'mac'), [], 'the NIC bridges as they are: nothing to do');
  const { master } = b.bond(h, b.network('xapi2'), [s2, s3], 'lacp', {}, { MAC: '02:00:00:00:00:b0' });
  b.vlan(h, master, b.network('xapi4'), 30);
  const plan = planBridge(compileHost(b.records, h).doc, before);
  assert.deepEqual(plan.errors, {});
  assert.deepEqual(plan.ops.map(describeOp), [
    'remove xenbr2', 'remove xenbr3',
    'create bridge xapi2', 'mark xapi2', 'create bond bond0 (802.3ad)', 'mark bond0', 'create bridge xapi4', 'mark xapi4',
    'create VLAN device bond0.30 (bond0 tag 30)', 'mark bond0.30',
    'add bond0 to xapi2', 'set eth2 down', 'add eth2 to bond0', 'set eth3 down', 'add eth3 to bond0', 'add bond0.30 to xapi4',
    'set bond0 mtu 1500', 'set bond0.30 mtu 1500', 'set bond0 address 02:00:00:00:00:b0',
    'set xapi2 mtu 1500', 'set xapi4 mtu 1500', 'set xapi2 address 02:00:00:00:00:b0', 'set xapi4 address 02:00:00:00:00:b0',
    'turn IGMP snooping off on xapi2', 'turn IGMP snooping off on xapi4',
    'set bond0 up', 'set eth2 up', 'set eth3 up', 'set bond0.30 up', 'set xapi2 up', 'set xapi4 up',
  ]);
  assert.deepEqual(plan.ops.find((o) => o.op === 'add-bond'), {
    op: 'add-bond', name: 'bond0', owner: master, mode: '802.3ad', miimon: 100, updelay: 31000, downdelay: 200, xmitHashPolicy: 'layer3+4', lacpRate: 'slow',
  });
  const after = kernel(
    nic('eth2', { master: 'bond0' }), nic('eth3', { master: 'bond0' }),
    nic('bond0', { kind: 'bond', bondMode: '802.3ad', master: 'xapi2', alias: mark, mac: '02:00:00:00:00:b0' }),
    nic('bond0.30', { kind: 'vlan', lower: 'bond0', id: 30, master: 'xapi4', alias: mark }),
    nic('xapi2', { kind: 'bridge', alias: mark, mac: '02:00:00:00:00:b0' }), nic('xapi4', { kind: 'bridge', alias: mark, mac: '02:00:00:00:00:b0' }),
  );
  assert.deepEqual(planBridge(compileHost(b.records, h).doc, after).ops, []);
});

test('an active-backup bond\'s active member is the bonding driver\'s active_slave, as `ip -json -details` gives it', () => {
  const link = (ifname: string, extra: Record<string, unknown>) => ({ ifname, flags: ['UP', 'LOWER_UP'], mtu: 1500, address: '02:00:00:00:00:01', addr_info: [], ...extra });
  const kernelOf = (activeSlave?: string) => parseKernel(`${JSON.stringify([
    link('xapi1', { linkinfo: { info_kind: 'bridge' } }),
    link('bond0', { master: 'xapi1', linkinfo: { info_kind: 'bond', info_data: { mode: 'active-backup', ...(activeSlave ? { active_slave: activeSlave } : {}) } } }),
    link('eth2', { master: 'bond0', linkinfo: { info_slave_kind: 'bond' } }),
    link('eth3', { master: 'bond0', linkinfo: { info_slave_kind: 'bond' } }),
    link('eth4', {}),
  ])}\n[]\n`);
  const uplink = (activeSlave?: string) => bridgeHostState('h', kernelOf(activeSlave)).bridges.find((b) => b.name === 'xapi1')?.uplink;
  assert.equal(uplink('eth3')?.active, 'eth3');
  assert.equal(uplink()?.active, undefined, 'no member active');
  assert.equal(uplink('eth4')?.active, undefined, 'not a member');
});

test('a gretap\'s key as `ip -json -details` gives it (a dotted quad) is read as the number', () => {
  // One line of `addr show` for a gretap made with `key 77`, as iproute2 prints it, then no routes.
  const link = { ifname: 'gt5', flags: ['UP'], mtu: 1462, address: '02:00:00:00:00:05', addr_info: [],
    linkinfo: { info_kind: 'gretap', info_data: { remote: '10.81.0.2', local: 'any', ttl: 0, pmtudisc: true, ikey: '0.0.0.77', okey: '0.0.0.77' } } };
  const k = parseKernel(`${JSON.stringify([link])}\n[]\n`);
  assert.equal(k.links.get('gt5')?.id, 77);
  assert.equal(k.links.get('gt5')?.remote, '10.81.0.2');
  assert.deepEqual(['0.0.1.0', '1.0.0.0', '255.255.255.255', 5, '1.2.3', '256.0.0.0', 'x'].map(greKey), [256, 16777216, 4294967295, 5, undefined, undefined, undefined]);
});

test('a NIC taken over gives what it holds to the bridge in one step, after it is in it; the bridge then gets only what it lacks', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'), { mode: 'Static', IP: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', management: true });
  const k: KernelState = { links: new Map([['eth0', nic('eth0', { addrs: ['192.0.2.10/24', '198.51.100.7/24'] })]]), defaultRoute: { dev: 'eth0', via: '192.0.2.1' } };
  const plan = planBridge(compileHost(b.records, h).doc, k);
  assert.deepEqual(plan.errors, {});
  const ops = plan.ops.map(describeOp);
  const at = (x: string) => { const i = ops.indexOf(x); assert.ok(i >= 0, `${x} in ${JSON.stringify(ops)}`); return i; };
  const move = at('move the addresses and routes of eth0 to xenbr0');
  assert.equal(at('add eth0 to xenbr0') + 1, move, 'moved as soon as the NIC is in the bridge');
  // The wanted address came with the move (no add); one it should not have goes after it.
  assert.ok(!ops.includes('add 192.0.2.10/24 to xenbr0'));
  assert.ok(at('remove 198.51.100.7/24 from xenbr0') > move);
  assert.ok(at('default route via 192.0.2.1 dev xenbr0') > move);
  assert.equal(plan.ops.filter((o) => o.op === 'move-l3')[0]?.owner, p0);
  // A NIC that holds nothing is not moved; nor is one already in its bridge that holds nothing.
  assert.ok(!planBridge(compileHost(b.records, h).doc, kernel(nic('eth0'))).ops.some((o) => o.op === 'move-l3'));
});

test('bond members that hold addresses give them to the bridge the bond is in', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const e1 = b.physical(h, 'eth1', b.network('xenbr1'));
  const e2 = b.physical(h, 'eth2', b.network('xenbr2'));
  const { master } = b.bond(h, b.network('xapi1'), [e1, e2], 'active-backup', {}, { mode: 'Static', IP: '203.0.113.5', netmask: '255.255.255.0' });
  const k = kernel(nic('eth1', { addrs: ['203.0.113.5/24'] }), nic('eth2'));
  const plan = planBridge(compileHost(b.records, h).doc, k);
  assert.deepEqual(plan.errors, {});
  const moves = plan.ops.filter((o) => o.op === 'move-l3');
  const bridge = compileHost(b.records, h).doc.bridges.find((x) => x.uplink?.kind === 'bond')!.name;
  assert.deepEqual(moves.map((o) => [o.name, o.op === 'move-l3' ? o.to : '', o.owner]), [['eth1', bridge, master]]);
  assert.ok(!plan.ops.some((o) => o.op === 'addr-add' && o.cidr === '203.0.113.5/24'));
});

test('IGMP snooping: the NIC\'s bridge snoops as its PIF recorded at its plug; the VLAN bridge does not; as `ip -json -details` says', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'), { MAC: '02:00:00:00:00:0a' });
  b.vlan(h, p0, b.network('xapi1'), 20);
  b.set('PIF', p0, { igmp_snooping_status: 'enabled' });
  const doc = compileHost(b.records, h).doc;
  const mark = markerOf(HU);
  const bridge = (name: string, snooping: number) => ({
    ifname: name, flags: ['UP', 'LOWER_UP'], mtu: 1500, address: '02:00:00:00:00:0a', ifalias: mark, addr_info: [],
    linkinfo: { info_kind: 'bridge', info_data: { mcast_snooping: snooping } },
  });
  const links = (x: number, y: number) => parseKernel(`${JSON.stringify([
    { ifname: 'eth0', flags: ['UP', 'LOWER_UP'], mtu: 1500, address: '02:00:00:00:00:01', master: 'xenbr0', addr_info: [] },
    { ifname: 'eth0.20', flags: ['UP', 'LOWER_UP'], mtu: 1500, address: '02:00:00:00:00:0a', master: 'xapi1', link: 'eth0', ifalias: mark, addr_info: [],
      linkinfo: { info_kind: 'vlan', info_data: { id: 20 } } },
    bridge('xenbr0', x), bridge('xapi1', y),
  ])}\n[]\n`);
  assert.deepEqual(planBridge(doc, links(0, 1)).ops.map(describeOp), ['turn IGMP snooping on on xenbr0', 'turn IGMP snooping off on xapi1']);
  assert.deepEqual(planBridge(doc, links(1, 0)).ops, []);
  assert.deepEqual(argvOf({ op: 'mcast-snooping', name: 'xenbr0', on: true }), ['link', 'set', 'dev', 'xenbr0', 'type', 'bridge', 'mcast_snooping', '1']);
});

test('argv: a move is not one ip command', () => {
  assert.throws(() => argvOf({ op: 'move-l3', name: 'eth0', to: 'xenbr0' } as never));
});

test('a paused VM\'s VIF stays in its bridge with its device down; running, up again', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const ni = b.network('xapi2');
  const vm = b.vm(h, 3);
  b.vif(vm, ni, 0, '02:00:00:00:03:00');
  const mark = markerOf(HU);
  const realised = (up: boolean) => kernel(nic('xapi2', { kind: 'bridge', alias: mark }), nic('vif3.0', { master: 'xapi2', up, mac: 'fe:ff:ff:ff:ff:ff' }));
  const ops = (up: boolean) => planBridge(compileHost(b.records, h).doc, realised(up)).ops.map(describeOp).filter((o) => o.includes('vif3.0'));
  assert.deepEqual(ops(true), []);
  b.set('VM', vm, { power_state: 'Paused' });
  assert.deepEqual(ops(true), ['set vif3.0 down']);
  assert.deepEqual(ops(false), [], 'nothing more while paused');
  b.set('VM', vm, { power_state: 'Running' });
  assert.deepEqual(ops(false), ['set vif3.0 up']);
});

test('linksTouched: what each operation may change is read again (a new or old master, a lower device, the ports of a removed one)', () => {
  const l = (name: string, master?: string): KLink => ({ name, up: true, carrier: true, mtu: 1500, mac: '', alias: '', addrs: [], ...(master ? { master } : {}) });
  const k: KernelState = { links: new Map([l('xapi1'), l('vif1.0', 'xapi1'), l('vif2.0', 'xapi1'), l('eth1', 'xapi0'), l('xapi0')].map((x) => [x.name, x])) };
  assert.deepEqual(linksTouched([{ op: 'del', name: 'xapi1' }], k).sort(), ['vif1.0', 'vif2.0', 'xapi1']);
  assert.deepEqual(linksTouched([{ op: 'master', name: 'eth1', master: 'xapi2' }], k).sort(), ['eth1', 'xapi0', 'xapi2']);
  assert.deepEqual(linksTouched([{ op: 'nomaster', name: 'eth1' }], k).sort(), ['eth1', 'xapi0']);
  assert.deepEqual(linksTouched([{ op: 'add-vlan', name: 'eth1.10', lower: 'eth1', tag: 10 }], k).sort(), ['eth1', 'eth1.10']);
  assert.deepEqual(linksTouched([{ op: 'move-l3', name: 'eth0', to: 'xenbr0' }], k).sort(), ['eth0', 'xenbr0']);
  assert.deepEqual(linksTouched([{ op: 'addr-add', name: 'xapi0', cidr: '10.0.0.1/24' }], k), ['xapi0']);
});

test('expectedLinks: every link the plan looks for (bridges, NIC, bond and members, VLAN device, tunnel, VIFs in a bridge)', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0');
  const n5 = b.network('xapi5', 1500, { 'xcpnet-tunnel-key': '42' });
  const p0 = b.physical(h, 'eth0', n0, { mode: 'Static', IP: '10.0.0.1', netmask: '255.255.255.0' });
  const h2 = b.host();
  b.tunnel(h2, b.physical(h2, 'eth0', n0, { mode: 'Static', IP: '10.0.0.2', netmask: '255.255.255.0' }), n5, 'vxlan');
  const s2 = b.physical(h, 'eth2', b.network('xenbr2'));
  const s3 = b.physical(h, 'eth3', b.network('xenbr3'));
  const { master } = b.bond(h, b.network('xapi2'), [s2, s3], 'lacp');
  b.vlan(h, master, b.network('xapi4'), 30);
  b.tunnel(h, p0, n5, 'vxlan');
  const vm = b.vm(h, 3);
  b.vif(vm, b.network('xapi6'), 0, '02:00:00:00:03:00');
  const doc = compileHost(b.records, h).doc;
  const want = expectedLinks(doc);
  const tunnels = doc.bridges.flatMap((x) => x.tunnels.map((t) => t.name));
  assert.equal(tunnels.length, 1, 'one tunnel, to the other host');
  assert.ok(want.includes(tunnels[0]!), JSON.stringify(want));
  assert.ok(doc.vifs.length === 1 && want.includes(doc.vifs[0]!.name) && doc.vifs[0]!.bridge !== undefined, JSON.stringify(doc.vifs));
  assert.deepEqual([...want].sort(), ['bond0', 'bond0.30', 'eth0', 'eth2', 'eth3', tunnels[0], 'vif3.0', 'xapi2', 'xapi4', 'xapi5', 'xapi6', 'xenbr0']);
  // Whatever the plan makes or looks for on an empty kernel is among them.
  const plan = planBridge(doc, kernel());
  const looked = [...plan.ops.map((o) => o.name), ...Object.values(plan.errors).flatMap((m) => /^interface (\S+) does not exist$/.exec(m)?.[1] ?? [])];
  assert.ok(looked.length > 0, 'the plan makes something');
  for (const n of looked) assert.ok(want.includes(n), `${n} (planned) in ${JSON.stringify(want)}`);
});
