// The master's side of guests of a real hypervisor (docs/guests.md): a host's report says which
// VIFs have a device there (with the hypervisor's domid), which VMs stopped, which devices match
// no VIF; the records follow. A report with a bad value changes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, net, rec, vif } from '../support/rule-kit.js';
import { report } from '../support/report.js';

let pool: TestPool;
before(async () => { pool = await startTestPool({ fakeNics: 2 }); await ensureAgent(pool); });
after(async () => { await pool.close(); });

const send = (guests: unknown) => pool.call('host.report_network_state', pool.master.host, pool.master.server.store.generation, { ...report(), guests });

test('a device with a domid: the VIF is attached, the VM Running on the host with that domid; a stop halts it', async () => {
  const vm = await pool.call<string>('VM.create', { name_label: 'xen-guest', other_config: {} });
  const v = await vif(pool, vm, await net(pool));
  await send({ attached: { [v]: { device: 'vif7.0', domid: 7 } }, stopped: [], unknown: [] });
  assert.deepEqual(await rec(pool, 'VM', vm).then((r) => [r.power_state, r.resident_on, r.domid]), ['Running', pool.master.host, 7]);
  assert.equal((await rec(pool, 'VIF', v)).currently_attached, true);
  await send({ attached: {}, stopped: [vm], unknown: [] });
  assert.deepEqual(await rec(pool, 'VM', vm).then((r) => [r.power_state, r.resident_on, r.domid]), ['Halted', 'OpaqueRef:NULL', -1]);
  assert.equal((await rec(pool, 'VIF', v)).currently_attached, false);
});

test('a device without a domid (QEMU script=): the master gives the VM one', async () => {
  const vm = await pool.call<string>('VM.create', { name_label: 'qemu-guest', other_config: {} });
  const v = await vif(pool, vm, await net(pool));
  await send({ attached: { [v]: { device: 'tap0', domid: -1 } }, stopped: [], unknown: [] });
  const r = await rec(pool, 'VM', vm);
  assert.equal(r.power_state, 'Running');
  assert.ok(typeof r.domid === 'number' && r.domid >= 1, `domid ${String(r.domid)}`);
});

test('devices for no VIF are shown on the host, and the key goes when there are none', async () => {
  const host = pool.master.host;
  await send({ attached: {}, stopped: [], unknown: ['tap9', 'vnet3'] });
  assert.equal(((await rec(pool, 'host', host)).other_config as Record<string, string>)['xcpnet-unknown-guest-devices'], 'tap9,vnet3');
  await send({ attached: {}, stopped: [], unknown: [] });
  assert.equal(((await rec(pool, 'host', host)).other_config as Record<string, string>)['xcpnet-unknown-guest-devices'], undefined);
});

test('a device name that is no interface name is refused whole, and nothing changes', async () => {
  const vm = await pool.call<string>('VM.create', { name_label: 'bad', other_config: {} });
  const v = await vif(pool, vm, await net(pool));
  for (const device of ['a/b', '-rf', 'x'.repeat(16), 'tap0;reboot', '']) {
    await assertApiError(send({ attached: { [v]: { device, domid: 3 } }, stopped: [], unknown: [] }), 'INVALID_VALUE');
  }
  await assertApiError(send({ attached: {}, stopped: [], unknown: ['ok0', '../x'] }), 'INVALID_VALUE');
  await assertApiError(send({ attached: { [v]: { device: 'tap1', domid: -2 } }, stopped: [], unknown: [] }), 'INVALID_VALUE');
  assert.equal((await rec(pool, 'VM', vm)).power_state, 'Halted');
});
