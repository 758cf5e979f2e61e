// The VM lifecycle through the real npm `xen-api` client (Xen Orchestra's), unchanged: its
// callAsync (Async. call + task watched through events) for the long operations, the records it
// caches from events, and the errors it raises.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'xen-api';
import { ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent } from '../support/rule-kit.js';

describe('VM lifecycle through xen-api', () => {
  let pool: TestPool;
  let xapi: ReturnType<typeof createClient>;
  before(async () => {
    pool = await startTestPool();
    await ensureAgent(pool);
    xapi = createClient({ url: pool.url, auth: { user: 'root', password: ROOT_PASSWORD }, allowUnauthorized: true, transport: 'json-rpc', eventPollDelay: 200, debounce: 20 });
    await xapi.connect();
    await xapi.objectsFetched;
  });
  after(async () => {
    await xapi.disconnect().catch(() => {});
    await pool.close();
  });

  test('start, pause, suspend, resume, reboot, migrate; clone and snapshot with their VIFs; errors as xapi\'s', async () => {
    const net = await xapi.call<string>('network.create', { name_label: 'lc', name_description: '', MTU: 1500, other_config: {} });
    const vm = await xapi.call<string>('VM.create', { name_label: 'lc-vm' });
    // A MAC given by hand: a snapshot keeps it, a clone derives a new one from its new seed.
    await xapi.call('VIF.create', { device: '0', network: net, VM: vm, MAC: '02:12:34:56:78:9a', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
    const host = (await xapi.call<string[]>('host.get_all'))[0]!;

    await xapi.callAsync('VM.start', vm, false, false);
    assert.equal((await xapi.barrier(vm)).power_state, 'Running');
    await xapi.callAsync('VM.pause', vm);
    const paused = await xapi.barrier(vm);
    assert.equal(paused.power_state, 'Paused');
    assert.ok(paused.allowed_operations.includes('unpause'));
    let err: any;
    try { await xapi.call('VM.suspend', vm); } catch (e) { err = e; }
    assert.equal(err?.code, 'VM_BAD_POWER_STATE');
    assert.deepEqual(err.params, [vm, 'running', 'paused']);
    await xapi.callAsync('VM.unpause', vm);
    await xapi.callAsync('VM.suspend', vm);
    const suspended = await xapi.barrier(vm);
    assert.equal(suspended.power_state, 'Suspended');
    assert.equal(suspended.$VIFs[0].currently_attached, true, 'a suspended VM\'s VIF stays attached in the records');
    await xapi.callAsync('VM.resume', vm, false, false);
    const domid = (await xapi.barrier(vm)).domid;
    await xapi.callAsync('VM.clean_reboot', vm);
    assert.notEqual((await xapi.barrier(vm)).domid, domid);
    assert.deepEqual(await xapi.call('VM.get_possible_hosts', vm), [host]);
    await xapi.callAsync('VM.pool_migrate', vm, host, {});
    assert.equal((await xapi.barrier(vm)).resident_on, host);

    // A snapshot as XO takes one (two arguments), its VIFs with the same MAC; a clone of it gets new ones.
    const snap = await xapi.callAsync<string>('VM.snapshot', vm, 'lc-snap');
    const s = await xapi.barrier(snap);
    assert.equal(s.is_a_snapshot, true);
    assert.equal(s.$snapshot_of.$ref, vm);
    const original = (await xapi.barrier(vm)).$VIFs[0];
    assert.equal(original.MAC, '02:12:34:56:78:9a');
    assert.equal(s.$VIFs[0].MAC, original.MAC);
    assert.notEqual(s.$VIFs[0].uuid, original.uuid);
    const clone = await xapi.callAsync<string>('VM.clone', snap, 'lc-clone');
    const cl = await xapi.barrier(clone);
    assert.equal(cl.is_a_snapshot, false);
    assert.notEqual(cl.$VIFs[0].MAC, original.MAC);
    assert.notEqual(cl.other_config.mac_seed, s.other_config.mac_seed);
    assert.equal(cl.$metrics.$type, 'VM_metrics');
    await xapi.callAsync('VM.hard_shutdown', vm);
  });
});
