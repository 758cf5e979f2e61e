// bench/lab: time for `lab up` with 4 hosts, and for starting 20 VMs with one VIF each, as ratios
// to the time plain `ip netns add` + `ip link add veth` take for the same number of namespaces
// and links, measured in the same run. Needs root and Open vSwitch.
// Usage: node dist/bench/lab.js [--topology-only] [--rounds N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { labUp, labDown, labPrefix } from '../src/lab/index.js';
import { masterClient } from '../src/lab/pool.js';
import { loadState, labDir } from '../src/lab/state.js';
import { median } from './support.js';

const HOSTS = 4;
const NICS = 4;
const VMS = 20;
const name = 'bnch';
const prefix = labPrefix(name); // the baseline's namespaces too, so lab down removes them after a crash
const args = process.argv.slice(2);
const topologyOnly = args.includes('--topology-only');
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 3;

const ip = (...a: string[]): void => { execFileSync('ip', a, { stdio: 'ignore' }); };

/** Plain iproute2: `namespaces` namespaces and `links` veth pairs between them; removed after. */
function baseline(namespaces: number, links: number): number {
  const names = Array.from({ length: namespaces }, (_, i) => `${prefix}base${i}`);
  const t0 = process.hrtime.bigint();
  for (const n of names) ip('netns', 'add', n);
  for (let i = 0; i < links; i++) {
    ip('link', 'add', `${prefix}b${i}`, 'netns', names[i % names.length]!, 'type', 'veth', 'peer', 'name', `${prefix}c${i}`, 'netns', names[(i + 1) % names.length]!);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const n of names) ip('netns', 'del', n);
  return ms;
}

async function timeLabUp(stateDir: string, pool: boolean): Promise<number> {
  const t0 = process.hrtime.bigint();
  await labUp({ name, stateDir, hosts: HOSTS, nics: NICS, pool, progress: () => undefined });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Creates VMS VMs with one VIF each on the first network with a PIF, spread over the hosts, and starts them. */
async function timeVmStarts(stateDir: string): Promise<number> {
  const state = loadState(labDir(stateDir, name))!;
  const c = await masterClient(state);
  try {
    const hosts = Object.keys(await c.call<Record<string, unknown>>('host.get_all_records'));
    const nets = await c.call<Record<string, { PIFs: string[] }>>('network.get_all_records');
    const net = Object.entries(nets).find(([, n]) => n.PIFs.length > 0)![0];
    const vms: string[] = [];
    for (let i = 0; i < VMS; i++) {
      const vm = await c.call<string>('VM.create', { name_label: `bench${i}` });
      await c.call('VIF.create', { VM: vm, network: net, device: '0', MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
      vms.push(vm);
    }
    const t0 = process.hrtime.bigint();
    await Promise.all(vms.map((vm, i) => c.call('VM.start_on', vm, hosts[i % hosts.length], false, false)));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    await c.close();
  }
}

async function main(): Promise<void> {
  const namespaces = 2 + HOSTS;
  const links = 1 + HOSTS * NICS;
  const upTimes: number[] = [];
  const baseUp: number[] = [];
  const vmTimes: number[] = [];
  const baseVm: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const stateDir = mkdtempSync('/tmp/xcpb-lab-');
    try {
      baseUp.push(baseline(namespaces, links));
      upTimes.push(await timeLabUp(stateDir, !topologyOnly));
      if (!topologyOnly) {
        baseVm.push(baseline(VMS, VMS));
        vmTimes.push(await timeVmStarts(stateDir));
      }
    } finally {
      await labDown({ name, stateDir, progress: () => undefined });
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  const line = (what: string, t: number[], b: number[]): string =>
    `${what.padEnd(34)} ${median(t).toFixed(0).padStart(7)} ms   baseline ${median(b).toFixed(0).padStart(5)} ms   ratio ${(median(t) / median(b)).toFixed(1)}x`;
  console.log(`bench/lab (median of ${rounds}; baseline = ip netns add + ip link add veth for the same counts)`);
  console.log(line(`lab up, ${HOSTS} hosts x ${NICS} NICs${topologyOnly ? ' (no pool)' : ''}`, upTimes, baseUp));
  if (!topologyOnly) console.log(line(`start ${VMS} VMs with one VIF each`, vmTimes, baseVm));
}

main().catch((e: unknown) => {
  console.error(`bench/lab: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
