import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestPrefixFor, vmNamespaceName } from './guests.js';
import { isPhysicalNic } from './nics.js';

const link = (ifname: string, kind?: string) => ({ ifname, ifindex: 1, mtu: 1500, flags: [], ...(kind ? { kind } : {}), ...(kind === 'veth' ? { peerNetnsId: 0 } : {}) });

test('NIC rule: any name without a link kind, or a veth; never bridges, OVS ports, bonds, VLANs, guest backends, loopback', () => {
  for (const n of ['eth0', 'ens5', 'enp1s0f0', 'eno1', 'wlp2s0']) assert.equal(isPhysicalNic(link(n)), true, n);
  assert.equal(isPhysicalNic(link('eth12', 'veth')), true);
  assert.equal(isPhysicalNic(link('lan-a', 'veth')), true, 'a lab NIC renamed');
  assert.equal(isPhysicalNic({ ...link('p-eth0', 'veth'), peerNetnsId: undefined }), false, 'a veth pair inside the namespace');
  assert.equal(isPhysicalNic(link('eth1', 'tun')), false, 'userspace OVS internal port');
  assert.equal(isPhysicalNic(link('xenbr0', 'openvswitch')), false);
  assert.equal(isPhysicalNic(link('eth0.20', 'vlan')), false);
  assert.equal(isPhysicalNic(link('vif3.0', 'veth')), false);
  assert.equal(isPhysicalNic(link('vif3.0')), false, "Xen netback's device");
  assert.equal(isPhysicalNic(link('tap5.1', 'tun')), false);
  assert.equal(isPhysicalNic(link('bond0', 'bond')), false);
  assert.equal(isPhysicalNic(link('sit0', 'sit')), false);
  assert.equal(isPhysicalNic({ ...link('lo'), flags: ['LOOPBACK', 'UP'] }), false);
});

test('guest namespace names', () => {
  assert.equal(vmNamespaceName('xcpl-', '618c61ba-1111-4222-8333-444455556666'), 'xcpl-vm-618c61ba');
  assert.equal(guestPrefixFor('xcpl-host2'), 'xcpl-');
  assert.equal(guestPrefixFor('somens'), undefined);
  assert.equal(guestPrefixFor(undefined), undefined);
});
