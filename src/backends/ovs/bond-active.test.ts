// A bond's active member as the agent observes it on Open vSwitch: the Port's bond_active_slave
// is a MAC; the member is the interface whose kernel link has that MAC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostState } from './driver.js';
import type { PlainValue } from '../ovsdb/index.js';
import type { ObsLink } from './model.js';
import { observeOvs } from './observe.js';

test('bond_active_slave names the member whose MAC it is; none when OVS names none or a MAC of no member', () => {
  const tables = (active: PlainValue) => ({
    Bridge: [{ _uuid: 'br', name: 'xapi1', ports: ['pb'] }],
    Port: [{ _uuid: 'pb', name: 'bond0', interfaces: ['i2', 'i3'], bond_mode: 'active-backup', bond_active_slave: active }],
    Interface: [{ _uuid: 'i2', name: 'eth2', type: '', link_state: 'up' }, { _uuid: 'i3', name: 'eth3', type: '', link_state: 'up' }],
  });
  const link = (name: string, mac: string): [string, ObsLink] => [name, { name, up: true, mtu: 1500, mac, addrs: [] }];
  const links = new Map([link('eth2', '02:00:00:00:00:e2'), link('eth3', '02:00:00:00:00:e3'), link('eth4', '02:00:00:00:00:e4')]);
  const uplink = (active: PlainValue) =>
    hostState('h', { ...observeOvs(tables(active)), links }).bridges.find((b) => b.name === 'xapi1')?.uplink;
  assert.deepEqual(uplink('02:00:00:00:00:E3'), { kind: 'bond', device: 'bond0', mode: 'active-backup', members: [{ name: 'eth2', up: true }, { name: 'eth3', up: true }], active: 'eth3' });
  assert.equal(uplink('02:00:00:00:00:e2')?.active, 'eth2');
  // An empty optional column (no member active), and a MAC that is no member's.
  assert.equal(uplink(null)?.active, undefined);
  assert.equal(uplink('02:00:00:00:00:e4')?.active, undefined);
});
