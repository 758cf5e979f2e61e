// VM rules over JSON-RPC: create, start/start_on with host choice by network usability,
// shutdowns, destroy, free VIF device slots.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, net, vif, rec, token, events, hasEvent } from '../support/rule-kit.js';
import { report as fullReport } from '../support/report.js';

type R = Record<string, unknown>;
const NULL = 'OpaqueRef:NULL';

/** A stand-in agent for a second host: realises every commit, failing live VIFs whose bridge name no backend accepts. */
function stubAgent(pool: TestPool, host: string): void {
  const { hub, store } = pool.master.server;
  const errors = () => {
    const out: Record<string, string> = {};
    for (const [ref, v] of store.all('VIF')) {
      const bridge = String(store.find('network', v.network as string)?.bridge);
      const here = store.find('VM', v.VM as string)?.resident_on === host;
      if (here && v.currently_attached === true && !/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) out[ref] = `invalid bridge name '${bridge}'`;
    }
    return out;
  };
  const report = () => { try { hub.report(host, store.generation, fullReport({ errors: errors() })); } catch { /* closed */ } };
  store.onCommit(() => setImmediate(report));
  report();
}


const vm = (pool: TestPool, extra: R = {}) => pool.call<string>('VM.create', { name_label: 'vm', ...extra });
let macCounter = 0;
const physPif = (pool: TestPool, netRef: string, host: string, device: string) => pool.call<string>('PIF.db_introduce',
  device, netRef, host, `02:00:00:00:02:${(++macCounter).toString(16).padStart(2, '0')}`, 1500, -1, true, 'None', '', '', '', '',
  NULL, NULL, false, {});
/** The master's scanned PIF of a NIC of the fake host, and its network. */
async function nicPif(pool: TestPool, device: string): Promise<{ pif: string; network: string }> {
  const all = await pool.call<Record<string, R>>('PIF.get_all_records');
  const found = Object.entries(all).find(([, p]) => p.host === pool.master.host && p.device === device && p.VLAN === -1);
  assert.ok(found, `the fake host has ${device}`);
  return { pif: found[0], network: found[1].network as string };
}
const start = (pool: TestPool, m: string) => pool.call('VM.start', m, false, false);
const startOn = (pool: TestPool, m: string, h: string) => pool.call('VM.start_on', m, h, false, false);

describe('VM rules', () => {
  let pool: TestPool;
  let master: string;
  let h2: string;
  before(async () => {
    pool = await startTestPool({ fakeNics: 8 });
    await ensureAgent(pool);
    master = pool.master.host;
    // A second pool member (as a join would make it), realised by a stub agent.
    h2 = pool.master.server.store.transact((tx) => createHost(tx, 'h2', '127.0.0.2'));
    stubAgent(pool, h2);
  });
  after(async () => { await pool.close(); });

  test('create: minimal halted record with a mac_seed; a given seed is kept', async () => {
    const m = await vm(pool, { power_state: 'Running', other_config: { k: 'v' } });
    const r = await rec(pool, 'VM', m);
    assert.equal(r.power_state, 'Halted');
    assert.equal(r.domid, -1);
    assert.equal(r.resident_on, NULL);
    assert.deepEqual(r.VIFs, []);
    assert.equal((r.other_config as R).k, 'v');
    assert.match(String((r.other_config as R).mac_seed), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(r.allowed_operations, ['snapshot', 'clone', 'copy', 'start', 'start_on', 'migrate_send', 'destroy']);
    const other = await rec(pool, 'VM', await vm(pool));
    assert.notEqual((other.other_config as R).mac_seed, (r.other_config as R).mac_seed);
    assert.equal(((await rec(pool, 'VM', await vm(pool, { other_config: { mac_seed: 's1' } }))).other_config as R).mac_seed, 's1');
  });

  test('start: running on the master with domids from 1, VIFs attached, PIFs plugged on demand, events', async () => {
    const { pif, network: n } = await nicPif(pool, 'eth1');
    await pool.call('PIF.unplug', pif);
    const a = await vm(pool);
    const va = await vif(pool, a, n, '0');
    const vb = await vif(pool, a, await net(pool), '1');
    const tok = await token(pool);
    await start(pool, a);
    const r = await rec(pool, 'VM', a);
    assert.deepEqual([r.power_state, r.resident_on, r.domid], ['Running', master, 1]);
    assert.deepEqual(r.allowed_operations, ['snapshot', 'pause', 'clean_shutdown', 'clean_reboot', 'hard_shutdown', 'hard_reboot', 'suspend', 'pool_migrate', 'migrate_send']);
    for (const v of [va, vb]) {
      const x = await rec(pool, 'VIF', v);
      assert.equal(x.currently_attached, true);
      assert.deepEqual(x.allowed_operations, ['attach', 'unplug']);
    }
    assert.equal((await rec(pool, 'PIF', pif)).currently_attached, true);
    assert.ok(((await rec(pool, 'host', master)).resident_VMs as string[]).includes(a));
    const evs = await events(pool, tok);
    assert.ok(hasEvent(evs, 'vm', 'mod', a));
    assert.ok(hasEvent(evs, 'vif', 'mod', va));
    assert.ok(hasEvent(evs, 'host', 'mod', master));
    await assertApiError(start(pool, a), 'VM_BAD_POWER_STATE', [a, 'halted', 'running']);
    await assertApiError(startOn(pool, a, master), 'VM_BAD_POWER_STATE', [a, 'halted', 'running']);
    const b = await vm(pool);
    await startOn(pool, b, master);
    assert.equal((await rec(pool, 'VM', b)).domid, 2);
    await pool.call('VM.hard_shutdown', a);
    const c = await vm(pool);
    await start(pool, c);
    assert.equal((await rec(pool, 'VM', c)).domid, 1, 'the freed domid is the smallest free one');
    await pool.call('VM.hard_shutdown', b);
    await pool.call('VM.hard_shutdown', c);
  });

  test('start chooses a host that has the networks; start_on elsewhere is VM_REQUIRES_NETWORK', async () => {
    const onH2 = await net(pool);
    const p2 = await physPif(pool, onH2, h2, 'eth31');
    const m = await vm(pool);
    await vif(pool, m, onH2);
    await assertApiError(startOn(pool, m, master), 'VM_REQUIRES_NETWORK', [m, onH2]);
    assert.equal((await rec(pool, 'VM', m)).power_state, 'Halted');
    await start(pool, m);
    const r = await rec(pool, 'VM', m);
    assert.deepEqual([r.resident_on, r.domid], [h2, 1]);
    assert.equal((await rec(pool, 'PIF', p2)).currently_attached, true);
    await pool.call('VM.hard_shutdown', m);
    // No host has both networks: the first candidate (the master) names what it lacks.
    const { network: onMaster } = await nicPif(pool, 'eth2');
    await vif(pool, m, onMaster, '1');
    await assertApiError(start(pool, m), 'VM_REQUIRES_NETWORK', [m, onH2]);
    // With affinity to h2, h2 is tried first.
    await pool.call('VM.set_affinity', m, h2);
    await assertApiError(start(pool, m), 'VM_REQUIRES_NETWORK', [m, onMaster]);
  });

  test('an internal network is pinned to the host of its running VMs unless shared or unmanaged', async () => {
    const internal = await net(pool);
    const a = await vm(pool);
    const b = await vm(pool);
    await vif(pool, a, internal);
    await vif(pool, b, internal);
    await startOn(pool, a, h2);
    await assertApiError(startOn(pool, b, master), 'VM_REQUIRES_NETWORK', [b, internal]);
    await start(pool, b);
    assert.equal((await rec(pool, 'VM', b)).resident_on, h2);
    await pool.call('VM.hard_shutdown', b);
    await pool.call('network.add_to_other_config', internal, 'assume_network_is_shared', 'true');
    await startOn(pool, b, master);
    assert.equal((await rec(pool, 'VM', b)).resident_on, master);
    await pool.call('VM.hard_shutdown', b);
    await pool.call('network.remove_from_other_config', internal, 'assume_network_is_shared');
    await assertApiError(startOn(pool, b, master), 'VM_REQUIRES_NETWORK', [b, internal]);
    await pool.call('VM.hard_shutdown', a);
    await startOn(pool, b, master); // no longer pinned
    await pool.call('VM.hard_shutdown', b);

    const unmanaged = await pool.call<string>('network.pool_introduce', 'u', '', 1500, {}, 'unmgd1', false, []);
    const c = await vm(pool);
    const d = await vm(pool);
    await vif(pool, c, unmanaged);
    await vif(pool, d, unmanaged);
    await startOn(pool, c, h2);
    await startOn(pool, d, master);
    await pool.call('VM.hard_shutdown', c);
    await pool.call('VM.hard_shutdown', d);
  });

  test('a network whose PIF on the host is a bond member: HOST_CANNOT_ATTACH_NETWORK', async () => {
    const { pif: p1, network: n1 } = await nicPif(pool, 'eth3');
    const { pif: p2 } = await nicPif(pool, 'eth4');
    await pool.call('Bond.create', await net(pool), [p1, p2], '', 'active-backup', {});
    const m = await vm(pool);
    await vif(pool, m, n1);
    await assertApiError(startOn(pool, m, master), 'HOST_CANNOT_ATTACH_NETWORK', [master, n1]);
    await assertApiError(start(pool, m), 'HOST_CANNOT_ATTACH_NETWORK', [master, n1]);
    assert.equal((await rec(pool, 'VM', m)).power_state, 'Halted');
  });

  test('a start the host cannot realise is rolled back', async () => {
    // A record no API call can write (the bridge name is checked everywhere): the agent refuses it.
    const bad = await net(pool);
    pool.master.server.store.transact((tx) => tx.update('network', bad, { bridge: 'bad name!' }));
    const m = await vm(pool);
    const v = await vif(pool, m, bad);
    const e = await assertApiError(start(pool, m), 'INTERNAL_ERROR');
    assert.match(e.params[0] ?? '', /bad name!/);
    const r = await rec(pool, 'VM', m);
    assert.deepEqual([r.power_state, r.resident_on, r.domid], ['Halted', NULL, -1]);
    assert.equal((await rec(pool, 'VIF', v)).currently_attached, false);
  });

  test('shutdowns: power-state errors, VIFs unplugged first, then halted', async () => {
    const m = await vm(pool);
    await assertApiError(pool.call('VM.clean_shutdown', m), 'VM_BAD_POWER_STATE', [m, 'running', 'halted']);
    await assertApiError(pool.call('VM.hard_shutdown', m), 'VM_BAD_POWER_STATE', [m, 'paused, suspended, running', 'halted']);
    const n = await net(pool);
    const v = await vif(pool, m, n);
    for (const op of ['VM.clean_shutdown', 'VM.hard_shutdown']) {
      await start(pool, m);
      const { store } = pool.master.server;
      const states: string[] = [];
      store.onCommit(() => {
        const r = store.find('VM', m);
        const x = store.find('VIF', v);
        if (r && x) states.push(`${r.power_state}/${Object.values(r.current_operations as R).join()}/${x.currently_attached}`);
      });
      const tok = await token(pool);
      await pool.call(op, m);
      const shutdownOp = op.slice(3);
      assert.ok(states.includes(`Running/${shutdownOp}/false`), `VIFs were unplugged before the halt (${states.join(' ')})`);
      const r = await rec(pool, 'VM', m);
      assert.deepEqual([r.power_state, r.resident_on, r.domid, r.current_operations], ['Halted', NULL, -1, {}]);
      const x = await rec(pool, 'VIF', v);
      assert.equal(x.currently_attached, false);
      assert.deepEqual(x.allowed_operations, ['attach']);
      assert.ok(!((await rec(pool, 'host', master)).resident_VMs as string[]).includes(m));
      const evs = await events(pool, tok);
      assert.ok(hasEvent(evs, 'vm', 'mod', m) && hasEvent(evs, 'vif', 'mod', v) && hasEvent(evs, 'host', 'mod', master));
    }
  });

  test('destroy: only halted; VIFs and their metrics go with the VM', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v0 = await vif(pool, m, n, '0');
    const v1 = await vif(pool, m, n, '1');
    const { store } = pool.master.server;
    const metrics = [v0, v1].map((v) => store.get('VIF', v).metrics as string);
    await start(pool, m);
    await assertApiError(pool.call('VM.destroy', m), 'VM_BAD_POWER_STATE', [m, 'halted, suspended', 'running']);
    await pool.call('VM.clean_shutdown', m);
    const tok = await token(pool);
    await pool.call('VM.destroy', m);
    await assertApiError(rec(pool, 'VM', m), 'HANDLE_INVALID', ['VM', m]);
    for (const v of [v0, v1]) await assertApiError(rec(pool, 'VIF', v), 'HANDLE_INVALID', ['VIF', v]);
    for (const x of metrics) assert.equal(store.find('VIF_metrics', x), undefined);
    assert.deepEqual((await rec(pool, 'network', n)).VIFs, []);
    const evs = await events(pool, tok);
    assert.ok(hasEvent(evs, 'vm', 'del', m) && hasEvent(evs, 'vif', 'del', v0) && hasEvent(evs, 'network', 'mod', n));
  });

  test('get_allowed_VIF_devices: 0..15 minus the devices in use, compared as numbers', async () => {
    const m = await vm(pool);
    const all = Array.from({ length: 16 }, (_, i) => String(i));
    assert.deepEqual(await pool.call('VM.get_allowed_VIF_devices', m), all);
    const n = await net(pool);
    await vif(pool, m, n, '0');
    await vif(pool, m, n, '03');
    await vif(pool, m, n, '20');
    assert.deepEqual(await pool.call('VM.get_allowed_VIF_devices', m), all.filter((d) => d !== '0' && d !== '3'));
  });
});
