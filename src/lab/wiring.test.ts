// The lab's wiring file: what the lab records of its switch, cables and upstream, in the form
// the master accepts, written 0600 with the state and following it (a pulled cable, a new NIC).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveState, type LabState } from './state.js';
import { labWiring, wiringPath } from './wiring.js';
import { parseWiring } from '../topology/model.js';

test('the wiring names the switch, every cable with its port and state, and the upstream gateways; it passes the master\'s check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-wiring-'));
  try {
    const state: LabState = {
      version: 1, name: 'demo', prefix: 'xldemo-', dir, status: 'up', nics: 2, namespaces: [], rootLinks: [], processes: [],
      hosts: [
        { name: 'host1', ns: 'xldemo-host1', nics: [{ device: 'eth0', port: 'xldemo-h1e0', cable: 'up' }, { device: 'eth1', port: 'xldemo-h1e1', cable: 'down' }] },
        { name: 'host2', ns: 'xldemo-host2', nics: [{ device: 'eth0', port: 'xldemo-h2e0', cable: 'up' }] },
      ],
    };
    const expected = {
      version: 1, lab: 'demo', switch: { name: 'sw0' },
      upstream: { name: 'upstream', port: 'xldemo-up', gateways: [
        { vlan: 1, address: '192.0.2.1/24' }, { vlan: 10, address: '198.51.100.1/24' }, { vlan: 20, address: '203.0.113.1/24' }] },
      cables: [
        { host: 'host1', device: 'eth0', port: 'xldemo-h1e0', state: 'up' },
        { host: 'host1', device: 'eth1', port: 'xldemo-h1e1', state: 'down' },
        { host: 'host2', device: 'eth0', port: 'xldemo-h2e0', state: 'up' },
      ],
    };
    assert.deepEqual(labWiring(state), expected);
    saveState(state);
    assert.equal((statSync(wiringPath(dir)).mode & 0o777).toString(8), '600');
    assert.deepEqual(parseWiring(JSON.parse(readFileSync(wiringPath(dir), 'utf8'))), expected);
    // The file follows the state: a cable plugged back in.
    state.hosts[0]!.nics[1]!.cable = 'up';
    saveState(state);
    assert.equal(JSON.parse(readFileSync(wiringPath(dir), 'utf8')).cables[1].state, 'up');
    // A lab of no host yet (being built) has a wiring too.
    assert.deepEqual(labWiring({ ...state, hosts: [] }).cables, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
