// Runs every test in two tiers, the first failing fast:
//  1. no-root tier: type-check (tsc, with noUncheckedIndexedAccess), lint (oxlint: the import-layer rule
//     in .oxlintrc.json), then the unit, component, rule, CLI and wire tests in parallel;
//  2. root tier: the system tests (real Open vSwitch, network namespaces, packets) two files at a time,
//     then the VM tier (QEMU VMs, test/vm). Skipped, with a message, when not root.
// Usage: node scripts/test.mjs [--setup CMD] [substring…]  — only test files whose path contains one of
// them; --setup runs CMD (as root, e.g. ./scripts/setup.sh) between the tiers, so that CI fails fast
// on the no-root tier before installing what the root tier needs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const totals = { pass: 0, fail: 0, skipped: 0 };
const finish = (failed) => {
  if (totals.fail === 0 && failed) totals.fail = 1; // a step or runner that failed without counting
  console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
  process.exit(failed ? 1 : 0);
};
const step = (title, cmd, args) => {
  console.log(`\n== ${title}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log(`${title}: failed`);
    finish(true);
  }
};

// Tier 1, no root. A fresh dist/: tsc never removes the output of a source that moved away.
rmSync('dist', { recursive: true, force: true });
step('type-check and build (tsc)', 'npx', ['tsc', '-p', '.']);
step('type-check the topology page (tsc, DOM)', 'npx', ['tsc', '-p', 'src/topology/page']);
step('build the topology page (esbuild)', 'node', ['scripts/build-web.mjs']);
step('lint: import layers (oxlint)', 'npx', ['oxlint', '-c', '.oxlintrc.json', '--quiet', 'src', 'test', 'bench']);

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const setupAt = args.indexOf('--setup');
const setup = setupAt >= 0 ? args.splice(setupAt, 2)[1] : undefined;
const filters = args;
const all = findTests('dist').filter((p) => filters.length === 0 || filters.some((f) => p.includes(f))).sort();
// System tests: two files at a time. Each lab names its namespaces, bridges and files with a
// prefix of its own and ends only the processes it started, so two labs do not meet; most of a
// system test's time is waiting on packets and daemons, which a second file uses (it halves
// the tier's time on two cores; CI's budget is 30 minutes).
const isSystem = (p) => p.startsWith('dist/test/system/');
// The VM tier (QEMU VMs booting Debian's kernel, test/vm) comes last, also one file at a time.
const isVm = (p) => p.startsWith('dist/test/vm/');
// The wire fuzz test asserts that a well-formed client is answered within 1 s while hostile
// clients hammer the server: it runs alone, so that the other test files do not share its cores.
const isAlone = (p) => p.endsWith('/fuzz.test.js');
const parallel = all.filter((p) => !isSystem(p) && !isVm(p) && !isAlone(p));
const alone = all.filter(isAlone);
const system = all.filter(isSystem);
const vm = all.filter(isVm);

// Each run also writes TAP to a file, so the runs' counts can be added up at the end.
const tapDir = mkdtempSync(join(tmpdir(), 'xcpnet-tap-'));
const run = (files, concurrency, name) => {
  if (files.length === 0) return true;
  console.log(`\n== ${name} tests (${files.length} files)`);
  const tap = join(tapDir, `${name}.tap`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
  { stdio: 'inherit', env: { ...process.env } });
  let text = '';
  try { text = readFileSync(tap, 'utf8'); } catch { /* the runner died before writing: counted as a failure below */ }
  for (const key of Object.keys(totals)) totals[key] += Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return r.status === 0;
};
const done = (failed) => {
  rmSync(tapDir, { recursive: true, force: true });
  finish(failed);
};
if (!run(parallel, 2, 'no-root') | !run(alone, 1, 'no-root, alone')) {
  console.log('no-root tier failed: root tier not run');
  done(true);
}

// Tier 2, root.
if (system.length + vm.length > 0 && process.getuid?.() !== 0) {
  console.log(`\nroot tier: skipped (${system.length} system and ${vm.length} VM test files need root; run as root, after scripts/setup.sh and scripts/vm-setup.sh)`);
  done(false);
}
if (setup && system.length + vm.length > 0) step(`root tier setup (${setup})`, setup, []);
let failed = !run(system, 2, 'system');
failed = !run(vm, 1, 'vm') || failed;
done(failed);
