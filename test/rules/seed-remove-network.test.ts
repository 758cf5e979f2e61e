// The seed's "How to remove a network?": network-destroy needs the PIFs forgotten, the VIFs
// detached and the VLANs removed (pif-forget, vif-unplug, vlan-destroy). Driven over JSON-RPC
// on a two-host pool: xenbr1 with the physical PIF of the master's eth1, a VLAN PIF on the second host, and a VIF
// of a VM running on the master, all on the one network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { report as fullReport } from '../support/report.js';

type R = Record<string, unknown>;
const NULL = 'OpaqueRef:NULL';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in agent for the second host: realises every commit. */
function stubAgent(pool: TestPool, host: string): void {
  const { hub, store } = pool.master.server;
  const report = () => { try { hub.report(host, store.generation, fullReport()); } catch { /* closed */ } };
  store.onCommit(() => setImmediate(report));
  report();
}

const rec = (pool: TestPool, cls: string, ref: string) => pool.call<R>(`${cls}.get_record`, ref);
const physPif = (pool: TestPool, netRef: string, host: string, device: string, mac: string) => pool.call<string>('PIF.db_introduce',
  device, netRef, host, mac, 1500, -1, true, 'None', '', '', '', '', NULL, NULL, false, {});

describe('seed: how to remove a network', () => {
  let pool: TestPool;
  let h2: string;
  before(async () => {
    pool = await startTestPool();
    const { hub } = pool.master.server;
    for (let i = 0; i < 100 && !hub.hasAgent(pool.master.host); i++) await sleep(50);
    assert.ok(hub.hasAgent(pool.master.host), 'the in-process agent reports');
    h2 = pool.master.server.store.transact((tx) => createHost(tx, 'h2', '127.0.0.2'));
    stubAgent(pool, h2);
  });
  after(async () => { await pool.close(); });

  test('destroy refuses while a VIF is attached, a PIF exists or a VLAN sits on it; then succeeds', async () => {
    const master = pool.master.host;
    // The external network of the master's eth1, with its physical PIF (as a fresh host has).
    const all = await pool.call<Record<string, R>>('PIF.get_all_records');
    const [pif, eth1] = Object.entries(all).find(([, p]) => p.host === master && p.device === 'eth1' && p.VLAN === -1)!;
    const n = eth1.network as string;
    assert.equal((await rec(pool, 'network', n)).bridge, 'xenbr1');
    // A VLAN on the second host whose VLAN PIF is on this network.
    const parent = await physPif(pool, await pool.call<string>('network.create', { name_label: 'h2-phys', other_config: {} }),
      h2, 'eth41', '02:00:00:00:04:01');
    const vlan = await pool.call<string>('VLAN.create', parent, 42, n);
    const vlanPif = (await rec(pool, 'VLAN', vlan)).untagged_PIF as string;
    assert.equal((await rec(pool, 'PIF', vlanPif)).network, n);
    // A running VM with a VIF on it, plus a halted one whose VIF is detached.
    const vm = await pool.call<string>('VM.create', { name_label: 'guest' });
    const vifArgs = (VM: string) => ({ device: '0', network: n, VM, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
    const vif = await pool.call<string>('VIF.create', vifArgs(vm));
    const idle = await pool.call<string>('VM.create', { name_label: 'idle' });
    const idleVif = await pool.call<string>('VIF.create', vifArgs(idle));
    await pool.call('VM.start_on', vm, master, false, false);
    assert.equal((await rec(pool, 'VIF', vif)).currently_attached, true);

    await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_VIF', [vif]);
    await pool.call('VIF.unplug', vif); // xe vif-unplug
    const e = await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_PIF');
    assert.deepEqual([...e.params].sort(), [pif, vlanPif].sort());
    // The VLAN PIF is not forgotten but destroyed with its VLAN.
    await assertApiError(pool.call('PIF.forget', vlanPif), 'PIF_VLAN_STILL_EXISTS', [vlanPif]);
    await pool.call('PIF.forget', pif); // xe pif-forget
    await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_PIF', [vlanPif]);
    await pool.call('VLAN.destroy', vlan); // xe vlan-destroy
    await pool.call('network.destroy', n); // xe network-destroy

    await assertApiError(rec(pool, 'network', n), 'HANDLE_INVALID', ['network', n]);
    for (const v of [vif, idleVif]) await assertApiError(rec(pool, 'VIF', v), 'HANDLE_INVALID', ['VIF', v]);
    assert.equal((await rec(pool, 'VM', vm)).power_state, 'Running', 'the guest keeps running without the VIF');
    assert.deepEqual((await rec(pool, 'VM', vm)).VIFs, []);
    assert.equal((await rec(pool, 'PIF', parent)).host, h2, 'the VLAN\'s parent PIF stays');
    await pool.call('VM.hard_shutdown', vm);
  });
});
