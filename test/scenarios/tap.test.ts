import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTap } from './tap.js';

test('parseTap: the tree node --test reports, skips, todos and failures, names with # and \\', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpt-tap-'));
  try {
    const file = join(dir, 'sample.test.mjs');
    writeFileSync(file, `import { describe, test } from 'node:test';
describe('suite # one', () => {
  test('step 1', () => {});
  test('step 2', (t) => { t.skip('no vlan'); });
  test('fails', () => { throw new Error('ok 9 - not a result\\n---\\nstill not'); });
});
describe('suite two', () => {
  describe('inner', () => { test('deep', () => {}); });
  test('later', { todo: 'some day' }, () => {});
});
test('top \\\\ level', () => {});
`);
    // Without NODE_TEST_CONTEXT: inherited, it makes the child report to this runner, not in TAP.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env });
    assert.equal(r.status, 1, 'one test fails');
    assert.deepEqual(parseTap(r.stdout), [
      { name: 'suite # one', ok: false, directive: '', subtests: [
        { name: 'step 1', ok: true, directive: '', subtests: [] },
        { name: 'step 2', ok: true, directive: 'SKIP no vlan', subtests: [] },
        { name: 'fails', ok: false, directive: '', subtests: [] },
      ] },
      { name: 'suite two', ok: true, directive: '', subtests: [
        { name: 'inner', ok: true, directive: '', subtests: [{ name: 'deep', ok: true, directive: '', subtests: [] }] },
        { name: 'later', ok: true, directive: 'TODO some day', subtests: [] },
      ] },
      { name: 'top \\ level', ok: true, directive: '', subtests: [] },
    ]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
