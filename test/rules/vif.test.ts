// VIF rules over JSON-RPC: create (members, device, MAC from the seed, trunks, duplicates),
// destroy, the allowed-operations table behind plug/unplug, move, locking, allowed
// addresses, guest IP configuration, trunks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createHost } from '../../src/server/boot.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';

type R = Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The master's in-process agent (fake backend) realises the calls that wait for the host. */
async function ensureAgent(pool: TestPool): Promise<void> {
  const { hub } = pool.master.server;
  for (let i = 0; i < 100 && !hub.hasAgent(pool.master.host); i++) await sleep(50);
  assert.ok(hub.hasAgent(pool.master.host), 'the in-process agent reports');
}

const net = (pool: TestPool, extra: R = {}) => pool.call<string>('network.create', { name_label: 'n', other_config: {}, ...extra });
const vm = (pool: TestPool, other_config: R = {}) => pool.call<string>('VM.create', { name_label: 'vm', other_config });
const vifArgs = (vmRef: string, netRef: string, extra: R = {}): R => ({
  device: '0', network: netRef, VM: vmRef, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {}, ...extra,
});
const vif = (pool: TestPool, vmRef: string, netRef: string, extra: R = {}) => pool.call<string>('VIF.create', vifArgs(vmRef, netRef, extra));
const rec = (pool: TestPool, cls: string, ref: string) => pool.call<R>(`${cls}.get_record`, ref);
const token = async (pool: TestPool) => (await pool.call<{ token: string }>('event.from', ['*'], '', 0)).token;
const events = async (pool: TestPool, tok: string) => (await pool.call<{ events: R[] }>('event.from', ['*'], tok, 0)).events;
const hasEvent = (evs: R[], cls: string, op: string, ref: string) => evs.some((e) => e.class === cls && e.operation === op && e.ref === ref);
/** The master's scanned PIF of a NIC of the fake host, and its network. */
async function nicPif(pool: TestPool, device: string): Promise<{ pif: string; network: string }> {
  const all = await pool.call<Record<string, R>>('PIF.get_all_records');
  const found = Object.entries(all).find(([, p]) => p.host === pool.master.host && p.device === device && p.VLAN === -1);
  assert.ok(found, `the fake host has ${device}`);
  return { pif: found[0], network: found[1].network as string };
}
let nextTag = 10;
/** A network carrying a VLAN PIF on the master (a fresh tag over eth1). */
async function vlanNetwork(pool: TestPool): Promise<string> {
  const n = await net(pool);
  await pool.call('VLAN.create', (await nicPif(pool, 'eth1')).pif, nextTag++, n);
  return n;
}
/** Writes fields straight into the store: for states no API call leaves behind long enough to observe. */
const poke = (pool: TestPool, cls: string, ref: string, patch: R) =>
  pool.master.server.store.transact((tx) => tx.update(cls, ref, patch as never));

/** §7.6, written independently of the server's code. */
function expectedMac(seed: string, device: number): string {
  let h = createHash('md5').update(seed, 'utf8').digest();
  for (let i = 0; i < device * 2; i++) h = createHash('md5').update(h).digest();
  const h2 = createHash('md5').update(h).digest();
  const b = Buffer.from([h[0]!, h[1]!, h[2]!, h[3]!, h2[1]!, h2[2]!]);
  b[0] = (b[0]! & ~1) | 2;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

describe('VIF rules', () => {
  let pool: TestPool;
  before(async () => { pool = await startTestPool({ fakeNics: 8 }); await ensureAgent(pool); });
  after(async () => { await pool.close(); });

  test('create: mandatory members in declaration order give INTERNAL_ERROR', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const full = vifArgs(m, n);
    for (const k of ['device', 'network', 'VM', 'MAC', 'MTU', 'other_config', 'qos_algorithm_type', 'qos_algorithm_params']) {
      const args = { ...full };
      delete args[k];
      await assertApiError(pool.call('VIF.create', args), 'INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${k}")`]);
    }
    await assertApiError(pool.call('VIF.create', {}), 'INTERNAL_ERROR', ['Server_helpers.Dispatcher_FieldNotFound("device")']);
  });

  test('create: device must be an unsigned decimal, checked before the MAC', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    for (const d of ['x1', '-1', '', '1.5']) await assertApiError(vif(pool, m, n, { device: d, MAC: 'bad' }), 'INVALID_DEVICE', [d]);
  });

  test('create: MAC derived from mac_seed (§7.6), deterministic per device; given MACs kept verbatim', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const seed = ((await rec(pool, 'VM', m)).other_config as R).mac_seed as string;
    assert.match(seed, /^[0-9a-f-]{36}$/);
    const v0 = await vif(pool, m, n);
    const r0 = await rec(pool, 'VIF', v0);
    assert.equal(r0.MAC, expectedMac(seed, 0));
    assert.equal(r0.MAC_autogenerated, true);
    const v3 = await vif(pool, m, n, { device: '3' });
    assert.equal((await rec(pool, 'VIF', v3)).MAC, expectedMac(seed, 3));
    assert.notEqual(expectedMac(seed, 3), expectedMac(seed, 0));
    await pool.call('VIF.destroy', v0);
    assert.equal((await rec(pool, 'VIF', await vif(pool, m, n))).MAC, expectedMac(seed, 0));
    const given = await rec(pool, 'VIF', await vif(pool, m, n, { device: '4', MAC: 'AA:bb:0C:00:11:22' }));
    assert.equal(given.MAC, 'AA:bb:0C:00:11:22');
    assert.equal(given.MAC_autogenerated, false);
    // A chosen seed gives the same MAC as the independent computation.
    const seeded = await vm(pool, { mac_seed: 'seed-for-test' });
    assert.equal(((await rec(pool, 'VM', seeded)).other_config as R).mac_seed, 'seed-for-test');
    assert.equal((await rec(pool, 'VIF', await vif(pool, seeded, n, { device: '7' }))).MAC, expectedMac('seed-for-test', 7));
  });

  test('create: MAC_INVALID for a malformed MAC, and for "" without a mac_seed', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    await assertApiError(vif(pool, m, n, { MAC: '00:11:22:33:44' }), 'MAC_INVALID', ['00:11:22:33:44']);
    await assertApiError(vif(pool, m, n, { MAC: 'zz:11:22:33:44:55' }), 'MAC_INVALID', ['zz:11:22:33:44:55']);
    await pool.call('VM.remove_from_other_config', m, 'mac_seed');
    await assertApiError(vif(pool, m, n), 'MAC_INVALID', ['']);
  });

  test('create: trunks on a VLAN network refused after the MAC check, before duplicates', async () => {
    const vn = await vlanNetwork(pool);
    const m = await vm(pool);
    await vif(pool, m, vn, { device: '0' });
    await assertApiError(vif(pool, m, vn, { device: '0', MAC: 'bad', trunks: [5] }), 'MAC_INVALID', ['bad']);
    await assertApiError(vif(pool, m, vn, { device: '0', trunks: [5] }), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [vn]);
    const plain = await net(pool);
    assert.deepEqual((await rec(pool, 'VIF', await vif(pool, m, plain, { device: '1', trunks: [5, 6] }))).trunks, [5, 6]);
  });

  test('create: device numbers collide numerically', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    await vif(pool, m, n, { device: '1' });
    await assertApiError(vif(pool, m, n, { device: '01' }), 'DEVICE_ALREADY_EXISTS', ['01']);
    await assertApiError(vif(pool, m, n, { device: '1' }), 'DEVICE_ALREADY_EXISTS', ['1']);
    await vif(pool, m, n, { device: '16' }); // the 0..15 range is not enforced on create
  });

  test('create: record, metrics row, forced detachment, allowed operations, events', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const tok = await token(pool);
    const v = await vif(pool, m, n, { currently_attached: true, locking_mode: 'locked', ipv4_allowed: ['10.0.0.1'], MTU: 9000 });
    const r = await rec(pool, 'VIF', v);
    assert.equal(r.currently_attached, false);
    assert.equal(r.status_code, 0);
    assert.equal(r.status_detail, '');
    assert.equal(r.locking_mode, 'locked');
    assert.deepEqual(r.ipv4_allowed, ['10.0.0.1']);
    assert.equal(r.MTU, 9000);
    assert.deepEqual(r.qos_supported_algorithms, []);
    assert.deepEqual(r.allowed_operations, ['attach']);
    assert.ok(pool.master.server.store.find('VIF_metrics', r.metrics as string), 'a VIF_metrics row exists');
    await assertApiError(pool.call('VIF.get_metrics', v), 'MESSAGE_REMOVED', []);
    assert.deepEqual((await rec(pool, 'network', n)).VIFs, [v]);
    assert.deepEqual((await rec(pool, 'VM', m)).VIFs, [v]);
    const evs = await events(pool, tok);
    assert.ok(hasEvent(evs, 'vif', 'add', v));
    assert.ok(hasEvent(evs, 'network', 'mod', n));
    assert.ok(hasEvent(evs, 'vm', 'mod', m));
  });

  test('plug/unplug on a halted VM: VM_BAD_POWER_STATE; a running operation wins over it', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    for (const call of ['VIF.plug', 'VIF.unplug', 'VIF.unplug_force']) {
      await assertApiError(pool.call(call, v), 'VM_BAD_POWER_STATE', [m, 'running', 'halted']);
    }
    poke(pool, 'VIF', v, { current_operations: { 'OpaqueRef:t1': 'plug' } });
    await assertApiError(pool.call('VIF.plug', v), 'OTHER_OPERATION_IN_PROGRESS', ['VIF', v, '{plug}', '{OpaqueRef:t1}']);
    await assertApiError(pool.call('VIF.unplug', v), 'OTHER_OPERATION_IN_PROGRESS', ['VIF', v, '{plug}', '{OpaqueRef:t1}']);
  });

  test('hot-plug on a running VM: attach state, table errors, allowed operations, on-demand PIF plug', async () => {
    const { pif, network: n } = await nicPif(pool, 'eth2');
    await pool.call('PIF.unplug', pif);
    const m = await vm(pool);
    await pool.call('VM.start', m, false, false);
    const v = await vif(pool, m, n);
    assert.equal((await rec(pool, 'VIF', v)).currently_attached, false);
    assert.deepEqual((await rec(pool, 'VIF', v)).allowed_operations, ['attach', 'plug']);
    await assertApiError(pool.call('VIF.unplug', v), 'DEVICE_ALREADY_DETACHED', [v]);
    assert.equal((await rec(pool, 'PIF', pif)).currently_attached, false);
    // Watch every committed state of the VIF: the plug shows in current_operations while it runs.
    const seen: R[] = [];
    const { store } = pool.master.server;
    store.onCommit(() => { const x = store.find('VIF', v); if (x) seen.push(x.current_operations as R); });
    await pool.call('VIF.plug', v);
    assert.ok(seen.some((ops) => Object.values(ops).includes('plug')), 'plug was in current_operations');
    let r = await rec(pool, 'VIF', v);
    assert.equal(r.currently_attached, true);
    assert.deepEqual(r.current_operations, {});
    assert.deepEqual(r.allowed_operations, ['attach', 'unplug']);
    assert.equal((await rec(pool, 'PIF', pif)).currently_attached, true, 'the network was attached on the host');
    await assertApiError(pool.call('VIF.plug', v), 'DEVICE_ALREADY_ATTACHED', [v]);
    await assertApiError(pool.call('VIF.destroy', v), 'OPERATION_NOT_ALLOWED', ['VIF currently attached to a running VM']);
    await pool.call('VIF.unplug', v);
    r = await rec(pool, 'VIF', v);
    assert.equal(r.currently_attached, false);
    assert.deepEqual(r.allowed_operations, ['attach', 'plug']);
    await assertApiError(pool.call('VIF.unplug_force', v), 'DEVICE_ALREADY_DETACHED', [v]);
    await pool.call('VIF.plug', v);
    await pool.call('VIF.unplug_force', v);
    assert.equal((await rec(pool, 'VIF', v)).currently_attached, false);
    const metrics = (await pool.master.server.store.get('VIF', v)).metrics as string;
    await pool.call('VIF.destroy', v);
    assert.equal(store.find('VIF_metrics', metrics), undefined);
    await pool.call('VM.hard_shutdown', m);
  });

  test('Async plug keys current_operations by its task', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    await pool.call('VM.start', m, false, false);
    const v = await vif(pool, m, n);
    const { store } = pool.master.server;
    const keys = new Set<string>();
    store.onCommit(() => { for (const k of Object.keys((store.find('VIF', v)?.current_operations ?? {}) as R)) keys.add(k); });
    const task = await pool.call<string>('Async.VIF.plug', v);
    for (let i = 0; i < 100 && (await rec(pool, 'task', task)).status === 'pending'; i++) await sleep(20);
    assert.equal((await rec(pool, 'task', task)).status, 'success');
    assert.deepEqual([...keys], [task]);
    await pool.call('VM.hard_shutdown', m);
  });

  test('table: control domain cannot hot-plug; a VM shutting down blocks plug', async () => {
    const n = await net(pool);
    const dom0 = (await rec(pool, 'host', pool.master.host)).control_domain as string;
    const d = await vif(pool, dom0, n);
    await assertApiError(pool.call('VIF.plug', d), 'OPERATION_NOT_ALLOWED', ['Control domain does not support hotplug']);
    assert.deepEqual((await rec(pool, 'VIF', d)).allowed_operations, ['attach']);
    await pool.call('VIF.destroy', d);
    const m = await vm(pool);
    await pool.call('VM.start', m, false, false);
    const v = await vif(pool, m, n);
    poke(pool, 'VM', m, { current_operations: { 'OpaqueRef:t2': 'clean_shutdown' } });
    await assertApiError(pool.call('VIF.plug', v), 'OPERATION_NOT_ALLOWED', [`Current operation on VM:${m} is clean_shutdown`]);
    poke(pool, 'VM', m, { current_operations: {} });
    await pool.call('VM.hard_shutdown', m);
  });

  test('a failure reported by the agent fails the plug and leaves the VIF detached', async () => {
    // pool_introduce skips the bridge checks, so the host's agent gets a bridge name it cannot make.
    const n = await pool.call<string>('network.pool_introduce', 'bad', '', 1500, {}, 'bad name!', true, []);
    const m = await vm(pool);
    await pool.call('VM.start', m, false, false);
    const v = await vif(pool, m, n);
    const e = await assertApiError(pool.call('VIF.plug', v), 'INTERNAL_ERROR');
    assert.match(e.params[0] ?? '', /bad name!/);
    const r = await rec(pool, 'VIF', v);
    assert.equal(r.currently_attached, false);
    assert.deepEqual(r.current_operations, {});
    assert.deepEqual(r.allowed_operations, ['attach', 'plug']);
    await pool.call('VM.hard_shutdown', m);
  });

  test('move: network changes with events on both networks; trunks and bond members refused', async () => {
    const a = await net(pool);
    const b = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, a);
    const tok = await token(pool);
    await pool.call('VIF.move', v, b);
    assert.equal((await rec(pool, 'VIF', v)).network, b);
    assert.deepEqual((await rec(pool, 'network', a)).VIFs, []);
    assert.deepEqual((await rec(pool, 'network', b)).VIFs, [v]);
    const evs = await events(pool, tok);
    assert.ok(hasEvent(evs, 'vif', 'mod', v));
    assert.ok(hasEvent(evs, 'network', 'mod', a));
    assert.ok(hasEvent(evs, 'network', 'mod', b));

    const vn = await vlanNetwork(pool);
    const t = await vif(pool, m, a, { device: '1', trunks: [7] });
    await assertApiError(pool.call('VIF.move', t, vn), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [vn]);
    await pool.call('VIF.move', v, vn); // no trunks: fine

    // A bond member's network cannot carry a live VIF on that host.
    const { pif: p1, network: n1 } = await nicPif(pool, 'eth3');
    const { pif: p2 } = await nicPif(pool, 'eth4');
    await pool.call('Bond.create', await net(pool), [p1, p2], '', 'active-backup', {});
    await pool.call('VM.start', m, false, false);
    const host = pool.master.host;
    await assertApiError(pool.call('VIF.move', v, n1), 'HOST_CANNOT_ATTACH_NETWORK', [host, n1]);
    // Not usable on this host: a network whose PIFs are elsewhere, an internal network pinned
    // to another host by a running VM there.
    const other = pool.master.server.store.transact((tx) => createHost(tx, 'other', '10.9.9.9'));
    const away = await net(pool);
    await pool.call('PIF.db_introduce', 'eth0', away, other, '02:00:00:00:09:09', 1500, -1, true, 'None', '', '', '', '',
      'OpaqueRef:NULL', 'OpaqueRef:NULL', false, {});
    await assertApiError(pool.call('VIF.move', v, away), 'HOST_CANNOT_ATTACH_NETWORK', [host, away]);
    const pinned = await net(pool);
    const elsewhere = await vm(pool);
    const pinning = await vif(pool, elsewhere, pinned);
    poke(pool, 'VM', elsewhere, { power_state: 'Running', resident_on: other, domid: 1 });
    poke(pool, 'VIF', pinning, { currently_attached: true });
    await assertApiError(pool.call('VIF.move', v, pinned), 'HOST_CANNOT_ATTACH_NETWORK', [host, pinned]);
    assert.equal((await rec(pool, 'VIF', v)).network, vn, 'a refused move leaves the VIF where it was');
    const live = await net(pool);
    await pool.call('VIF.move', v, live);
    const r = await rec(pool, 'VIF', v);
    assert.equal(r.network, live);
    assert.equal(r.currently_attached, true);
    await pool.call('VM.hard_shutdown', m);
    await pool.call('VIF.move', v, n1); // not active: no host check
  });

  test('locking mode and allowed addresses: validation, de-duplication, set semantics', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    await pool.call('VIF.set_locking_mode', v, 'locked');
    assert.equal((await rec(pool, 'VIF', v)).locking_mode, 'locked');
    await assertApiError(pool.call('VIF.set_locking_mode', v, 'open'), 'INVALID_VALUE', ['value', 'open']);

    await pool.call('VIF.set_ipv4_allowed', v, ['10.0.0.1', '10.1.0.0/16', '10.0.0.1']);
    assert.deepEqual((await rec(pool, 'VIF', v)).ipv4_allowed, ['10.0.0.1', '10.1.0.0/16']);
    for (const bad of ['10.0.0.256', 'fe80::1', '10.0.0.0/33', 'x']) {
      await assertApiError(pool.call('VIF.set_ipv4_allowed', v, ['10.0.0.2', bad]), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv4_allowed']);
      await assertApiError(pool.call('VIF.add_ipv4_allowed', v, bad), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv4_allowed']);
    }
    assert.deepEqual((await rec(pool, 'VIF', v)).ipv4_allowed, ['10.0.0.1', '10.1.0.0/16']);
    await pool.call('VIF.add_ipv4_allowed', v, '10.0.0.1');
    await pool.call('VIF.add_ipv4_allowed', v, '192.168.1.1');
    await pool.call('VIF.remove_ipv4_allowed', v, '10.0.0.1');
    await pool.call('VIF.remove_ipv4_allowed', v, '172.16.0.1');
    assert.deepEqual((await rec(pool, 'VIF', v)).ipv4_allowed, ['10.1.0.0/16', '192.168.1.1']);

    await pool.call('VIF.set_ipv6_allowed', v, ['fd00::1', 'fd00:1::/64', 'fd00::1']);
    assert.deepEqual((await rec(pool, 'VIF', v)).ipv6_allowed, ['fd00::1', 'fd00:1::/64']);
    for (const bad of ['10.0.0.1', 'fd00::/129', 'fd00:::1']) {
      await assertApiError(pool.call('VIF.set_ipv6_allowed', v, [bad]), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv6_allowed']);
      await assertApiError(pool.call('VIF.add_ipv6_allowed', v, bad), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv6_allowed']);
    }
    await pool.call('VIF.add_ipv6_allowed', v, 'fd00::2');
    await pool.call('VIF.remove_ipv6_allowed', v, 'fd00::1');
    assert.deepEqual((await rec(pool, 'VIF', v)).ipv6_allowed, ['fd00:1::/64', 'fd00::2']);
  });

  test('configure_ipv4/6: checks in order, guest feature required, values stored', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    await assertApiError(pool.call('VIF.configure_ipv4', v, 'Static', '10.0.0.5', ''), 'INVALID_CIDR_ADDRESS_SPECIFIED', ['address']);
    await assertApiError(pool.call('VIF.configure_ipv4', v, 'Static', '10.0.0.5/24', 'gw'), 'INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
    await assertApiError(pool.call('VIF.configure_ipv4', v, 'Static', '10.0.0.5/24', '10.0.0.1'), 'VM_LACKS_FEATURE', [m]);
    await assertApiError(pool.call('VIF.configure_ipv4', v, 'None'), 'VM_LACKS_FEATURE', [m]);
    await pool.call('VIF.set_locking_mode', v, 'locked');
    await pool.call('VIF.set_ipv4_allowed', v, ['10.0.0.6', '10.9.0.0/16']);
    await assertApiError(pool.call('VIF.configure_ipv4', v, 'Static', '10.0.0.5/24', 'gw'), 'ADDRESS_VIOLATES_LOCKING_CONSTRAINT', ['10.0.0.5/24']);
    await pool.call('VM.add_to_other_config', m, 'feature-static-ip-setting', '1');
    await pool.call('VIF.configure_ipv4', v, 'Static', '10.9.3.4/16', '10.9.0.1');
    let r = await rec(pool, 'VIF', v);
    assert.deepEqual([r.ipv4_configuration_mode, r.ipv4_addresses, r.ipv4_gateway], ['Static', ['10.9.3.4/16'], '10.9.0.1']);
    await pool.call('VIF.configure_ipv4', v, 'None');
    r = await rec(pool, 'VIF', v);
    assert.deepEqual([r.ipv4_configuration_mode, r.ipv4_addresses, r.ipv4_gateway], ['None', [''], '']);

    await assertApiError(pool.call('VIF.configure_ipv6', v, 'Static', '10.0.0.5/24', ''), 'INVALID_CIDR_ADDRESS_SPECIFIED', ['address']);
    await assertApiError(pool.call('VIF.configure_ipv6', v, 'Static', 'fd00::5/64', '10.0.0.1'), 'ADDRESS_VIOLATES_LOCKING_CONSTRAINT', ['fd00::5/64']);
    await pool.call('VIF.set_locking_mode', v, 'network_default');
    await assertApiError(pool.call('VIF.configure_ipv6', v, 'Static', 'fd00::5/64', '10.0.0.1'), 'INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
    await pool.call('VIF.configure_ipv6', v, 'Static', 'fd00::5/64', 'fd00::1');
    r = await rec(pool, 'VIF', v);
    assert.deepEqual([r.ipv6_configuration_mode, r.ipv6_addresses, r.ipv6_gateway], ['Static', ['fd00::5/64'], 'fd00::1']);
    await pool.call('VM.remove_from_other_config', m, 'feature-static-ip-setting');
    await assertApiError(pool.call('VIF.configure_ipv6', v, 'Autoconf'), 'VM_LACKS_FEATURE', [m]);
  });

  test('trunks: tag range, VLAN networks excluded, set semantics', async () => {
    const n = await net(pool);
    const m = await vm(pool);
    const v = await vif(pool, m, n);
    for (const bad of [4095, -1]) {
      await assertApiError(pool.call('VIF.add_trunks', v, bad), 'VLAN_TAG_INVALID', [String(bad)]);
    }
    await pool.call('VIF.add_trunks', v, 10);
    await pool.call('VIF.add_trunks', v, 10);
    await pool.call('VIF.add_trunks', v, 0);
    assert.deepEqual((await rec(pool, 'VIF', v)).trunks, [10, 0]);
    await pool.call('VIF.remove_trunks', v, 10);
    await pool.call('VIF.remove_trunks', v, 99);
    assert.deepEqual((await rec(pool, 'VIF', v)).trunks, [0]);
    await pool.call('VIF.set_trunks', v, [5, 5, 4094]);
    assert.deepEqual((await rec(pool, 'VIF', v)).trunks, [5, 4094]);
    await assertApiError(pool.call('VIF.set_trunks', v, [5, 5000]), 'VLAN_TAG_INVALID', ['5000']);
    const vn = await vlanNetwork(pool);
    const w = await vif(pool, m, vn, { device: '1' });
    await assertApiError(pool.call('VIF.add_trunks', w, 4095), 'VLAN_TAG_INVALID', ['4095']);
    await assertApiError(pool.call('VIF.add_trunks', w, 3), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [vn]);
    await assertApiError(pool.call('VIF.set_trunks', w, [5000]), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', [vn]);
    await pool.call('VIF.set_trunks', w, []);
    assert.deepEqual((await rec(pool, 'VIF', w)).trunks, []);
  });
});
