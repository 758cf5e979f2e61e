// Private Open vSwitch instances for the lab (one per switch, upstream and host namespace),
// each with its own run directory: never the system service, never /var/run/openvswitch.
// The kernel may have no openvswitch module, so every bridge uses the userspace datapath.
import { existsSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { startOvs } from '../backends/ovsdb/instance.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunOptions } from './sh.js';
import { daemonsIn, procRecord, readStartTime, type ProcRecord } from './state.js';

/** The database file startOvs uses in an instance's directory. */
const DB_FILE = 'conf.db';

export interface OvsInstance {
  dir: string;
  /** `unix:<dir>/db.sock` */
  dbSocket: string;
  procs: ProcRecord[];
}

/**
 * Starts ovsdb-server + ovs-vswitchd inside `ns` with `dir` as their run directory (the
 * ovsdb backend's startOvs). Daemons left behind in `dir` by an earlier run are stopped first
 * (only pids whose command line names this directory). The database of an earlier run is kept,
 * as a host's own Open vSwitch keeps it across a crash or a reboot: every row keeps its uuid and
 * the agent finds its switch as it left it. Everything else in `dir` (sockets, pidfiles, logs) is
 * removed; a lab that is torn down loses its directory, so a new lab starts from an empty db.
 */
export async function startOvsInstance(dir: string, ns: string, what: string): Promise<OvsInstance> {
  await stopDaemonsIn(dir);
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) if (f !== DB_FILE) rmSync(join(dir, f), { recursive: true, force: true });
  }
  const inst = await startOvs({ dir, netns: ns, vswitchd: true });
  const procs: ProcRecord[] = [procRecord(inst.pids.ovsdbServer, `${what} ovsdb-server`, ns)];
  if (inst.pids.vswitchd) procs.push(procRecord(inst.pids.vswitchd, `${what} ovs-vswitchd`, ns));
  // `ovs-appctl -t ovs-vswitchd` looks for <rundir>/<daemon>.<pid>.ctl: name the sockets so.
  for (const [daemon, pid, ctl] of [['ovsdb-server', inst.pids.ovsdbServer, inst.ctl.ovsdbServer], ['ovs-vswitchd', inst.pids.vswitchd, inst.ctl.vswitchd]] as const) {
    if (pid && ctl) { try { symlinkSync(ctl, join(dir, `${daemon}.${pid}.ctl`)); } catch { /* exists */ } }
  }
  return { dir, dbSocket: inst.dbSocket, procs };
}

/** Stops daemons whose pidfile is in `dir` and whose command line names `dir`. */
export async function stopDaemonsIn(dir: string): Promise<number[]> {
  const victims = daemonsIn(dir);
  await killProcesses(victims);
  return victims.map((v) => v.pid);
}

/** SIGTERM (or `first`), then SIGKILL after a bounded wait; only processes whose start time still matches. */
export async function killProcesses(procs: ProcRecord[], graceMs = 3000, first: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const alive = (p: ProcRecord): boolean => readStartTime(p.pid) === p.startTime;
  const signal = (sig: NodeJS.Signals): void => {
    for (const p of procs) if (alive(p)) { try { process.kill(p.pid, sig); } catch { /* gone */ } }
  };
  signal(first);
  const deadline = Date.now() + graceMs;
  while (procs.some(alive) && Date.now() < deadline) await sleep(50);
  if (procs.some(alive)) {
    signal('SIGKILL');
    const hard = Date.now() + 3000;
    while (procs.some(alive) && Date.now() < hard) await sleep(50);
  }
}

/** `ovs-appctl` to one instance's ovs-vswitchd (its control socket is named in its directory). */
export function vswitchdAppctl(dir: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string }> {
  return run('ovs-appctl', ['-t', join(dir, 'ovs-vswitchd.ctl'), ...args], { timeoutMs: 10_000, ...opts });
}

/** `ovs-vsctl` against one instance; waits for ovs-vswitchd to apply the change (bounded). */
export function vsctl(dbSocket: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string }> {
  return run('ovs-vsctl', [`--db=${dbSocket}`, '--timeout=20', ...args], opts);
}

/** Rows of `ovs-vsctl --format=json list TABLE`, with OVSDB sets/maps flattened. */
export async function vsctlList(dbSocket: string, table: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const r = await vsctl(dbSocket, ['--format=json', `--columns=${columns.join(',')}`, 'list', table]);
  const parsed = JSON.parse(r.stdout) as { headings: string[]; data: unknown[][] };
  return parsed.data.map((row) => Object.fromEntries(parsed.headings.map((h, i) => [h, flattenDatum(row[i])])));
}

function flattenDatum(d: unknown): unknown {
  if (!Array.isArray(d)) return d;
  if (d[0] === 'set') return (d[1] as unknown[]).map(flattenDatum);
  if (d[0] === 'map') return Object.fromEntries((d[1] as [unknown, unknown][]).map(([k, v]) => [String(flattenDatum(k)), flattenDatum(v)]));
  if (d[0] === 'uuid' || d[0] === 'named-uuid') return d[1];
  return d;
}
