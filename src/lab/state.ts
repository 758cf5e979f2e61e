// The lab state file: a record of every namespace, link and process a lab made, so that
// `lab down` removes exactly those. Written after every step, so a crash leaves a usable record.
// The lab's directory is 0700 and its own files 0600: it holds the master's root password file.
import { readFileSync, renameSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { privateDir, writePrivateFile } from '../common/private-files.js';
import { saveWiring } from './wiring.js';

export interface ProcRecord {
  pid: number;
  /** /proc/<pid>/stat start time: a recycled pid never matches it. */
  startTime: string;
  what: string;
  ns?: string;
}

export interface NicState {
  device: string;
  port: string;
  cable: 'up' | 'down';
}

export interface HostState {
  name: string;
  ns: string;
  nics: NicState[];
  ovs?: OvsState;
  /** The host's uuid (its own, kept when it joins the pool). */
  uuid?: string;
  /** host1: its agent; every other host: its `xcpnet serve`, which runs its agent (unless `services`). */
  agent?: ProcRecord;
  /** A host run as installed services (`lab up --services`): its agent, apart from its serve. */
  serviceAgent?: ProcRecord;
}

export interface OvsState {
  dir: string;
  dbSocket: string;
}

export interface LabState {
  version: 1;
  name: string;
  prefix: string;
  dir: string;
  status: 'building' | 'up';
  /** Whether this lab runs a pool (master + agents) or only the physical layer. */
  pool?: boolean;
  /** host2… left standalone by `lab up` (`lab join` joins them). */
  standalone?: boolean;
  /** host2… run as installed services: serve --no-agent and the agent apart, with the units' commands. */
  services?: boolean;
  /** The hosts' network backend (absent: openvswitch); bridge hosts run no Open vSwitch. */
  backend?: 'openvswitch' | 'bridge';
  /** What carries the pool's cross-server private networks (absent: xcpnet's mesh). */
  sdn?: 'mesh' | 'ovn';
  /** OVN's databases: standalone on the master (1) or a RAFT cluster on host1-3 (3). */
  ovnCluster?: 1 | 3;
  hosts: HostState[];
  nics: number;
  namespaces: string[];
  /** Links made outside lab namespaces (none by design; kept so teardown can prove it). */
  rootLinks: string[];
  processes: ProcRecord[];
  switch?: { ovs?: OvsState };
  upstream?: { ovs?: OvsState };
  /**
   * The master's root password is in `passwordFile` (mode 0600), never in this file. `view`: the
   * forwarder that serves the master's HTTPS on 127.0.0.1 of the machine, and its address.
   */
  master?: { dir: string; url: string; socket: string; proc?: ProcRecord; username: string; passwordFile: string;
    view?: { url: string; proc: ProcRecord } };
}

export function resolveStateDir(stateDir?: string): string {
  return resolve(stateDir ?? process.env.XCPNET_LAB_STATE_DIR ?? process.env.XCPNET_STATE_DIR ?? './var');
}

export function labDir(stateDir: string | undefined, name: string): string {
  return join(resolveStateDir(stateDir), 'lab', name);
}

export function statePath(dir: string): string {
  return join(dir, 'state.json');
}

export function loadState(dir: string): LabState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as LabState;
}

export function saveState(state: LabState): void {
  privateDir(state.dir);
  const p = statePath(state.dir);
  const tmp = `${p}.${process.pid}.tmp`;
  writePrivateFile(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, p);
  // What the topology view shows of the lab (cables pulled, NICs added) follows the state.
  saveWiring(state);
}

/** The lab master's root password, from its file. */
export function masterPassword(state: LabState): string {
  const file = state.master?.passwordFile;
  if (!file) throw new Error(`lab ${state.name} has no master password file (a lab made by an older xcpnet: lab down, then lab up)`);
  return readFileSync(file, 'utf8').split('\n')[0]!;
}

export function readStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    if (state === 'Z' || state === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function procRecord(pid: number, what: string, ns?: string): ProcRecord {
  const startTime = readStartTime(pid);
  if (startTime === undefined) throw new Error(`${what} (pid ${pid}) is not running`);
  return { pid, startTime, what, ...(ns ? { ns } : {}) };
}

/** True while the recorded process (and not a later one with its pid) runs. */
export function isRecordedAlive(p: ProcRecord): boolean {
  return readStartTime(p.pid) === p.startTime;
}

/** Pids named by `*.pid` files anywhere under the lab directory (OVS daemons write them). */
export function pidfilePids(dir: string): { pid: number; file: string }[] {
  const out: { pid: number; file: string }[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 6 || !existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      let st;
      try { st = statSync(p); } catch { continue; }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (name.endsWith('.pid')) {
        const pid = Number(readFileSync(p, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 1) out.push({ pid, file: p });
      }
    }
  };
  walk(dir, 0);
  return out;
}

/** Live daemons named by `*.pid` files under `dir` whose command line names `dir` (so not a recycled pid). */
export function daemonsIn(dir: string): ProcRecord[] {
  return pidfilePids(dir).flatMap((p) => {
    const startTime = readStartTime(p.pid);
    return startTime && readCmdline(p.pid).includes(dir) ? [{ pid: p.pid, startTime, what: p.file }] : [];
  });
}
