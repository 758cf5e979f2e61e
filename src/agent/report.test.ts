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
