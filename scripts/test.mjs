// Runs every test: unit, component and wire tests in parallel, then the system tests
// (real Open vSwitch, network namespaces, packets) one file at a time.
// Usage: node scripts/test.mjs [substring…]  — only test files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const all = findTests('dist').filter((p) => filters.length === 0 || filters.some((f) => p.includes(f))).sort();
// System tests share the machine's process table and namespaces: run them serially.
const isSystem = (p) => p.includes('/system/') || p.includes('/lab/') && p.startsWith('dist/test/');
const parallel = all.filter((p) => !isSystem(p));
const serial = all.filter(isSystem);

let failed = false;
const run = (files, concurrency) => {
  if (files.length === 0) return;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env } });
  if (r.status !== 0) failed = true;
};
run(parallel, 2);
run(serial, 1);
process.exit(failed ? 1 : 0);
