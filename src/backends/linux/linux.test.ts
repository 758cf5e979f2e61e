import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestPrefixFor, vmNamespaceName } from './guests.js';
import { isPhysicalNic } from './nics.js';

const link = (ifname: string, kind?: string) => ({ ifname, ifindex: 1, mtu: 1500, flags: [], ...(kind ? { kind } : {}) });

test('NIC rule: eth<N> plain or veth; never bridges, OVS ports, bonds, VLANs, vifs', () => {
  assert.equal(isPhysicalNic(link('eth0')), true);
  assert.equal(isPhysicalNic(link('eth12', 'veth')), true);
  assert.equal(isPhysicalNic(link('eth1', 'tun')), false, 'userspace OVS internal port');
  assert.equal(isPhysicalNic(link('eth1', 'openvswitch')), false);
  assert.equal(isPhysicalNic(link('eth0.20', 'vlan')), false);
  assert.equal(isPhysicalNic(link('xenbr0')), false);
  assert.equal(isPhysicalNic(link('vif3.0', 'veth')), false);
  assert.equal(isPhysicalNic(link('bond0', 'bond')), false);
});

test('guest namespace names', () => {
  assert.equal(vmNamespaceName('xcpl-', '618c61ba-1111-4222-8333-444455556666'), 'xcpl-vm-618c61ba');
  assert.equal(guestPrefixFor('xcpl-host2'), 'xcpl-');
  assert.equal(guestPrefixFor('somens'), undefined);
  assert.equal(guestPrefixFor(undefined), undefined);
});
