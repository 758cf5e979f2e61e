// The VM tier runs the scenario suite on both real backends inside one QEMU VM, whose kernel
// (Debian's) has what this machine's may lack: 8021q, bonding, gretap, vxlan and the Open
// vSwitch kernel datapath. The guest runs the very files the system tier runs here
// (dist/test/system/scenarios-{bridge,ovs}.test.js, seen over the read-only 9p root), the OVS
// one on the kernel datapath. Each run's TAP is parsed and must list every scenario of
// scenarios.ts with every step passed: a scenario skipped for a missing kernel feature fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { VM_MODULES } from '../../src/lab/vm/host.js';
import { REPO_ROOT, vmTierSkipReason } from '../../src/lab/vm/kernel.js';
import { startVm, type LabVm } from '../../src/lab/vm/launch.js';
import { SCENARIOS } from '../scenarios/scenarios.js';
import { parseTap, type TapResult } from '../scenarios/tap.js';

const run = promisify(execFile);
const skip = vmTierSkipReason();
const log = (l: string): void => { process.stderr.write(`# ${l}\n`); };
// QEMU needs a network namespace to run in; this VM has no NIC, so an empty one of its own.
const PREFIX = `xvs${process.pid % 100000}`;
const NETNS = `${PREFIX}-ns`;
/** Bound on one backend's suite in the guest, a hang bound: on a 2-core machine at load ~15 both ran in ~860 s. */
const SUITE_TIMEOUT_MS = 1_200_000;

// What the guest kernel must provide beyond the launcher's modules, loaded at boot so that a
// failing autoload cannot turn into a skip: veths (the hosts' NICs), the tunnels.
const MODULES = [...VM_MODULES, 'veth', 'vxlan', 'ip_gre'];

/** Scenarios that are the reason for this file: they need a kernel feature the machine may lack. */
const NEEDS_KERNEL = [
  'VLAN: its own bridge on the parent\'s uplink with the tag, guests and address on it',
  'bond (active-backup): the member NICs leave their bridges for one bond uplink',
  'bond (balance-slb): the member NICs leave their bridges for one bond uplink',
  'bond (lacp): the member NICs leave their bridges for one bond uplink',
  'cross-server private network over vxlan: one tunnel to the other host, guests on both',
  'cross-server private network over gre: one tunnel to the other host, guests on both',
];

/** Every test the suite must have run for `target`, suite by suite, each step passed. */
function expected(target: string): TapResult[] {
  return [
    { name: `${target}: NIC inventory`, ok: true, directive: '', subtests: [{ name: 'every NIC with its known facts (carrier, speed, duplex, driver…)', ok: true, directive: '', subtests: [] }] },
    ...SCENARIOS.map((sc): TapResult => ({
      name: `${target}: ${sc.name}`, ok: true, directive: '',
      subtests: sc.steps.map((_, k) => ({ name: `step ${k + 1}`, ok: true, directive: '', subtests: [] })),
    })),
  ];
}

let vm: LabVm | undefined;
let dir = '';
let failed = false;

interface GuestRun { file: string; code: number | null; signal: string | null; stdout: string; stderr: string; seconds: number }

/** Runs one scenario file in the guest under node --test, TAP on stdout. */
async function runInGuest(file: string, env: Record<string, string>): Promise<GuestRun> {
  const started = Date.now();
  const r = await vm!.exec([process.execPath, '--test', '--test-reporter=tap', join(REPO_ROOT, 'dist/test/system', file)], { env, timeoutMs: SUITE_TIMEOUT_MS });
  return { file, ...r, seconds: (Date.now() - started) / 1000 };
}

async function assertSuite(running: Promise<GuestRun> | undefined, target: string): Promise<void> {
  try {
    assert.ok(running, 'the guest run was started');
    const r = await running;
    log(`${target}: the suite ran in the guest in ${r.seconds.toFixed(1)} s (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})`);
    const where = `${r.file} in the guest exited ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout (end):\n${r.stdout.slice(-8000)}\n--- stderr (end):\n${r.stderr.slice(-3000)}`;
    assert.equal(r.code, 0, where);
    assert.deepEqual(parseTap(r.stdout), expected(target), `every scenario ran and passed, none skipped\n${where}`);
  } catch (e) { failed = true; throw e; }
}

// Both suites run at once, each on one of the guest's two vCPUs (they use disjoint namespaces).
let bridgeRun: Promise<GuestRun> | undefined;
let ovsRun: Promise<GuestRun> | undefined;

describe('VM tier: the scenario suite on both backends, on a kernel with every feature', { skip, concurrency: false }, () => {
  before(async () => {
    dir = mkdtempSync('/tmp/xcpt-vms-');
    await run('ip', ['netns', 'add', NETNS]);
    vm = await startVm({ name: 'vmscen', prefix: `${PREFIX}-`, dir: join(dir, 'vm'), netns: NETNS, nics: [], modules: MODULES, memoryMb: 1536 });
    log(`vmscen booted in ${(vm.bootMs / 1000).toFixed(1)} s`);
    bridgeRun = runInGuest('scenarios-bridge.test.js', {});
    ovsRun = runInGuest('scenarios-ovs.test.js', { XCPNET_SCENARIO_OVS_DATAPATH: 'system' });
    // Awaited by their tests; a rejection before then is not an unhandled one.
    for (const p of [bridgeRun, ovsRun]) p.catch(() => undefined);
  });

  after(async () => {
    if (vm && failed) log(`console (end):\n${vm.consoleTail()}`);
    await vm?.stop().catch(() => undefined);
    await run('ip', ['netns', 'del', NETNS]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the scenarios that need a kernel feature are in the suite', () => {
    const names = SCENARIOS.map((s) => s.name);
    for (const n of NEEDS_KERNEL) assert.ok(names.includes(n), `scenario missing from scenarios.ts: ${n}`);
  });

  test('the guest kernel has every feature the suite needs', { timeout: 60_000 }, async () => {
    const loaded = await vm!.run(['cat', '/proc/modules']);
    for (const m of MODULES) assert.match(loaded, new RegExp(`^${m} `, 'm'), `module ${m} loaded in the guest`);
  });

  test('Linux bridge backend: every scenario passes, VLANs, bonds and both tunnels included', { timeout: SUITE_TIMEOUT_MS + 30_000 }, async () => {
    await assertSuite(bridgeRun, 'bridge');
  });

  test('Open vSwitch on the kernel datapath: every scenario passes', { timeout: SUITE_TIMEOUT_MS + 30_000 }, async () => {
    await assertSuite(ovsRun, 'openvswitch (kernel datapath)');
  });
});
