// The report the agent builds is one the master takes: complete, typed, within the limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReport, REPORT_LIMITS } from '../protocol/host-agent.js';
import { compileHost } from './desired.js';
import { PoolBuilder } from './pool-builder.js';
import { buildReport } from './reconcile.js';

test('a long error message is cut to the protocol\'s limit, so the report still passes the master\'s checks', () => {
  const b = new PoolBuilder();
  const h = b.host('11111111-2222-3333-4444-555555555555');
  const d = compileHost(b.records, h);
  const r = buildReport(d, { bridges: [] }, { 'OpaqueRef:x': 'e'.repeat(5000) }, 'fake', []);
  assert.equal(r.errors['OpaqueRef:x']!.length, REPORT_LIMITS.text);
  assert.deepEqual(parseReport(r), r);
});

test('a bond\'s active member goes into the report by device name; the master\'s check takes a device name and nothing else', () => {
  const b = new PoolBuilder();
  const h = b.host('11111111-2222-3333-4444-555555555555');
  const d = compileHost(b.records, h);
  const bond = { ref: 'OpaqueRef:bond', bridge: 'xapi1' } as (typeof d.bonds)[number];
  const observed = { bridges: [{ name: 'xapi1', id: 'x', ours: true, mtu: 1500, mac: null, up: true, addrs: [], interfaces: [], tunnels: [], vifs: [], uplink: { kind: 'bond' as const, device: 'bond0', members: [{ name: 'eth2', up: false }, { name: 'eth3', up: true }], active: 'eth3' } }] };
  const r = buildReport({ ...d, bonds: [bond] }, observed as Parameters<typeof buildReport>[1], {}, 'fake', []);
  assert.deepEqual(r.Bonds, { 'OpaqueRef:bond': { links_up: 1, active_member: 'eth3' } });
  assert.deepEqual(parseReport(r), r);
  assert.deepEqual(parseReport({ ...r, Bonds: { x: { links_up: 0 } } }).Bonds, { x: { links_up: 0 } }, 'absent: no member active');
  for (const bad of ['', 'eth 2', 'a'.repeat(16), '../eth2', 3, null]) {
    assert.throws(() => parseReport({ ...r, Bonds: { x: { links_up: 1, active_member: bad } } }), /active_member/, String(bad));
  }
});
