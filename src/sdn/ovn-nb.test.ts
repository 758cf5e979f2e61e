import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolBuilder } from '../agent/pool-builder.js';
import { desiredNb, planNb, NB_NETWORK_KEY, NB_VIF_KEY, type DesiredNb, type NbRow } from './ovn-nb.js';
import { applyNbPlan } from './nb-memory.js';

/** Two hosts, a tunnel network with a VIF on each, and a network without a tunnel. */
function pool() {
  const b = new PoolBuilder();
  const h1 = b.host();
  const h2 = b.host();
  const n0 = b.network('xenbr0');
  const priv = b.network('xapi1');
  const local = b.network('xapi2');
  const t1 = b.physical(h1, 'eth0', n0, { IP: '10.0.0.1', netmask: '255.255.255.0', mode: 'Static' });
  const t2 = b.physical(h2, 'eth0', n0, { IP: '10.0.0.2', netmask: '255.255.255.0', mode: 'Static' });
  b.tunnel(h1, t1, priv, 'vxlan');
  b.tunnel(h2, t2, priv, 'vxlan');
  const vm1 = b.vm(h1, 1);
  const vm2 = b.vm(h2, 1);
  const v1 = b.vif(vm1, priv, 0, '02:00:00:00:00:01', { locking_mode: 'locked', ipv4_allowed: ['10.9.0.1'], ipv6_allowed: ['fe80::1', 'junk'] });
  const v2 = b.vif(vm2, priv, 0, '02:00:00:00:00:02');
  const v3 = b.vif(vm2, local, 1, '02:00:00:00:00:03');
  return { b, priv, local, v1, v2, v3 };
}

test('records → NB rows: one switch per tunnel network, one port per VIF on it, port security from locking', () => {
  const { b, v1, v2, priv } = pool();
  const want = desiredNb(b.records);
  const netUuid = b.rec('network', priv).uuid as string;
  assert.deepEqual([...want.switches.keys()], [netUuid]);
  assert.deepEqual(want.switches.get(netUuid), { name: `xcpnet-${netUuid}`, external_ids: { [NB_NETWORK_KEY]: netUuid } });
  const u1 = b.rec('VIF', v1).uuid as string;
  const u2 = b.rec('VIF', v2).uuid as string;
  assert.deepEqual([...want.ports.keys()].sort(), [u1, u2].sort());
  // locked: MAC and the well-formed allowed addresses, as both addresses and port security
  assert.deepEqual(want.ports.get(u1), { network: netUuid, row: {
    name: u1, addresses: ['02:00:00:00:00:01 10.9.0.1 fe80::1'], port_security: ['02:00:00:00:00:01 10.9.0.1 fe80::1'],
    enabled: true, external_ids: { [NB_VIF_KEY]: u1 } } });
  // network_default on a network whose default is unlocked: no port security
  assert.deepEqual(want.ports.get(u2)!.row, { name: u2, addresses: ['02:00:00:00:00:02'], port_security: [], enabled: true, external_ids: { [NB_VIF_KEY]: u2 } });
  // disabled: the port is disabled; locked without any allowed address passes nothing either
  b.set('VIF', v2, { locking_mode: 'disabled' });
  assert.equal(desiredNb(b.records).ports.get(u2)!.row.enabled, false);
  b.set('VIF', v1, { ipv4_allowed: [], ipv6_allowed: [] });
  assert.deepEqual(desiredNb(b.records).ports.get(u1)!.row, { name: u1, addresses: ['02:00:00:00:00:01'], port_security: ['02:00:00:00:00:01'], enabled: false, external_ids: { [NB_VIF_KEY]: u1 } });
  // a VIF whose MAC is not one gets no port
  b.set('VIF', v1, { MAC: 'nonsense' });
  assert.equal(desiredNb(b.records).ports.has(u1), false);
});

test('the diff: an empty NB gets everything in one go; the same records again write nothing', () => {
  const { b } = pool();
  const want = desiredNb(b.records);
  const first = planNb(want, { switches: [], ports: [] });
  assert.equal(first.changes.filter((c) => c.startsWith('create logical switch')).length, 1);
  assert.equal(first.changes.filter((c) => c.startsWith('create logical port')).length, 2);
  const nb = applyNbPlan({ switches: [], ports: [] }, first.ops);
  assert.equal(nb.ports.length, 2);
  assert.deepEqual(planNb(desiredNb(b.records), nb), { ops: [], changes: [] });
});

test('the diff writes only what changed, and never touches rows that are not xcpnet\'s', () => {
  const { b, v1, v2, priv } = pool();
  const foreignPort: NbRow = { _uuid: 'f0000000-0000-0000-0000-000000000001', name: 'theirs', addresses: ['unknown'], port_security: [], enabled: [], external_ids: {} };
  const foreign: NbRow = { _uuid: 'f0000000-0000-0000-0000-000000000002', name: 'other', ports: [foreignPort._uuid], external_ids: { owner: 'someone' } };
  let nb = applyNbPlan({ switches: [foreign], ports: [foreignPort] }, planNb(desiredNb(b.records), { switches: [foreign], ports: [foreignPort] }).ops);
  const u1 = b.rec('VIF', v1).uuid as string;
  // One VIF's mode changes: one update of that port, of the columns that differ.
  b.set('VIF', v1, { locking_mode: 'unlocked' });
  const p = planNb(desiredNb(b.records), nb);
  assert.deepEqual(p.changes, [`update logical port ${u1} (addresses,port_security)`]);
  nb = applyNbPlan(nb, p.ops);
  // A VIF goes: its port leaves its switch.
  const u2 = b.rec('VIF', v2).uuid as string;
  delete b.records.VIF[v2];
  const gone = planNb(desiredNb(b.records), nb);
  assert.deepEqual(gone.changes, [`delete logical port ${u2}`]);
  nb = applyNbPlan(nb, gone.ops);
  // The network loses its tunnels: its switch goes, with its ports; the foreign rows stay.
  for (const [r, t] of Object.entries(b.records.tunnel)) { delete b.records.PIF[t.access_PIF as string]; delete b.records.tunnel[r]; }
  const all = planNb(desiredNb(b.records), nb);
  assert.deepEqual(all.changes, [`delete logical switch xcpnet-${b.rec('network', priv).uuid as string}`]);
  nb = applyNbPlan(nb, all.ops);
  assert.deepEqual(nb, { switches: [foreign], ports: [foreignPort] });
});

test('the diff puts a new VIF on an existing switch, and a port xcpnet lost track of is corrected', () => {
  const { b, priv } = pool();
  let nb = applyNbPlan({ switches: [], ports: [] }, planNb(desiredNb(b.records), { switches: [], ports: [] }).ops);
  const vm = b.vm(Object.keys(b.records.host)[0]!, 2);
  const v = b.vif(vm, priv, 0, '02:00:00:00:00:09');
  const p = planNb(desiredNb(b.records), nb);
  assert.deepEqual(p.changes, [`create logical port ${b.rec('VIF', v).uuid as string}`]);
  assert.deepEqual(p.ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['insert Logical_Switch_Port', 'mutate Logical_Switch']);
  nb = applyNbPlan(nb, p.ops);
  // Someone disabled a port by hand: put back.
  const want: DesiredNb = desiredNb(b.records);
  nb.ports[0]!.enabled = false;
  assert.deepEqual(planNb(want, nb).changes, [`update logical port ${String(nb.ports[0]!.name)} (enabled)`]);
});
