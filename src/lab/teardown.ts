// `lab down`: remove exactly what a lab made. The state file names it; after a crash that left
// no state file, the lab's unique prefix and the pidfiles under its directory name it instead.
import { rmSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ip, netns } from '../backends/linux/ip.js';
import { ip } from './sh.js';
import { killProcesses } from './ovs.js';
import { loadState, daemonsIn, isRecordedAlive, type ProcRecord } from './state.js';
import { hasLabPrefix } from './plan.js';

export interface DownReport {
  pids: number[];
  namespaces: string[];
  links: string[];
  dirRemoved: boolean;
}

export async function teardownLab(dir: string, prefix: string, progress: (l: string) => void): Promise<DownReport> {
  const state = loadState(dir);
  // 1. Processes first: a namespace with a live process in it outlives `ip netns del`.
  const recorded: ProcRecord[] = [];
  if (state) {
    recorded.push(...state.processes);
    for (const h of state.hosts) for (const p of [h.agent, h.serviceAgent]) if (p) recorded.push(p);
    if (state.master?.proc) recorded.push(state.master.proc);
    if (state.master?.view) recorded.push(state.master.view.proc);
  }
  // Agents and the master first: an agent supervises its host's ovn-controller and would start
  // it again. Then the daemons with pidfiles under the lab dir (counted only if the process's
  // command line names the lab dir), read after that, and the OVS daemons last.
  const order = (p: ProcRecord): number => (/ovs(db-server|-vswitchd)/.test(p.what) ? 1 : 0);
  const first = recorded.filter(isRecordedAlive);
  await killProcesses(first.filter((p) => order(p) === 0));
  const rest = daemonsIn(dir).filter((p) => !first.some((r) => r.pid === p.pid) && isRecordedAlive(p));
  await killProcesses(rest.filter((p) => order(p) === 0));
  await killProcesses([...first, ...rest].filter((p) => order(p) === 1));
  const alive = [...first, ...rest];
  if (alive.length) progress(`stopped ${alive.length} processes (${[...new Set(alive.map((p) => p.what.split(' ')[0]))].join(', ')})`);

  // 2. Namespaces: the recorded ones and any carrying the prefix (guests made by agents too).
  const present = await netns.list();
  const namespaces = present.filter((ns) => (state?.namespaces.includes(ns) ?? false) || hasLabPrefix(prefix, ns));
  for (const ns of namespaces) await ip(undefined, ['netns', 'del', ns], { allowFail: true });
  if (namespaces.length) progress(`removed namespaces ${namespaces.join(' ')}`);

  // 3. Links in the machine's own namespace with the prefix (none by design; a crash mid-step).
  const links = (await new Ip().links()).map((l) => l.ifname).filter((n) => hasLabPrefix(prefix, n));
  for (const l of links) await ip(undefined, ['link', 'del', l], { allowFail: true });
  if (links.length) progress(`removed links ${links.join(' ')}`);

  // 4. The per-namespace resolver files agents wrote (/etc/netns/<namespace>/resolv.conf).
  let netnsEtc: string[] = [];
  try { netnsEtc = readdirSync('/etc/netns').filter((n) => hasLabPrefix(prefix, n)); } catch { /* none */ }
  for (const n of netnsEtc) rmSync(join('/etc/netns', n), { recursive: true, force: true });
  if (netnsEtc.length) progress(`removed /etc/netns/{${netnsEtc.join(',')}}`);

  // 5. The lab's directory (state, OVS databases, logs).
  const dirRemoved = existsSync(dir);
  rmSync(dir, { recursive: true, force: true });
  return { pids: alive.map((p) => p.pid), namespaces, links, dirRemoved };
}
