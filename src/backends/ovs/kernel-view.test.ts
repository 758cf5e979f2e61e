// The agent's cheaper observations: the kernel view's parsing, which actions can leave it
// unchanged (so the view after apply is the one from before), and which links an action makes
// the kernel watch read again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyObserved, type Action, type ObsPort, type PortSpec } from './model.js';
import { parseKernelBatch } from '../linux/kernel.js';
import { linksTouched, touchesKernel } from './driver.js';

test('parseKernelBatch: links with IPv4 global addresses, kind, and the default route', () => {
  const addr = [
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
    { ifindex: 2, ifname: 'xenbr0', flags: ['BROADCAST', 'UP', 'LOWER_UP'], mtu: 1500, address: '02:AA:00:00:00:01', linkinfo: { info_kind: 'openvswitch' },
      addr_info: [{ family: 'inet', local: '10.0.0.1', prefixlen: 24, scope: 'global' }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] },
    { ifindex: 3, ifname: 'eth0', flags: ['BROADCAST'], mtu: 9000, address: '02:aa:00:00:00:02', linkinfo: { info_kind: 'veth' }, master: 'ovs-system' },
  ];
  const route = [{ dst: 'default', gateway: '10.0.0.254', dev: 'xenbr0' }];
  const k = parseKernelBatch(`${JSON.stringify(addr)}\n${JSON.stringify(route)}\n`);
  assert.deepEqual(k.links.get('xenbr0'), { name: 'xenbr0', up: true, mtu: 1500, mac: '02:aa:00:00:00:01', addrs: ['10.0.0.1/24'] });
  assert.deepEqual(k.links.get('lo')!.addrs, []);
  assert.equal(k.links.get('eth0')!.up, false);
  assert.equal(k.raw.find((l) => l.ifname === 'eth0')!.kind, 'veth');
  assert.deepEqual(k.defaultRoute, { dev: 'xenbr0', via: '10.0.0.254' });
  assert.equal(parseKernelBatch(`${JSON.stringify(addr)}\n[]\n`).defaultRoute, undefined);
  assert.throws(() => parseKernelBatch(`${JSON.stringify(addr)}\n`), /expected 2/);
});

test('touchesKernel: VIF and NIC ports leave the kernel view alone; bridges, internal ports and ip actions do not', () => {
  const iface = (name: string, type: string) => ({ name, type, options: {}, mtu_request: 1500, mac: null, external_ids: {}, other_config: {} });
  const port = (name: string, type: string): PortSpec => ({
    name, bridge: 'xapi0', owner: 'OpaqueRef:x', role: type === 'internal' ? 'fake-bridge' : 'vif', interfaces: [iface(name, type)],
    tag: null, fake_bridge: type === 'internal', bond_mode: null, lacp: null, bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: {},
  } as PortSpec);
  const before = emptyObserved();
  const obs = (p: PortSpec): ObsPort => ({ ...p, uuid: `u-${p.name}`, interfaces: p.interfaces.map((i) => ({ ...i, uuid: `i-${i.name}`, ofport: 1, error: null, mtu: 1500, link_state: 'up' })) });
  before.ports.set('vif1.0', obs(port('vif1.0', '')));
  before.ports.set('xapi1', obs(port('xapi1', 'internal')));
  const yes: Action[] = [
    { kind: 'add-port', port: port('xapi2', 'internal') },
    { kind: 'del-port', name: 'xapi1', uuid: 'u-xapi1', bridge: 'xapi0' },
    { kind: 'del-port', name: 'unknown', uuid: 'u', bridge: 'xapi0' },
    { kind: 'update-iface', name: 'xapi1', uuid: 'i-xapi1', owner: 'r', set: { mtu_request: 9000 } },
    { kind: 'del-bridge', name: 'xapi0', uuid: 'b' },
    { kind: 'link-up', dev: 'vif1.0', owner: 'r' },
  ];
  const no: Action[] = [
    { kind: 'add-port', port: port('vif1.1', '') },
    { kind: 'del-port', name: 'vif1.0', uuid: 'u-vif1.0', bridge: 'xapi0' },
    { kind: 'update-port', name: 'vif1.0', uuid: 'u-vif1.0', owner: 'r', set: { tag: 10 } },
    { kind: 'update-iface', name: 'vif1.0', uuid: 'i-vif1.0', owner: 'r', set: { mtu_request: 9000 } },
  ];
  for (const a of yes) assert.equal(touchesKernel(a, before), true, JSON.stringify(a));
  for (const a of no) assert.equal(touchesKernel(a, before), false, JSON.stringify(a));
});

test('linksTouched: the links an action may change, those of a removed bridge or port included', () => {
  const iface = (name: string, type: string) => ({ name, type, options: {}, mtu_request: 1500, mac: null, external_ids: {}, other_config: {} });
  const port = (name: string, type: string): PortSpec => ({
    name, bridge: 'xapi0', owner: 'r', role: 'vif', interfaces: [iface(name, type)],
    tag: null, fake_bridge: false, bond_mode: null, lacp: null, bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: {},
  } as PortSpec);
  const before = emptyObserved();
  const obs = (p: PortSpec): ObsPort => ({ ...p, uuid: `u-${p.name}`, interfaces: p.interfaces.map((i) => ({ ...i, uuid: `i-${i.name}`, ofport: 1, error: null, mtu: 1500, link_state: 'up' })) });
  const bond = { ...port('bond0', ''), interfaces: [iface('eth1', ''), iface('eth2', '')] } as PortSpec;
  for (const p of [port('xapi0', 'internal'), port('vif1.0', ''), bond]) before.ports.set(p.name, obs(p));
  before.bridges.set('xapi0', { uuid: 'b', name: 'xapi0', ports: ['xapi0', 'vif1.0'] } as never);
  const t = (a: Action) => linksTouched([a], before).sort();
  assert.deepEqual(t({ kind: 'del-bridge', name: 'xapi0', uuid: 'b' }), ['vif1.0', 'vif1.0', 'xapi0', 'xapi0', 'xapi0']);
  assert.deepEqual(t({ kind: 'del-port', name: 'bond0', uuid: 'u', bridge: 'xapi0' }), ['bond0', 'eth1', 'eth2']);
  assert.deepEqual(t({ kind: 'add-port', port: port('vif2.0', '') }), ['vif2.0', 'vif2.0']);
  assert.deepEqual(t({ kind: 'move-l3', from: 'eth0', to: 'xenbr0', owner: 'r' }), ['eth0', 'xenbr0']);
  assert.deepEqual(t({ kind: 'route-default', dev: 'xenbr0', via: '10.0.0.1', owner: 'r' }), ['xenbr0']);
});
