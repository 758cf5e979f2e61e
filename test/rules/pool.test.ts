// pool.management_reconfigure over JSON-RPC (xen-api: ocaml/xapi/xapi_pool.ml): every host needs a PIF on
// the network, one address type, the per-PIF checks; members switch first, the master last.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rec } from '../../src/idl/meta.js';
import { createHost } from '../../src/server/boot.js';
import type { Nic } from '../../src/server/realise.js';
import { nic, report as fullReport } from '../support/report.js';
import { initialHostNetworking } from '../../src/server/impl/pif.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';

// A stand-in agent for the member hosts (the master's own host has its in-process agent): it
// reports each member's inventory on every commit.
const inventories = new Map<string, Nic[]>();
function memberAgents(pool: TestPool): void {
  const { server } = pool.master;
  const report = () => setImmediate(() => {
    for (const [h, nics] of inventories) if (server.store.find('host', h)) server.hub.report(h, server.store.generation, fullReport({ nics }));
  });
  server.store.onCommit(report);
  report();
}

let pool: TestPool;
let master: string;
let member: string;
const store = () => pool.master.server.store;
const rec = (cls: string, ref: string) => pool.call<any>(`${cls}.get_record`, ref);
const pifOf = (h: string, device: string) => {
  for (const [ref, p] of store().all('PIF')) if (p.host === h && p.device === device && p.VLAN === -1) return ref;
  throw new Error(`no PIF ${device}`);
};
const poke = (cls: string, ref: string, patch: Rec) => store().transact((tx) => tx.update(cls, ref, patch));
const poolRef = () => [...store().all('pool')][0]![0];

before(async () => {
  pool = await startTestPool({ fakeNics: 2 });
  pool.master.server.hub.timeoutMs = 2000;
  master = pool.master.host;
  memberAgents(pool);
  await initialHostNetworking(pool.master.server, master);
  member = store().transact((tx) => createHost(tx, 'member', '192.0.2.50'));
  inventories.set(member, []);
});
after(async () => { await pool.close(); });

test('pool.management_reconfigure: HA, PIF_NOT_PRESENT, address types, per-PIF checks, members first', async () => {
  const net1 = (await rec('PIF', pifOf(master, 'eth1'))).network;
  poke('pool', poolRef(), { ha_enabled: true });
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'HA_IS_ENABLED', []);
  poke('pool', poolRef(), { ha_enabled: false });
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'PIF_NOT_PRESENT', [member, net1]);

  // the member's NICs join the pool-wide networks xenbr0/xenbr1 (no new network)
  inventories.set(member, [0, 1].map((i) => nic({ device: `eth${i}`, MAC: `02:00:00:00:03:0${i}`, MTU: 1500 })));
  const nets = store().count('network');
  await pool.call('PIF.scan', member);
  assert.equal(store().count('network'), nets);
  const [m1, s1] = [pifOf(master, 'eth1'), pifOf(member, 'eth1')];
  assert.equal((await rec('PIF', s1)).network, net1);

  poke('PIF', s1, { primary_address_type: 'IPv6' });
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', [s1]);
  poke('PIF', s1, { primary_address_type: 'IPv4' });
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'PIF_HAS_NO_NETWORK_CONFIGURATION', [m1]);
  await pool.call('PIF.reconfigure_ip', m1, 'Static', '192.0.2.31', '255.255.255.0', '', '');
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'PIF_HAS_NO_NETWORK_CONFIGURATION', [s1]);
  const bond = store().transact((tx) => tx.create('Bond', { master: pifOf(member, 'eth0') }));
  poke('PIF', s1, { bond_slave_of: bond });
  await assertApiError(pool.call('pool.management_reconfigure', net1), 'CANNOT_PLUG_BOND_SLAVE', [s1]);
  poke('PIF', s1, { bond_slave_of: 'OpaqueRef:NULL' });
  store().transact((tx) => tx.destroy('Bond', bond));
  await pool.call('PIF.reconfigure_ip', s1, 'Static', '192.0.2.51', '255.255.255.0', '', '');

  const tok = (await pool.call<any>('event.from', ['*'], '', 0)).token;
  const switched: string[] = []; // order in which the PIFs become management, commit by commit
  store().onCommit(() => {
    for (const p of [m1, s1]) if (store().find('PIF', p)?.management === true && !switched.includes(p)) switched.push(p);
  });
  await pool.call('pool.management_reconfigure', net1);
  for (const [h, p, addr] of [[master, m1, '192.0.2.31'], [member, s1, '192.0.2.51']] as const) {
    assert.equal(await pool.call('host.get_management_interface', h), p);
    assert.equal((await rec('host', h)).address, addr);
    assert.equal((await rec('host', h)).management_bridge, undefined, 'internal field stays hidden');
  }
  assert.equal((await rec('PIF', pifOf(master, 'eth0'))).management, false);
  assert.deepEqual(switched, [s1, m1], 'member first, master last');
  const evs = ((await pool.call<any>('event.from', ['pif', 'host'], tok, 0.1)).events as any[]).map((e) => `${e.operation} ${e.ref}`);
  for (const r of [m1, s1, pifOf(master, 'eth0'), master, member]) assert.ok(evs.includes(`mod ${r}`), `mod ${r} in ${evs}`);
});
