import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseL3, planMove, planRestore, type L3State } from './l3.js';

// What `ip -json` prints for a NIC as Debian leaves it: a DHCP address and default route, an
// IPv6 global and link-local address, a static route and the gateway's neighbour entry.
const addrs = JSON.stringify([
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifname: 'ens5', addr_info: [
    { family: 'inet', local: '192.0.2.51', prefixlen: 24, scope: 'global', dynamic: true, valid_life_time: 3000 },
    { family: 'inet6', local: '2001:db8::51', prefixlen: 64, scope: 'global' },
    { family: 'inet6', local: 'fe80::5054:ff:fe7a:100', prefixlen: 64, scope: 'link' },
  ] },
  { ifname: 'xenbr0', addr_info: [] },
]);
const routes4 = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'ens5', protocol: 'dhcp', metric: 100, flags: [] },
  { dst: '192.0.2.0/24', dev: 'ens5', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.51', flags: [] },
  { dst: '198.51.100.0/24', gateway: '192.0.2.9', dev: 'ens5', protocol: 'static', flags: [] },
  { type: 'blackhole', dst: '203.0.113.0/24', flags: [] },
]);
const routes6 = JSON.stringify([
  { dst: '2001:db8::/64', dev: 'ens5', protocol: 'kernel', metric: 256, flags: [] },
  { dst: 'fe80::/64', dev: 'ens5', protocol: 'kernel', metric: 256, flags: [] },
  { dst: 'default', gateway: '2001:db8::1', dev: 'ens5', protocol: 'ra', metric: 1024, flags: [] },
  { type: 'local', dst: '2001:db8::51', dev: 'ens5', table: 'local', protocol: 'kernel', flags: [] },
]);
const neighs = JSON.stringify([
  { dst: '192.0.2.1', dev: 'ens5', lladdr: '02:FC:00:00:00:05', state: ['REACHABLE'] },
  { dst: '192.0.2.7', dev: 'ens5', state: ['FAILED'] },
  { dst: '192.0.2.8', dev: 'ens5', lladdr: '02:fc:00:00:00:08', state: ['PERMANENT'] },
]);
const state = parseL3([addrs, routes4, routes6, neighs]);

test('parseL3: global addresses, the main table, neighbours with a MAC', () => {
  assert.deepEqual(state.addrs, [
    { dev: 'ens5', cidr: '192.0.2.51/24', family: 4 }, { dev: 'ens5', cidr: '2001:db8::51/64', family: 6 },
  ]);
  assert.deepEqual(state.routes.map((r) => `${r.family} ${r.dst} ${r.dev}`), [
    '4 default ens5', '4 192.0.2.0/24 ens5', '4 198.51.100.0/24 ens5', '6 2001:db8::/64 ens5', '6 fe80::/64 ens5', '6 default ens5',
  ]);
  assert.deepEqual(state.neighs, [
    { dev: 'ens5', ip: '192.0.2.1', mac: '02:fc:00:00:00:05', permanent: false },
    { dev: 'ens5', ip: '192.0.2.8', mac: '02:fc:00:00:00:08', permanent: true },
  ]);
});

test('parseL3 leaves out what could turn into another word of a batch line', () => {
  const bad = parseL3([
    JSON.stringify([{ ifname: 'eth0 x', addr_info: [{ family: 'inet', local: '192.0.2.5', prefixlen: 24, scope: 'global' }] },
      { ifname: 'eth1', addr_info: [{ family: 'inet', local: '192.0.2.5 dev lo', prefixlen: 24, scope: 'global' }] }]),
    JSON.stringify([{ dst: 'default', gateway: '192.0.2.1\nlink del eth1', dev: 'eth1' }, { dst: 'default', dev: 'eth1', protocol: 'dhcp x' }]),
    '[]',
    JSON.stringify([{ dst: '192.0.2.1', dev: 'eth1', lladdr: '02:fc:00:00:00:05 nud', state: ['STALE'] }]),
  ]);
  assert.deepEqual(bad.addrs, []);
  assert.deepEqual(bad.routes, [{ dev: 'eth1', family: 4, dst: 'default' }]);
  assert.deepEqual(bad.neighs, []);
});

test('planMove: everything added to the bridge before anything leaves the NIC; kernel routes are not copied', () => {
  assert.deepEqual(planMove(state, 'ens5', 'xenbr0'), [
    'link set dev xenbr0 up',
    'addr replace 192.0.2.51/24 broadcast + dev xenbr0',
    'addr replace 2001:db8::51/64 dev xenbr0 nodad',
    'route replace default via 192.0.2.1 dev xenbr0 proto dhcp metric 100',
    'route replace 198.51.100.0/24 via 192.0.2.9 dev xenbr0 proto static',
    'route replace ::/0 via 2001:db8::1 dev xenbr0 proto ra metric 1024',
    'neigh replace 192.0.2.1 lladdr 02:fc:00:00:00:05 dev xenbr0 nud stale',
    'neigh replace 192.0.2.8 lladdr 02:fc:00:00:00:08 dev xenbr0 nud permanent',
    'addr del 192.0.2.51/24 dev ens5',
    'addr del 2001:db8::51/64 dev ens5',
  ]);
  assert.deepEqual(planMove(state, 'xenbr0', 'xenbr1'), [], 'a device without an address moves nothing');
  assert.throws(() => planMove(state, 'ens5', 'bad name'), /invalid interface name/);
});

test('planRestore: the NIC gets its address and routes back, the bridge loses the address', () => {
  const moved: L3State = {
    addrs: [{ dev: 'xenbr0', cidr: '192.0.2.51/24', family: 4 }, { dev: 'xenbr0', cidr: '2001:db8::51/64', family: 6 }],
    routes: [{ dev: 'xenbr0', family: 4, dst: 'default', via: '192.0.2.1', protocol: 'dhcp', metric: 100 }],
    neighs: [],
  };
  assert.deepEqual(planRestore(state, moved, ['ens5']), [
    'link set dev ens5 up',
    'addr del 192.0.2.51/24 dev xenbr0',
    'addr replace 192.0.2.51/24 broadcast + dev ens5',
    'addr del 2001:db8::51/64 dev xenbr0',
    'addr replace 2001:db8::51/64 dev ens5 nodad',
    'route replace default via 192.0.2.1 dev ens5 proto dhcp metric 100',
    'route replace 198.51.100.0/24 via 192.0.2.9 dev ens5 proto static',
    'route replace ::/0 via 2001:db8::1 dev ens5 proto ra metric 1024',
  ]);
  assert.deepEqual(planRestore(state, state, ['ens5']), [], 'nothing to give back');
});
