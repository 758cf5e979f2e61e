// PIF_metrics from the agent's NIC inventory, with known values end to end: the simulated
// host's NIC facts → the agent's report → the master's mapping → PIF_metrics. And a report is
// input like any other: one that is not a whole, well-typed report is refused and changes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent } from '../support/rule-kit.js';
import { nicMetrics } from '../../src/server/realise.js';
import { nic } from '../support/report.js';

let pool: TestPool;
before(async () => { pool = await startTestPool({ fakeNics: 2 }); await ensureAgent(pool); });
after(async () => { await pool.close(); });

const metricsOf = async (device: string) => {
  const pifs = await pool.call<Record<string, { host: string; device: string; metrics: string }>>('PIF.get_all_records');
  const pif = Object.values(pifs).find((p) => p.host === pool.master.host && p.device === device)!;
  const m = await pool.call<Record<string, unknown>>('PIF_metrics.get_record', pif.metrics);
  return { carrier: m.carrier, speed: m.speed, duplex: m.duplex, vendor_id: m.vendor_id, vendor_name: m.vendor_name,
    device_id: m.device_id, device_name: m.device_name, pci_bus_path: m.pci_bus_path };
};

/** Waits (bounded) until the NIC's metrics are `want`, then asserts them. */
async function expectMetrics(device: string, want: Record<string, unknown>): Promise<void> {
  for (let i = 0; i < 100 && JSON.stringify(await metricsOf(device)) !== JSON.stringify(want); i++) await sleep(20);
  assert.deepEqual(await metricsOf(device), want, device);
}

test('each NIC fact reaches PIF_metrics with its value: carrier, speed, duplex (a bool: full), ids, PCI path', async () => {
  const fast = { carrier: true, speed: 10000, duplex: true, vendor_id: '1af4', vendor_name: 'xcpnet', device_id: '0001', device_name: 'fake NIC' };
  await expectMetrics('eth0', { ...fast, pci_bus_path: '0000:00:03.0' });
  await expectMetrics('eth1', { ...fast, pci_bus_path: '0000:00:04.0' });
  // A cable pulled on a 100 Mbit/s half-duplex link: the agent reports it without being asked.
  pool.fakeHost.setNic('eth1', { carrier: false, speed: 100, duplex: 'half', vendor_id: '8086', device_name: 'e100' });
  await expectMetrics('eth1', { ...fast, carrier: false, speed: 100, duplex: false, vendor_id: '8086', device_name: 'e100', pci_bus_path: '0000:00:04.0' });
  pool.fakeHost.setNic('eth1', { carrier: true, duplex: 'unknown' });
  await expectMetrics('eth1', { ...fast, speed: 100, duplex: false, vendor_id: '8086', device_name: 'e100', pci_bus_path: '0000:00:04.0' });
  await expectMetrics('eth0', { ...fast, pci_bus_path: '0000:00:03.0' });
});

test('nicMetrics: duplex is true only for a full-duplex link', () => {
  const base = nic({ device: 'eth0', MAC: '02:00:00:00:00:01', MTU: 1500 });
  assert.equal(nicMetrics({ ...base, duplex: 'full' }).duplex, true);
  assert.equal(nicMetrics({ ...base, duplex: 'half' }).duplex, false);
  assert.equal(nicMetrics({ ...base, duplex: 'unknown' }).duplex, false);
});

test('a report that is not a whole, well-typed report is INVALID_VALUE and changes nothing', async () => {
  const host = pool.master.host;
  const gen = pool.master.server.store.generation;
  const before = JSON.stringify(pool.master.server.hub.lastReport(host));
  const whole = { backend: 'fake', nics: [], errors: {}, PIFs: {}, Bonds: {}, bridges: [] };
  const bad: [unknown, string][] = [
    [{}, 'state.backend'],
    [{ ...whole, backend: 'xen' }, 'state.backend'],
    [{ ...whole, nics: [{ ...nic({ device: 'eth0', MAC: '02:00:00:00:00:01', MTU: 1500 }), duplex: true }] }, 'state.nics[0].duplex'],
    [{ ...whole, nics: [{ device: 'eth0', MAC: '02:00:00:00:00:01', MTU: 1500 }] }, 'state.nics[0].carrier'],
    [{ ...whole, PIFs: { 'OpaqueRef:x': { MTU: -1 } } }, 'state.PIFs.OpaqueRef:x.MTU'],
    [{ ...whole, Bonds: { 'OpaqueRef:x': { links_up: '2' } } }, 'state.Bonds.OpaqueRef:x.links_up'],
    [{ ...whole, bridges: 'xenbr0' }, 'state.bridges'],
    [{ ...whole, errors: { 'OpaqueRef:x': 'y'.repeat(5000) } }, 'state.errors.OpaqueRef:x'],
  ];
  for (const [state, field] of bad) {
    const e = await assertApiError(pool.call('host.report_network_state', host, gen + 1000, state), 'INVALID_VALUE');
    assert.equal(e.params[0], field, JSON.stringify(state).slice(0, 100));
  }
  assert.equal(JSON.stringify(pool.master.server.hub.lastReport(host)), before, 'the last good report is kept');
});
