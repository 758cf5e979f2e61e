// network rules over JSON-RPC: create (bridge naming and validation, MTU, mandatory
// other_config), destroy (its three refusals, detached VIFs go with it), attach, default
// locking mode, purposes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, net, vif, rec, token, events, hasEvent } from '../support/rule-kit.js';

type R = Record<string, unknown>;


const vm = (pool: TestPool) => pool.call<string>('VM.create', { name_label: 'vm' });
const NULL = 'OpaqueRef:NULL';

/** The master's scanned PIF of a NIC of the fake host, and its network. */
async function nicPif(pool: TestPool, device: string): Promise<{ pif: string; network: string }> {
  const all = await pool.call<Record<string, R>>('PIF.get_all_records');
  const found = Object.entries(all).find(([, p]) => p.host === pool.master.host && p.device === device && p.VLAN === -1);
  assert.ok(found, `the fake host has ${device}`);
  return { pif: found[0], network: found[1].network as string };
}
/** A PIF record on the network (database only, as pool join does; never plugged here). */
const dbPif = (pool: TestPool, netRef: string, device: string) => pool.call<string>('PIF.db_introduce',
  device, netRef, pool.master.host, '02:00:00:00:00:0' + device.slice(-1), 1500, -1, true, 'None', '', '', '', '', 'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});

describe('network rules', () => {
  let pool: TestPool;
  before(async () => { pool = await startTestPool({ fakeNics: 8 }); await ensureAgent(pool); });
  after(async () => { await pool.close(); });

  test('create picks xapi<N> bridges, skipping used names, and never reuses freed ones', async () => {
    const a = await net(pool);
    const ba = (await rec(pool, 'network', a)).bridge as string;
    assert.match(ba, /^xapi\d+$/);
    const n = Number(ba.slice(4));
    // Take the next name by pool_introduce (no checks): create must skip it.
    await pool.call('network.pool_introduce', 'taken', '', 1500, {}, `xapi${n + 1}`, true, []);
    const b = await net(pool);
    assert.equal((await rec(pool, 'network', b)).bridge, `xapi${n + 2}`);
    await pool.call('network.destroy', b);
    const c = await net(pool);
    assert.equal((await rec(pool, 'network', c)).bridge, `xapi${n + 3}`);
  });

  test('create: record defaults, MTU ≤ 0 becomes 1500, explicit values kept', async () => {
    const r = await rec(pool, 'network', await net(pool, { MTU: -3, name_description: 'd', tags: ['t'] }));
    assert.equal(r.MTU, 1500);
    assert.equal(r.name_description, 'd');
    assert.deepEqual(r.tags, ['t']);
    assert.deepEqual(r.purpose, []);
    assert.equal(r.default_locking_mode, 'unlocked');
    assert.equal(r.managed, true);
    assert.deepEqual(r.VIFs, []);
    assert.equal((await rec(pool, 'network', await net(pool, { MTU: 0 }))).MTU, 1500);
    assert.equal((await rec(pool, 'network', await net(pool, { MTU: 9000 }))).MTU, 9000);
    assert.equal((await rec(pool, 'network', await net(pool, { bridge: 'fifteen-chars-x' }))).bridge, 'fifteen-chars-x');
  });

  test('create refuses bad bridge names, used ones, and a struct without other_config', async () => {
    // 'brücke-brücke' is 13 characters but 15 bytes: fine; one more multi-byte character is 17 bytes
    await net(pool, { bridge: 'brücke-brücke' });
    for (const bad of ['sixteen-chars-xx', 'xenbr7', 'xapi42', 'vif3.0', 'tap3.0', 'eth9', 'brücke-brückeü']) {
      await assertApiError(net(pool, { bridge: bad }), 'INVALID_VALUE', ['bridge', bad]);
    }
    await net(pool, { bridge: 'dupbr' });
    await assertApiError(net(pool, { bridge: 'dupbr' }), 'BRIDGE_NAME_EXISTS', ['dupbr']);
    await assertApiError(pool.call('network.create', { name_label: 'x' }), 'INTERNAL_ERROR',
      ['Server_helpers.Dispatcher_FieldNotFound("other_config")']);
  });

  test('destroy refuses the host-internal management network', async () => {
    const [himn] = await pool.call<string[]>('network.get_by_name_label', 'Host internal management network');
    assert.ok(himn);
    await assertApiError(pool.call('network.destroy', himn), 'CANNOT_DESTROY_SYSTEM_NETWORK', [himn]);
  });

  test('destroy: NETWORK_CONTAINS_VIF names every attached VIF, before NETWORK_CONTAINS_PIF', async () => {
    const { pif: p, network: n } = await nicPif(pool, 'eth1');
    const running = await vm(pool);
    const v0 = await vif(pool, running, n, '0');
    const v1 = await vif(pool, running, n, '1');
    const halted = await vm(pool);
    const detached = await vif(pool, halted, n, '0');
    await pool.call('VM.start', running, false, false);
    const e = await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_VIF');
    assert.deepEqual([...e.params].sort(), [v0, v1].sort());
    assert.ok(!e.params.includes(detached));
    await pool.call('VM.hard_shutdown', running);
    await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_PIF', [p]);
  });

  test('destroy: NETWORK_CONTAINS_PIF carries one parameter per PIF', async () => {
    const n = await net(pool);
    const p1 = await dbPif(pool, n, 'eth5');
    const p2 = await dbPif(pool, n, 'eth6');
    const e = await assertApiError(pool.call('network.destroy', n), 'NETWORK_CONTAINS_PIF');
    assert.deepEqual([...e.params].sort(), [p1, p2].sort());
  });

  test('destroy deletes the detached VIFs and their metrics with the network', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    const metrics = (await pool.master.server.store.get('VIF', v)).metrics as string;
    assert.ok(pool.master.server.store.find('VIF_metrics', metrics));
    const tok = await token(pool);
    await pool.call('network.destroy', n);
    await assertApiError(pool.call('VIF.get_record', v), 'HANDLE_INVALID', ['VIF', v]);
    await assertApiError(pool.call('network.get_record', n), 'HANDLE_INVALID', ['network', n]);
    assert.equal(pool.master.server.store.find('VIF_metrics', metrics), undefined);
    assert.deepEqual((await rec(pool, 'VM', m)).VIFs, []);
    const evs = await events(pool, tok);
    assert.ok(hasEvent(evs, 'network', 'del', n));
    assert.ok(hasEvent(evs, 'vif', 'del', v));
    assert.ok(hasEvent(evs, 'vif_metrics', 'del', metrics));
    assert.ok(hasEvent(evs, 'vm', 'mod', m));
  });

  test('attach: unmanaged needs the bridge on the host; managed plugs its PIF there', async () => {
    await assertApiError(pool.call('network.attach', await net(pool, { managed: false, bridge: 'nosuchbr' }), pool.master.host),
      'BRIDGE_NOT_AVAILABLE', ['nosuchbr']);
    const reported = (pool.master.server.hub.lastReport(pool.master.host)?.bridges ?? []) as unknown as R[];
    const existing = reported.map((b) => String(b.name))[0];
    assert.ok(existing, 'the agent reports at least one bridge');
    // pool_introduce takes any name, so the unmanaged network can point at a bridge the host has.
    const un = await pool.call<string>('network.pool_introduce', 'un', '', 1500, {}, existing, false, []);
    await pool.call('network.attach', un, pool.master.host);
    // Internal network: nothing to plug, nothing to fail.
    await pool.call('network.attach', await net(pool), pool.master.host);
    const { pif: p, network: n } = await nicPif(pool, 'eth2');
    await pool.call('PIF.unplug', p);
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, false);
    await pool.call('network.attach', n, pool.master.host);
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, true);
    // A bond member cannot carry its network any more.
    const s1 = await nicPif(pool, 'eth3');
    const s2 = await nicPif(pool, 'eth4');
    await pool.call('Bond.create', await net(pool), [s1.pif, s2.pif], '', 'active-backup', {});
    await assertApiError(pool.call('network.attach', s1.network, pool.master.host), 'CANNOT_PLUG_BOND_SLAVE', [s1.pif]);
  });

  test('attach_for_vm plugs the PIFs of the VM\'s networks on the host; detach_for_vm leaves them', async () => {
    const { pif: p, network: n } = await nicPif(pool, 'eth6');
    await pool.call('PIF.unplug', p);
    const m = await vm(pool);
    await vif(pool, m, n);
    await vif(pool, m, await net(pool), '1');
    await assertApiError(pool.call('network.attach_for_vm', NULL, m), 'HANDLE_INVALID', ['host', NULL]);
    await assertApiError(pool.call('network.attach_for_vm', pool.master.host, NULL), 'HANDLE_INVALID', ['VM', NULL]);
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, false);
    await pool.call('network.attach_for_vm', pool.master.host, m);
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, true);
    await pool.call('network.detach_for_vm', pool.master.host, m);
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, true);
    // A VIF on an unmanaged network whose bridge the host lacks: as network.attach.
    const other = await vm(pool);
    await vif(pool, other, await net(pool, { managed: false, bridge: 'nosuchbr2' }));
    await assertApiError(pool.call('network.attach_for_vm', pool.master.host, other), 'BRIDGE_NOT_AVAILABLE', ['nosuchbr2']);
  });

  test('set_MTU reaches an attached PIF at its next plug, as in xapi', async () => {
    const { pif: p, network: n } = await nicPif(pool, 'eth7');
    const { hub } = pool.master.server;
    const bridge = (await rec(pool, 'network', n)).bridge as string;
    const mtuOnHost = async () => (await pool.fakeHost.observe()).bridges.find((x) => x.name === bridge)?.mtu;
    assert.equal((await rec(pool, 'PIF', p)).currently_attached, true);
    assert.equal(await mtuOnHost(), 1500);
    await pool.call('network.set_MTU', n, 9000);
    await hub.wait(pool.master.host);
    assert.equal(await mtuOnHost(), 1500, 'the attached PIF keeps the MTU of its plug');
    assert.equal((await rec(pool, 'PIF', p)).MTU, 1500);
    await pool.call('PIF.unplug', p);
    await pool.call('PIF.plug', p);
    assert.equal(await mtuOnHost(), 9000, 'plugged again: the network\'s MTU');
    assert.equal((await rec(pool, 'PIF', p)).MTU, 9000);
  });

  test('set_default_locking_mode refuses while a VIF is attached', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    await pool.call('VM.start', m, false, false);
    await assertApiError(pool.call('network.set_default_locking_mode', n, 'disabled'), 'VIF_IN_USE', [n, v]);
    assert.equal((await rec(pool, 'network', n)).default_locking_mode, 'unlocked');
    await pool.call('VM.hard_shutdown', m);
    await pool.call('network.set_default_locking_mode', n, 'disabled');
    assert.equal((await rec(pool, 'network', n)).default_locking_mode, 'disabled');
  });

  test('purposes: unmanaged refused, nbd and insecure_nbd exclusive pool-wide, idempotent', async () => {
    const un = await net(pool, { managed: false, bridge: 'unmgd0' });
    await assertApiError(pool.call('network.add_purpose', un, 'nbd'), 'NETWORK_UNMANAGED', [un]);
    const a = await net(pool);
    const b = await net(pool);
    await pool.call('network.add_purpose', a, 'nbd');
    await pool.call('network.add_purpose', a, 'nbd');
    assert.deepEqual((await rec(pool, 'network', a)).purpose, ['nbd']);
    await assertApiError(pool.call('network.add_purpose', b, 'insecure_nbd'), 'NETWORK_INCOMPATIBLE_PURPOSES', ['insecure_nbd', 'nbd']);
    await assertApiError(pool.call('network.add_purpose', a, 'insecure_nbd'), 'NETWORK_INCOMPATIBLE_PURPOSES', ['insecure_nbd', 'nbd']);
    await pool.call('network.add_purpose', b, 'nbd');
    await pool.call('network.remove_purpose', a, 'insecure_nbd');
    await pool.call('network.remove_purpose', a, 'nbd');
    await pool.call('network.remove_purpose', b, 'nbd');
    assert.deepEqual((await rec(pool, 'network', a)).purpose, []);
    await pool.call('network.add_purpose', b, 'insecure_nbd');
    assert.deepEqual((await rec(pool, 'network', b)).purpose, ['insecure_nbd']);
  });
});
