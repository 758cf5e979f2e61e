import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bondColumns, bondProperties } from './bond.js';
import { compileHostConfig, tunnelPortName } from './desired.js';
import { OWNER_KEY } from './model.js';
import { PoolBuilder } from './pool-builder.js';
import { prefixOf } from './records.js';

const HU = '11111111-2222-3333-4444-555555555555';

function onePhysical() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0', 1500);
  const p0 = b.physical(h, 'eth0', n0, { MAC: '02:00:00:00:00:01', mode: 'Static', IP: '10.1.0.5', netmask: '255.255.255.0', gateway: '10.1.0.1', DNS: '10.1.0.53', management: true });
  return { b, h, n0, p0 };
}

test('physical PIF: bridge xenbrN with its NIC, hwaddr, ownership marker, IP on the bridge', () => {
  const { b, h, p0 } = onePhysical();
  const c = compileHostConfig(b.records, h, { datapathType: 'netdev' });
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.bridges.map((x) => x.name), ['xenbr0']);
  const br = c.bridges[0];
  assert.equal(br.datapath_type, 'netdev');
  assert.equal(br.fail_mode, 'standalone');
  assert.equal(br.other_config.hwaddr, '02:00:00:00:00:01');
  assert.equal(br.external_ids[OWNER_KEY], HU);
  assert.equal(br.external_ids['xs-network-uuids'], b.records.network[b.records.PIF[p0].network as string].uuid);
  const names = c.ports.map((p) => `${p.bridge}/${p.name}:${p.role}`);
  assert.deepEqual(names, ['xenbr0/xenbr0:bridge', 'xenbr0/eth0:nic']);
  assert.ok(c.ports.every((p) => p.external_ids[OWNER_KEY] === HU && p.interfaces.every((i) => i.external_ids[OWNER_KEY] === HU)));
  assert.equal(c.ports[0].interfaces[0].type, 'internal');
  assert.equal(c.ports[1].interfaces[0].type, '');
  assert.deepEqual(c.ips, [{ dev: 'xenbr0', owner: p0, mode: 'Static', addrs: ['10.1.0.5/24'] }]);
  assert.deepEqual(c.gateway, { dev: 'xenbr0', via: '10.1.0.1', owner: p0 });
  assert.deepEqual(c.dns?.servers, ['10.1.0.53']);
  assert.deepEqual(c.pifs, [{ ref: p0, dev: 'xenbr0', mtu: 1500 }]);
});

test('unplugged PIF produces nothing; other hosts are ignored', () => {
  const { b, h, p0 } = onePhysical();
  const other = b.host();
  b.physical(other, 'eth1', b.network('xenbr1'));
  b.set('PIF', p0, { currently_attached: false });
  const c = compileHostConfig(b.records, h);
  assert.equal(c.bridges.length, 0);
  assert.equal(c.ports.length, 0);
});

test('MTU: PIF other_config:mtu overrides network.MTU on NIC and bridge', () => {
  const { b, h, p0 } = onePhysical();
  b.set('network', b.records.PIF[p0].network as string, { MTU: 9000 });
  let c = compileHostConfig(b.records, h);
  assert.deepEqual(c.ports.map((p) => p.interfaces[0].mtu_request), [9000, 9000]);
  b.set('PIF', p0, { other_config: { mtu: '4000' } });
  c = compileHostConfig(b.records, h);
  assert.deepEqual(c.ports.map((p) => p.interfaces[0].mtu_request), [4000, 4000]);
  assert.equal(c.pifs[0].mtu, 4000);
});

test('VLAN: fake bridge port with tag on the parent bridge, parent brought up, MTU clamped to parent', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n1 = b.network('xenbr1', 1500);
  const p1 = b.physical(h, 'eth1', n1, { attached: false, MAC: '02:00:00:00:00:02' });
  const nv = b.network('xapi3', 9000);
  const v = b.vlan(h, p1, nv, 20, { mode: 'Static', IP: '192.168.20.2', netmask: '255.255.255.0' });
  const c = compileHostConfig(b.records, h);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.bridges.map((x) => x.name), ['xenbr1']);
  const fake = c.ports.find((p) => p.name === 'xapi3')!;
  assert.equal(fake.bridge, 'xenbr1');
  assert.equal(fake.tag, 20);
  assert.equal(fake.fake_bridge, true);
  assert.equal(fake.interfaces[0].type, 'internal');
  assert.equal(fake.interfaces[0].mtu_request, 1500, 'a VLAN cannot exceed its parent');
  assert.ok(c.ports.find((p) => p.name === 'eth1'));
  assert.deepEqual(c.ips.map((i) => [i.dev, i.addrs]), [['xapi3', ['192.168.20.2/24']]], 'no IP config for the implicitly raised parent');
  assert.deepEqual(c.pifs.find((x) => x.ref === v), { ref: v, dev: 'xapi3', mtu: 1500 });
});

test('bond: one bond port with member NICs, slaves not realised on their own, mode mapping', () => {
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
    b.set('PIF', s0, { currently_attached: true }); // even if a slave still claims to be attached
    const { master } = b.bond(h, b.network('xapi1'), [s0, s1], mode, props, { MAC: '02:00:00:00:00:aa' });
    b.set('PIF', s0, { currently_attached: true });
    const c = compileHostConfig(b.records, h);
    assert.deepEqual(c.errors, {}, mode);
    assert.deepEqual(c.bridges.map((x) => x.name), ['xapi1']);
    const bond = c.ports.find((p) => p.role === 'bond')!;
    assert.equal(bond.name, 'bond0');
    assert.deepEqual(bond.interfaces.map((i) => i.name), ['eth0', 'eth1']);
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
    assert.deepEqual(c.bonds, [{ ref: (b.records.PIF[master].bond_master_of as string[])[0], port: 'bond0', members: ['eth0', 'eth1'] }]);
  }
});

test('bond overrides from the master PIF other_config bond-<k>', () => {
  const rejected: string[] = [];
  const cols = bondColumns(bondProperties('lacp', {}, { 'bond-updelay': '5000', 'bond-lacp-time': 'fast', 'bond-lacp-aggregation-key': '7',
    'bond-use_carrier': '0', 'bond-xyz': '1', 'bond-downdelay': '-3', 'bond-miimon': '1\nx', 'bond-primary': 'eth1' }, rejected));
  assert.equal(cols.bond_updelay, 5000);
  assert.equal(cols.bond_downdelay, 200, 'an invalid override leaves the default');
  assert.equal(cols.other_config['lacp-time'], 'fast');
  assert.equal(cols.other_config['bond-detect-mode'], 'miimon');
  assert.equal(cols.other_config['bond-miimon-interval'], '100');
  assert.equal(cols.other_config['bond-primary'], 'eth1');
  assert.equal(cols.other_config['bond-xyz'], undefined, 'unknown keys never reach OVS');
  assert.deepEqual(rejected, ['bond-xyz="1"', 'bond-downdelay="-3"', 'bond-miimon="1\\nx"']);
  assert.deepEqual(cols.member_other_config, { 'lacp-aggregation-key': '7' });
});

test('tunnel: empty bridge plus one port per remote host with an attached access PIF', () => {
  const b = new PoolBuilder();
  const hosts = [HU, 'aaaaaaaa-0000-0000-0000-000000000002', 'bbbbbbbb-0000-0000-0000-000000000003'].map((u) => b.host(u));
  const nt = b.network('xenbr1');
  const pn = b.network('xapi9', 1500, { 'xcpnet-tunnel-key': '42' });
  const ips = ['10.9.0.1', '10.9.0.2', '10.9.0.3'];
  const access = hosts.map((h, i) => {
    const t = b.physical(h, 'eth1', nt, { mode: 'Static', IP: ips[i], netmask: '255.255.255.0' });
    return b.tunnel(h, t, pn, 'vxlan', { MAC: `02:00:00:00:09:0${i}` });
  });
  let c = compileHostConfig(b.records, hosts[0]);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.bridges.map((x) => x.name).sort(), ['xapi9', 'xenbr1']);
  const tun = c.ports.filter((p) => p.role === 'tunnel');
  assert.deepEqual(tun.map((p) => p.interfaces[0].options), [{ remote_ip: '10.9.0.2', key: '42' }, { remote_ip: '10.9.0.3', key: '42' }]);
  assert.ok(tun.every((p) => p.bridge === 'xapi9' && p.interfaces[0].type === 'vxlan' && p.name.length <= 15));
  // split horizon: a mesh of 3+ hosts would otherwise loop broadcasts between the tunnels
  assert.ok(tun.every((p) => p.protected), 'tunnel ports are protected');
  assert.ok(c.ports.filter((p) => p.role !== 'tunnel').every((p) => !p.protected), 'only tunnel ports are protected');
  assert.equal(tun[0].name, tunnelPortName('aaaaaaaa-0000-0000-0000-000000000002', b.records.network[pn].uuid as string));
  assert.equal(c.bridges.find((x) => x.name === 'xapi9')!.other_config.hwaddr, '02:00:00:00:09:00');
  // a host whose access PIF is unplugged leaves the mesh
  b.set('PIF', access[2], { currently_attached: false });
  c = compileHostConfig(b.records, hosts[0]);
  assert.deepEqual(c.ports.filter((p) => p.role === 'tunnel').map((p) => p.interfaces[0].options.remote_ip), ['10.9.0.2']);
  // no key yet: a host-local bridge, no tunnel ports
  b.set('network', pn, { other_config: {} });
  c = compileHostConfig(b.records, hosts[0]);
  assert.equal(c.ports.filter((p) => p.role === 'tunnel').length, 0);
  assert.ok(c.bridges.some((x) => x.name === 'xapi9'));
});

test('VIFs: port vif<domid>.<device> with XenServer external_ids; internal network bridge; VLAN tag; locking', () => {
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
  const c = compileHostConfig(b.records, h);
  assert.deepEqual(c.errors, {});
  assert.deepEqual(c.bridges.map((x) => x.name).sort(), ['xapi7', 'xenbr1']);
  const p0 = c.ports.find((p) => p.name === 'vif4.0')!;
  assert.equal(p0.bridge, 'xapi7');
  assert.equal(p0.tag, null);
  assert.equal(p0.interfaces[0].mtu_request, 1400);
  const ids = p0.interfaces[0].external_ids;
  assert.equal(ids['xs-vif-uuid'], b.records.VIF[v0].uuid);
  assert.equal(ids['xs-vm-uuid'], b.records.VM[vm].uuid);
  assert.equal(ids['xs-network-uuid'], b.records.network[ni].uuid);
  assert.equal(ids['attached-mac'], '02:aa:00:00:00:01');
  const pv = c.ports.find((p) => p.name === 'vif4.1')!;
  assert.equal(pv.bridge, 'xenbr1', 'a VIF on a VLAN network sits on the parent bridge');
  assert.equal(pv.tag, 30);
  assert.equal(pv.external_ids['xcpnet-locking'], 'locked');
  assert.equal(pv.external_ids['xcpnet-ipv4-allowed'], '10.0.0.9');
  assert.equal(c.ports.find((p) => p.name === 'vif4.2'), undefined, 'disabled VIFs are never bridged');
  assert.deepEqual(c.vifs.map((v) => v.ref), [v0, v1, v2].sort());
  assert.equal(c.vifs.find((v) => v.ref === v2)!.locking, 'disabled');
});

test('gateway and DNS: defaultroute/peerdns win over management', () => {
  const { b, h, p0 } = onePhysical();
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { mode: 'Static', IP: '10.2.0.5', netmask: '255.255.0.0', gateway: '10.2.0.1', DNS: '10.2.0.53', other_config: { defaultroute: 'true' } });
  const c = compileHostConfig(b.records, h);
  assert.deepEqual(c.gateway, { dev: 'xenbr1', via: '10.2.0.1', owner: p1 });
  assert.equal(c.dns?.owner, p0);
  assert.deepEqual(c.ips.find((i) => i.owner === p1)!.addrs, ['10.2.0.5/16']);
});

test('a bad static configuration is an error naming the PIF', () => {
  const { b, h, p0 } = onePhysical();
  b.set('PIF', p0, { netmask: '255.0.255.0' });
  const c = compileHostConfig(b.records, h);
  assert.match(c.errors[p0], /invalid static IP/);
});

test('prefixOf', () => {
  assert.equal(prefixOf('255.255.255.0'), 24);
  assert.equal(prefixOf('255.255.0.0'), 16);
  assert.equal(prefixOf('255.255.255.255'), 32);
  assert.equal(prefixOf('0.0.0.0'), 0);
  assert.equal(prefixOf('255.0.255.0'), undefined);
});
