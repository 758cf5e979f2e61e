// pool.set_igmp_snooping_enabled (xen-api: ocaml/xapi/xapi_pool.ml): the pool flag, the attached
// NIC and bond PIFs plugged again with their igmp_snooping_status, and the host's bridges
// snooping as the agent realises them (here the in-process agent on the fake backend).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent } from '../support/rule-kit.js';

let pool: TestPool;
before(async () => { pool = await startTestPool({ fakeNics: 3 }); await ensureAgent(pool); });
after(async () => { await pool?.close(); });

type R = Record<string, any>;
const poolRef = async () => (await pool.call<string[]>('pool.get_all'))[0]!;
const pifs = async () => Object.values(await pool.call<Record<string, R>>('PIF.get_all_records')).filter((p) => p.host === pool.master.host);
const snooping = async () => Object.fromEntries((await pool.fakeHost.observe()).bridges.map((b) => [b.name, b.igmpSnooping === true]));

test('set_igmp_snooping_enabled turns snooping on and off on the attached NICs\' bridges, at once', async () => {
  const p = await poolRef();
  const attached = (await pifs()).filter((x) => x.currently_attached);
  assert.ok(attached.length > 0);
  assert.ok(Object.values(await snooping()).every((on) => !on), 'off at first');
  await pool.call('pool.set_igmp_snooping_enabled', p, true);
  assert.equal(await pool.call('pool.get_igmp_snooping_enabled', p), true);
  for (const x of await pifs()) assert.equal(x.igmp_snooping_status, x.currently_attached ? 'enabled' : 'unknown', x.device);
  const bridges = await snooping();
  for (const x of attached) assert.equal(bridges[(await pool.call<R>('network.get_record', x.network)).bridge], true);
  await pool.call('pool.set_igmp_snooping_enabled', p, false);
  assert.ok(Object.values(await snooping()).every((on) => !on), 'off again');
  for (const x of await pifs()) if (x.currently_attached) assert.equal(x.igmp_snooping_status, 'disabled', x.device);
});

test('a PIF plugged later takes the pool\'s setting; bad arguments change nothing', async () => {
  const p = await poolRef();
  const all = await pool.call<Record<string, R>>('PIF.get_all_records');
  const [ref, idle] = Object.entries(all).find(([, x]) => x.host === pool.master.host && x.physical && !x.management)!;
  await pool.call('PIF.unplug', ref);
  await pool.call('pool.set_igmp_snooping_enabled', p, true);
  assert.equal(await pool.call('PIF.get_igmp_snooping_status', ref), idle.igmp_snooping_status, 'an unplugged PIF is left as it is');
  await pool.call('PIF.plug', ref);
  assert.equal(await pool.call('PIF.get_igmp_snooping_status', ref), 'enabled');
  assert.equal((await snooping())[(await pool.call<R>('network.get_record', idle.network)).bridge], true);
  await assertApiError(pool.call('pool.set_igmp_snooping_enabled', 'OpaqueRef:NULL', false), 'HANDLE_INVALID');
  assert.equal(await pool.call('pool.get_igmp_snooping_enabled', p), true);
  await pool.call('pool.set_igmp_snooping_enabled', p, false);
});
