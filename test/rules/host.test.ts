// host management rules over JSON-RPC (reference §2.9, §7.5): management follows the host's
// management bridge; get_management_interface; management_disable; local_management_reconfigure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initialHostNetworking } from '../../src/server/impl/pif.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ruleKit } from '../support/rule-kit.js';
import { report } from '../support/report.js';

let pool: TestPool;
let host: string;
const kit = ruleKit(() => pool, () => host);
const { store, rec, pifOf, poke, poolRef, token } = kit;
const eventsSince = async (tok: string) => (await kit.events(tok, ['pif', 'host'])).map((e) => `${e.operation} ${e.class} ${e.ref}`);

before(async () => {
  pool = await startTestPool({ fakeNics: 4 });
  pool.master.server.hub.timeoutMs = 2000;
  host = pool.master.host;
  await initialHostNetworking(pool.master.server, host);
});
after(async () => { await pool.close(); });

test('host.management_reconfigure: checks in order; moves the flags; old PIF stays plugged; address follows', async () => {
  const [eth0, eth1, eth2] = [pifOf('eth0'), pifOf('eth1'), pifOf('eth2')];
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('host.management_reconfigure', eth1), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  const bond = store().transact((tx) => tx.create('Bond', { master: eth2 }));
  poke('PIF', eth1, { bond_slave_of: bond });
  await assertApiError(pool.call('host.management_reconfigure', eth1), 'CANNOT_PLUG_BOND_SLAVE', [eth1]);
  poke('PIF', eth1, { bond_slave_of: 'OpaqueRef:NULL' });
  store().transact((tx) => tx.destroy('Bond', bond));
  await assertApiError(pool.call('host.management_reconfigure', eth1), 'PIF_HAS_NO_NETWORK_CONFIGURATION', [eth1]);
  poke('PIF', eth1, { primary_address_type: 'IPv6' });
  await assertApiError(pool.call('host.management_reconfigure', eth1), 'PIF_HAS_NO_V6_NETWORK_CONFIGURATION', [eth1]);
  poke('PIF', eth1, { primary_address_type: 'IPv4' });

  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.21', '255.255.255.0', '192.0.2.1', '');
  await pool.call('PIF.unplug', eth1);
  const tok = await token();
  await pool.call('host.management_reconfigure', eth1);
  const [r0, r1, h] = [await rec('PIF', eth0), await rec('PIF', eth1), await rec('host', host)];
  assert.deepEqual([r0.management, r0.currently_attached], [false, true], 'the old PIF stays plugged');
  assert.deepEqual([r1.management, r1.currently_attached], [true, true], 'the new one is plugged');
  assert.equal(h.address, '192.0.2.21');
  assert.equal(await pool.call('host.get_management_interface', host), eth1);
  const ev = await eventsSince(tok);
  for (const e of [`mod pif ${eth0}`, `mod pif ${eth1}`, `mod host ${host}`]) assert.ok(ev.includes(e), `${e} in ${ev}`);
  // already management: nothing happens
  const gen = store().generation;
  await pool.call('host.management_reconfigure', eth1);
  assert.equal(store().generation, gen);
  // unmanaged PIF: the checks are skipped, the PIF is not plugged
  poke('PIF', eth2, { managed: false, currently_attached: false });
  await pool.call('host.management_reconfigure', eth2);
  assert.deepEqual([(await rec('PIF', eth2)).management, (await rec('PIF', eth2)).currently_attached], [true, false]);
  poke('PIF', eth2, { managed: true });
  await pool.call('host.management_reconfigure', eth0);
  assert.equal(await pool.call('host.get_management_interface', host), eth0);
});

test('a management change its host rolled back fails with the reason and puts the records back (management_reconfigure, reconfigure_ip)', async () => {
  const [eth0, eth1] = [pifOf('eth0'), pifOf('eth1')];
  const { server } = pool.master;
  // The host's answer to the next management change: rolled back (as an agent that could not
  // reach the master from it reports). Given at the commit, before the call waits.
  let armed: string | undefined;
  server.store.onCommit(() => {
    const pif = armed;
    if (!pif) return;
    armed = undefined;
    server.hub.report(host, server.store.generation, report({ rollback: { PIFs: [pif], reason: 'management change rolled back: the master could not be reached' } }));
  });
  await pool.call('PIF.reconfigure_ip', eth1, 'Static', '192.0.2.22', '255.255.255.0', '192.0.2.1', '');
  await pool.call('PIF.unplug', eth1);
  const before = await rec('host', host);
  armed = eth1;
  await assertApiError(pool.call('host.management_reconfigure', eth1), 'PIF_CONFIGURATION_ERROR', [eth1, 'management change rolled back: the master could not be reached']);
  const [r0, r1, h] = [await rec('PIF', eth0), await rec('PIF', eth1), await rec('host', host)];
  assert.deepEqual([r0.management, r0.currently_attached], [true, true], 'management is where it was');
  assert.deepEqual([r1.management, r1.currently_attached], [false, false], 'the new PIF is unplugged again');
  assert.deepEqual([h.address, h.management_address_type], [before.address, before.management_address_type]);
  assert.equal(await pool.call('host.get_management_interface', host), eth0);
  // The management PIF's IP configuration: back to what it was.
  const r = await rec('PIF', eth0);
  armed = eth0;
  await assertApiError(pool.call('PIF.reconfigure_ip', eth0, 'Static', '198.18.0.9', '255.255.255.0', '198.18.0.1', ''), 'PIF_CONFIGURATION_ERROR');
  const after = await rec('PIF', eth0);
  assert.deepEqual([after.ip_configuration_mode, after.IP, after.netmask, after.gateway, after.currently_attached, after.management],
    [r.ip_configuration_mode, r.IP, r.netmask, r.gateway, true, true]);
});

test('host.management_disable, get_management_interface Not_found, local_management_reconfigure', async () => {
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('host.management_disable'), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  const eth0 = pifOf('eth0');
  await pool.call('host.management_disable');
  const pifs = await pool.call<Record<string, any>>('PIF.get_all_records');
  assert.ok(Object.values(pifs).every((p) => p.management === false));
  assert.equal((await rec('PIF', eth0)).currently_attached, true, 'the PIF stays plugged');
  assert.equal((await rec('host', host)).address, '');
  await assertApiError(pool.call('host.get_management_interface', host), 'INTERNAL_ERROR', ['Not_found']);
  await pool.call('PIF.unplug', eth0); // no longer protected as the management PIF
  assert.equal((await rec('PIF', eth0)).currently_attached, false);
  await pool.call('PIF.plug', eth0);
  await assertApiError(pool.call('host.local_management_reconfigure', 'xenbr0'), 'NOT_IN_EMERGENCY_MODE', []);
  await pool.call('host.management_reconfigure', eth0);
  assert.equal(await pool.call('host.get_management_interface', host), eth0);
});
