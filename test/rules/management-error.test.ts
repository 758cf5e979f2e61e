// A host's agent reports an error for its management PIF (say a switch write not applied in
// time, right after the host joined): the wait fails, but the master keeps the PIF plugged, so
// the host's next desired state still holds the management bridge and the agent does not cut
// its own host off from the master.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, rec } from '../support/rule-kit.js';
import { report } from '../support/report.js';
import { compileHost } from '../../src/agent/desired.js';
import { emptyPool, POOL_CLASSES, type PoolRecords } from '../../src/agent/records.js';
import type { Rec } from '../../src/idl/meta.js';

let pool: TestPool;
before(async () => { pool = await startTestPool({ fakeNics: 2 }); await ensureAgent(pool); });
after(async () => { await pool.close(); });

/** The pool's records as the agent reads them. */
async function poolRecords(): Promise<PoolRecords> {
  const records = emptyPool();
  for (const cls of POOL_CLASSES) records[cls] = await pool.call<Record<string, Rec>>(`${cls}.get_all_records`);
  return records;
}

test('an error reported for the management PIF leaves it plugged and its bridge in the next desired state', async () => {
  const host = pool.master.host;
  const pifs = await pool.call<Record<string, { host: string; management: boolean }>>('PIF.get_all_records');
  const [mgmt] = Object.entries(pifs).find(([, p]) => p.host === host && p.management)!;
  const bridge = String((await rec(pool, 'network', String((await rec(pool, 'PIF', mgmt)).network))).bridge);
  assert.equal((await rec(pool, 'PIF', mgmt)).currently_attached, true);
  assert.ok(compileHost(await poolRecords(), host).doc.bridges.some((b) => b.name === bridge), `${bridge} wanted before`);

  const why = 'transaction not applied within 15000 ms';
  await pool.call('host.report_network_state', host, pool.master.server.store.generation, report({ errors: { [mgmt]: why } }));

  assert.equal((await rec(pool, 'PIF', mgmt)).currently_attached, true, 'the management PIF stays plugged');
  const desired = compileHost(await poolRecords(), host);
  assert.ok(desired.doc.bridges.some((b) => b.name === bridge), `${bridge} still wanted: ${desired.doc.bridges.map((b) => b.name).join(', ')}`);
});
