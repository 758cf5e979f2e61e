// VM lifecycle rules over JSON-RPC beyond start/shutdown: reboots, pause, suspend/resume,
// clone/copy/snapshot with their VIF copies, migration within the pool, the host checks,
// VBD device slots, xenstore_data, VM_metrics and host_metrics.live.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHost } from '../../src/server/boot.js';
import { macFromSeed } from '../../src/server/impl/vif.js';
import type { Rec } from '../../src/idl/meta.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, net, vif, rec } from '../support/rule-kit.js';
import { report as fullReport } from '../support/report.js';

type R = Record<string, unknown>;
const NULL = 'OpaqueRef:NULL';

/** A stand-in agent for a second host: realises every commit. */
function stubAgent(pool: TestPool, host: string): void {
  const { hub, store } = pool.master.server;
  const report = () => { try { hub.report(host, store.generation, fullReport({})); } catch { /* closed */ } };
  store.onCommit(() => setImmediate(report));
  report();
}

describe('VM lifecycle rules', () => {
  let pool: TestPool;
  let master: string;
  let h2: string;
  const call = <T = any>(m: string, ...a: unknown[]) => pool.call<T>(m, ...a);
  const vmRec = (m: string) => rec(pool, 'VM', m) as Promise<any>;
  const poke = (cls: string, ref: string, patch: Rec) => pool.master.server.store.transact((tx) => tx.update(cls, ref, patch));
  /** A VM with two VIFs on internal networks (usable on any host), started on the master. */
  async function runningVm(name = 'vm'): Promise<{ vm: string; vifs: string[] }> {
    const vm = await call<string>('VM.create', { name_label: name });
    const vifs = [await vif(pool, vm, await net(pool), '0'), await vif(pool, vm, await net(pool), '1')];
    await call('VM.start_on', vm, master, false, false);
    return { vm, vifs };
  }

  before(async () => {
    pool = await startTestPool({ fakeNics: 4 });
    await ensureAgent(pool);
    master = pool.master.host;
    h2 = pool.master.server.store.transact((tx) => createHost(tx, 'h2', '127.0.0.2'));
    stubAgent(pool, h2);
  });
  after(async () => { await pool.close(); });

  test('pause keeps the domain and the VIFs attached; VIF plug/unplug answer VM_BAD_POWER_STATE; unpause', async () => {
    const { vm, vifs } = await runningVm();
    const domid = (await vmRec(vm)).domid;
    await call('VM.pause', vm);
    const r = await vmRec(vm);
    assert.equal(r.power_state, 'Paused');
    assert.equal(r.resident_on, master);
    assert.equal(r.domid, domid);
    assert.deepEqual(r.allowed_operations, ['snapshot', 'unpause', 'hard_shutdown', 'hard_reboot']);
    assert.deepEqual(r.current_operations, {});
    const v = await rec(pool, 'VIF', vifs[0]!);
    assert.equal(v.currently_attached, true);
    assert.deepEqual(v.allowed_operations, ['attach']);
    await assertApiError(call('VIF.unplug', vifs[0]), 'VM_BAD_POWER_STATE', [vm, 'running', 'paused']);
    await assertApiError(call('VM.pause', vm), 'VM_BAD_POWER_STATE', [vm, 'running', 'paused']);
    await assertApiError(call('VM.clean_reboot', vm), 'VM_BAD_POWER_STATE', [vm, 'running', 'paused']);
    await call('VM.unpause', vm);
    assert.equal((await vmRec(vm)).power_state, 'Running');
    await assertApiError(call('VM.unpause', vm), 'VM_BAD_POWER_STATE', [vm, 'paused', 'running']);
    await call('VM.hard_shutdown', vm);
  });

  test('reboots: a new domid on the same host, VIFs attached; hard_reboot of a paused VM runs it; halted VMs refused', async () => {
    const { vm, vifs } = await runningVm();
    const before = (await vmRec(vm)).domid;
    await call('VM.clean_reboot', vm);
    const r = await vmRec(vm);
    assert.equal(r.power_state, 'Running');
    assert.equal(r.resident_on, master);
    assert.notEqual(r.domid, before);
    for (const v of vifs) assert.equal((await rec(pool, 'VIF', v)).currently_attached, true);
    await call('VM.pause', vm);
    await call('VM.hard_reboot', vm);
    assert.equal((await vmRec(vm)).power_state, 'Running');
    await call('VM.hard_shutdown', vm);
    await assertApiError(call('VM.hard_reboot', vm), 'VM_BAD_POWER_STATE', [vm, 'paused, running', 'halted']);
    await assertApiError(call('VM.clean_reboot', vm), 'VM_BAD_POWER_STATE', [vm, 'running', 'halted']);
  });

  test('suspend: no domain, VIFs keep currently_attached; resume plugs those again (not an unplugged one); resume_on', async () => {
    const { vm, vifs } = await runningVm();
    await call('VIF.unplug', vifs[1]);
    await call('VM.suspend', vm);
    let r = await vmRec(vm);
    assert.equal(r.power_state, 'Suspended');
    assert.equal(r.resident_on, NULL);
    assert.equal(r.domid, -1);
    assert.deepEqual(r.allowed_operations, ['snapshot', 'hard_shutdown', 'resume', 'resume_on', 'migrate_send', 'destroy']);
    assert.equal((await rec(pool, 'VIF', vifs[0]!)).currently_attached, true);
    assert.equal((await rec(pool, 'VIF', vifs[1]!)).currently_attached, false);
    await assertApiError(call('VIF.plug', vifs[1]), 'VM_BAD_POWER_STATE', [vm, 'running', 'suspended']);
    await assertApiError(call('VM.suspend', vm), 'VM_BAD_POWER_STATE', [vm, 'running', 'suspended']);
    await assertApiError(call('VM.start', vm, false, false), 'VM_BAD_POWER_STATE', [vm, 'halted', 'suspended']);
    await assertApiError(call('VM.resume_on', vm, NULL, false, false), 'HANDLE_INVALID', ['host', NULL]);
    assert.equal((await vmRec(vm)).power_state, 'Suspended', 'a bad call changes nothing');
    await call('VM.resume_on', vm, h2, true, false);
    r = await vmRec(vm);
    assert.equal(r.power_state, 'Paused', 'start_paused');
    assert.equal(r.resident_on, h2);
    assert.ok(r.domid >= 1);
    assert.equal((await rec(pool, 'VIF', vifs[0]!)).currently_attached, true);
    assert.equal((await rec(pool, 'VIF', vifs[1]!)).currently_attached, false);
    await call('VM.hard_shutdown', vm);
    assert.equal((await rec(pool, 'VIF', vifs[0]!)).currently_attached, false);
  });

  test('operation checks: blocked, in progress, template, snapshot, control domain', async () => {
    const { vm } = await runningVm();
    poke('VM', vm, { blocked_operations: { clean_reboot: 'maintenance' } });
    await assertApiError(call('VM.clean_reboot', vm), 'OPERATION_BLOCKED', [vm, 'maintenance']);
    poke('VM', vm, { blocked_operations: {}, current_operations: { 'OpaqueRef:t1': 'pause' } });
    await assertApiError(call('VM.clean_reboot', vm), 'OTHER_OPERATION_IN_PROGRESS', ['VM', vm, 'pause', 'OpaqueRef:t1']);
    poke('VM', vm, { current_operations: {} });
    await call('VM.hard_shutdown', vm);
    const tpl = await call<string>('VM.create', { name_label: 'tpl', is_a_template: true });
    await assertApiError(call('VM.start', tpl, false, false), 'VM_IS_TEMPLATE', [tpl, 'start']);
    const dom0 = (await rec(pool, 'host', master)).control_domain as string;
    await assertApiError(call('VM.clone', dom0, 'x'), 'VM_BAD_POWER_STATE', [dom0, 'halted', 'running']);
    await assertApiError(call('VM.pause', dom0), 'OPERATION_NOT_ALLOWED');
  });

  test('clone and copy: new uuid, new mac_seed, VIF MACs derived from it (given ones too), detached; metrics copied', async () => {
    const vm = await call<string>('VM.create', { name_label: 'src', other_config: { default_template: 'true', k: 'v' } });
    const n = await net(pool);
    await vif(pool, vm, n, '0');
    const given = await call<string>('VIF.create', { device: '3', network: n, VM: vm, MAC: '02:11:22:33:44:55', MTU: 1400,
      other_config: { x: 'y' }, qos_algorithm_type: '', qos_algorithm_params: {}, locking_mode: 'locked', ipv4_allowed: ['10.0.0.5'] });
    await call('VM.add_to_xenstore_data', vm, 'vm-data/k', 'v');
    const src = await vmRec(vm);
    for (const kind of ['clone', 'copy'] as const) {
      const c = kind === 'clone' ? await call<string>('VM.clone', vm, 'cl') : await call<string>('VM.copy', vm, 'cp', NULL);
      const r = await vmRec(c);
      assert.notEqual(r.uuid, src.uuid);
      assert.equal(r.name_label, kind === 'clone' ? 'cl' : 'cp');
      assert.equal(r.power_state, 'Halted');
      assert.equal(r.is_a_snapshot, false);
      assert.equal(r.snapshot_of, NULL);
      assert.equal(r.other_config.k, 'v');
      assert.equal(r.other_config.default_template, undefined, 'template markers dropped');
      assert.deepEqual(r.xenstore_data, { 'vm-data/k': 'v' });
      const seed = r.other_config.mac_seed as string;
      assert.notEqual(seed, src.other_config.mac_seed);
      assert.ok(r.metrics !== NULL && r.metrics !== src.metrics);
      assert.equal((await rec(pool, 'VM_metrics', r.metrics)).uuid !== undefined, true);
      const copies = await Promise.all((r.VIFs as string[]).map((v) => rec(pool, 'VIF', v)));
      assert.equal(copies.length, 2);
      for (const cv of copies) {
        assert.equal(cv.MAC, macFromSeed(seed, Number(cv.device)));
        assert.equal(cv.MAC_autogenerated, true);
        assert.equal(cv.currently_attached, false);
        assert.equal(cv.network, n);
      }
      const c3 = copies.find((x) => x.device === '3')!;
      assert.notEqual(c3.MAC, '02:11:22:33:44:55');
      assert.equal(c3.MTU, 1400);
      assert.deepEqual(c3.other_config, { x: 'y' });
      assert.equal(c3.locking_mode, 'locked');
      assert.deepEqual(c3.ipv4_allowed, ['10.0.0.5']);
      assert.notEqual(c3.uuid, (await rec(pool, 'VIF', given)).uuid);
    }
    await call('VM.start', vm, false, false);
    await assertApiError(call('VM.clone', vm, 'x'), 'VM_BAD_POWER_STATE', [vm, 'halted', 'running']);
    await call('VM.hard_shutdown', vm);
  });

  test('copy to an SR: none is no error, an ISO SR is', async () => {
    const vm = await call<string>('VM.create', { name_label: 'c' });
    const sr = pool.master.server.store.transact((tx) => tx.create('SR', { name_label: 'iso', content_type: 'iso' }));
    const before = (await call<string[]>('VM.get_all')).length;
    await assertApiError(call('VM.copy', vm, 'x', sr), 'OPERATION_NOT_ALLOWED');
    assert.equal((await call<string[]>('VM.get_all')).length, before, 'nothing made');
    assert.match(await call<string>('VM.copy', vm, 'x', NULL), /^OpaqueRef:/);
  });

  test('snapshot: MACs and seed kept, a template snapshot_of its VM, the VM\'s parent; a snapshot does not start', async () => {
    const { vm, vifs } = await runningVm('snap-src');
    const snap = await call<string>('VM.snapshot', vm, 'snap');
    const s = await vmRec(snap);
    const v = await vmRec(vm);
    assert.equal(s.is_a_snapshot, true);
    assert.equal(s.is_a_template, true);
    assert.equal(s.snapshot_of, vm);
    assert.equal(s.power_state, 'Halted');
    assert.notEqual(s.snapshot_time, '19700101T00:00:00Z');
    assert.equal(s.other_config.mac_seed, v.other_config.mac_seed);
    assert.deepEqual(v.snapshots, [snap]);
    assert.equal(v.parent, snap);
    const macs = async (refs: string[]) => (await Promise.all(refs.map((x) => rec(pool, 'VIF', x)))).map((x) => x.MAC).sort();
    assert.deepEqual(await macs(s.VIFs), await macs(vifs));
    assert.deepEqual(s.allowed_operations, ['clone', 'copy', 'destroy']);
    await assertApiError(call('VM.start', snap, false, false), 'VM_IS_SNAPSHOT', [snap, 'start']);
    // The client's short form (no ignore_vdis) works too.
    assert.match(await call<string>('VM.snapshot', vm, 'snap2', []), /^OpaqueRef:/);
    await call('VM.hard_shutdown', vm);
  });

  test('pool_migrate: the VM moves host with a domid there, VIFs stay attached; checks and bad options change nothing', async () => {
    const { vm, vifs } = await runningVm('mig');
    assert.deepEqual((await call<string[]>('VM.get_possible_hosts', vm)).sort(), [master, h2].sort());
    await assertApiError(call('VM.pool_migrate', vm, h2, { live: 'maybe' }), 'INVALID_VALUE', ['live', 'maybe']);
    poke('host', h2, { enabled: false });
    await assertApiError(call('VM.assert_can_boot_here', vm, h2), 'HOST_DISABLED', [h2]);
    await assertApiError(call('VM.pool_migrate', vm, h2, {}), 'HOST_DISABLED', [h2]);
    assert.deepEqual(await call('VM.get_possible_hosts', vm), [master]);
    poke('host', h2, { enabled: true });
    // A host whose agent never reported is not live.
    const h3 = pool.master.server.store.transact((tx) => createHost(tx, 'h3', '127.0.0.3'));
    await assertApiError(call('VM.assert_can_boot_here', vm, h3), 'HOST_OFFLINE', [h3]);
    await assertApiError(call('VM.pool_migrate', vm, h3, {}), 'HOST_OFFLINE', [h3]);
    assert.deepEqual((await call<string[]>('VM.get_possible_hosts', vm)).sort(), [master, h2].sort());
    assert.equal((await vmRec(vm)).resident_on, master, 'refused calls changed nothing');
    await call('VM.assert_can_boot_here', vm, h2);
    await call('VM.pool_migrate', vm, h2, { live: 'true' });
    const r = await vmRec(vm);
    assert.equal(r.resident_on, h2);
    assert.equal(r.power_state, 'Running');
    assert.deepEqual(r.current_operations, {});
    for (const x of vifs) assert.equal((await rec(pool, 'VIF', x)).currently_attached, true);
    await assertApiError(call('VM.pool_migrate', vm, NULL, {}), 'HANDLE_INVALID', ['host', NULL]);
    await call('VM.hard_shutdown', vm);
    await assertApiError(call('VM.pool_migrate', vm, h2, {}), 'VM_BAD_POWER_STATE', [vm, 'running', 'halted']);
  });

  test('migrate_send within the pool: the dest map of host.migrate_receive; a VIF map is refused; outside the pool not implemented', async () => {
    const { vm, vifs } = await runningVm('ms');
    const [pif, p] = Object.entries(await call<Record<string, R>>('PIF.get_all_records')).find(([, x]) => x.host === master && x.device === 'eth2')!;
    poke('PIF', pif, { ip_configuration_mode: 'None', IP: '' });
    await assertApiError(call('host.migrate_receive', master, p.network, {}), 'PIF_HAS_NO_NETWORK_CONFIGURATION', [pif]);
    poke('PIF', pif, { ip_configuration_mode: 'DHCP', IP: '' });
    await assertApiError(call('host.migrate_receive', master, p.network, {}), 'INTERFACE_HAS_NO_IP', [pif]);
    poke('PIF', pif, { ip_configuration_mode: 'Static', IP: '192.0.2.9', netmask: '255.255.255.0' });
    const dest = await call<Record<string, string>>('host.migrate_receive', master, p.network, {});
    assert.equal(dest.xenops, 'http://192.0.2.9/services/xenops');
    assert.equal(dest.host, master);
    assert.deepEqual(Object.keys(dest).sort(), ['SM', 'host', 'master', 'session_id', 'xenops']);
    const noPif = await net(pool);
    await assertApiError(call('host.migrate_receive', master, noPif, {}), 'HOST_CANNOT_ATTACH_NETWORK', [master, noPif]);
    const other = await net(pool);
    await assertApiError(call('VM.migrate_send', vm, { ...dest, host: h2 }, true, {}, { [vifs[0]!]: other }, {}, {}), 'OPERATION_NOT_ALLOWED');
    assert.equal((await rec(pool, 'VIF', vifs[0]!)).network !== other, true);
    await assertApiError(call('VM.migrate_send', vm, { host: 'OpaqueRef:elsewhere' }, true, {}, {}, {}, {}), 'NOT_IMPLEMENTED');
    assert.equal(await call('VM.migrate_send', vm, { ...dest, host: h2 }, true, {}, {}, {}, {}), vm);
    assert.equal((await vmRec(vm)).resident_on, h2);
    await call('VM.hard_shutdown', vm);
  });

  test('get_allowed_VBD_devices: 0..254 less those a VBD names; xenstore_data modifiers', async () => {
    const vm = await call<string>('VM.create', { name_label: 'vbd' });
    const all = await call<string[]>('VM.get_allowed_VBD_devices', vm);
    assert.equal(all.length, 255);
    assert.equal(all[0], '0');
    pool.master.server.store.transact((tx) => {
      tx.create('VBD', { VM: vm, userdevice: '0', device: '' });
      tx.create('VBD', { VM: vm, userdevice: '', device: 'xvdc' });
    });
    const left = await call<string[]>('VM.get_allowed_VBD_devices', vm);
    assert.equal(left.includes('0'), false);
    assert.equal(left.includes('2'), false);
    assert.equal(left.includes('1'), true);
    await call('VM.add_to_xenstore_data', vm, 'vm-data/a', '1');
    await assertApiError(call('VM.add_to_xenstore_data', vm, 'vm-data/a', '2'), 'MAP_DUPLICATE_KEY');
    await call('VM.remove_from_xenstore_data', vm, 'vm-data/a');
    assert.deepEqual((await vmRec(vm)).xenstore_data, {});
  });

  test('VM_metrics with the VM (start_time set at start), gone with it; host_metrics.live from the agents', async () => {
    const vm = await call<string>('VM.create', { name_label: 'm' });
    const m = (await vmRec(vm)).metrics as string;
    assert.equal((await rec(pool, 'VM_metrics', m)).start_time, '19700101T00:00:00Z');
    await call('VM.start', vm, false, false);
    assert.notEqual((await rec(pool, 'VM_metrics', m)).start_time, '19700101T00:00:00Z');
    await call('VM.hard_shutdown', vm);
    await call('VM.destroy', vm);
    await assertApiError(call('VM_metrics.get_record', m), 'HANDLE_INVALID');
    for (const h of [master, h2]) assert.equal((await rec(pool, 'host_metrics', (await rec(pool, 'host', h)).metrics as string)).live, true);
  });

  test('VM_guest_metrics.networks from the agent of the VM\'s host only; a malformed report is refused', async () => {
    const { vm } = await runningVm('gm');
    await call('VM.pool_migrate', vm, h2, {});
    const { hub, store } = pool.master.server;
    const nets = { '0/ip': '203.0.113.5', '0/ipv4/0': '203.0.113.5', '0/ipv6/0': '2001:db8::5' };
    hub.report(master, store.generation, fullReport({ guest_networks: { [vm]: { '0/ip': '192.0.2.66' } } }));
    assert.equal((await vmRec(vm)).guest_metrics, NULL, 'another host\'s agent does not speak for the VM');
    hub.report(h2, store.generation, fullReport({ guest_networks: { [vm]: nets } }));
    const gm = (await vmRec(vm)).guest_metrics as string;
    const g = await rec(pool, 'VM_guest_metrics', gm);
    assert.deepEqual(g.networks, nets);
    assert.equal(g.live, true);
    const { parseReport } = await import('../../src/protocol/host-agent.js');
    assert.throws(() => parseReport({ ...fullReport({}), guest_networks: { [vm]: { 'eth0': '203.0.113.5' } } }), /guest_networks/);
    assert.throws(() => parseReport({ ...fullReport({}), guest_networks: { [vm]: { '0/ip': 'x; rm' } } }), /guest_networks/);
    await call('VM.hard_shutdown', vm);
  });
});
