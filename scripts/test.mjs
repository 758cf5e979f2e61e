// Runs every test: unit, component and wire tests in parallel, then the system tests
// (real Open vSwitch, network namespaces, packets) one file at a time, then the VM tier.
// Usage: node scripts/test.mjs [substring…]  — only test files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const isSystem = (p) => p.startsWith('dist/test/system/');
// The VM tier (QEMU VMs booting Debian's kernel, test/vm) comes last, also one file at a time.
const isVm = (p) => p.startsWith('dist/test/vm/');
const parallel = all.filter((p) => !isSystem(p) && !isVm(p));
const serial = all.filter(isSystem);
const vm = all.filter(isVm);

// Each run also writes TAP to a file, so the two runs' counts can be added up at the end.
const tapDir = mkdtempSync(join(tmpdir(), 'xcpnet-tap-'));
let failed = false;
const totals = { pass: 0, fail: 0, skipped: 0 };
const run = (files, concurrency, name) => {
  if (files.length === 0) return;
  const tap = join(tapDir, `${name}.tap`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
  { stdio: 'inherit', env: { ...process.env } });
  if (r.status !== 0) failed = true;
  const text = readFileSync(tap, 'utf8');
  for (const key of Object.keys(totals)) totals[key] += Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
};
run(parallel, 2, 'parallel');
run(serial, 1, 'system');
if (vm.length && process.getuid?.() !== 0) console.log('VM tier: skipped (needs root; see scripts/vm-setup.sh)');
run(vm, 1, 'vm');
rmSync(tapDir, { recursive: true, force: true });
if (totals.fail === 0 && failed) totals.fail = 1; // a runner that died without counting
console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(failed ? 1 : 0);
