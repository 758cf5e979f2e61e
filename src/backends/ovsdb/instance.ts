// A private Open vSwitch instance (ovsdb-server, optionally ovs-vswitchd) living entirely
// in one directory: db file, sockets, pidfiles, logs. Used by tests and by the lab (one
// per lab host). It never touches /var/run/openvswitch or the system database: every path
// is explicit, and OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR/OVS_SYSCONFDIR point at `dir` because
// ovs-vswitchd puts per-bridge sockets (<br>.mgmt, <br>.snoop) in OVS_RUNDIR and the
// ovs-* tools find their defaults there.

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SYSTEM_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Unix socket paths are limited to 107 bytes; ovs-vswitchd adds "/<bridge≤15>.snoop" to OVS_RUNDIR. */
const MAX_DIR_LEN = 107 - '/'.length - 15 - '.snoop'.length;

export interface StartOvsOptions {
  /** Directory for everything (created if missing, removed by stop()). Keep it short. */
  dir: string;
  /** Run the daemons inside this existing network namespace (`ip netns exec`). */
  netns?: string;
  /** Also start ovs-vswitchd (bridges must then use datapath_type=netdev without the kernel module). */
  vswitchd: boolean;
  /** Extra ovsdb-server remotes, e.g. 'ptcp:6640:127.0.0.1'. */
  remotes?: string[];
  /** Schema file (default: the system's vswitch.ovsschema). */
  schema?: string;
  /** Bound on each startup step (default 10000 ms). */
  timeoutMs?: number;
}

export interface OvsPids {
  ovsdbServer: number;
  vswitchd?: number;
}

export interface OvsInstance {
  dir: string;
  /** Where to connect: `unix:<dir>/db.sock`. */
  dbSocket: string;
  dbFile: string;
  netns?: string;
  /** Environment for ovs-vsctl/ovs-appctl/ovs-ofctl so their defaults point into `dir`. */
  env: NodeJS.ProcessEnv;
  /** Control sockets, for `ovs-appctl -t <path>`. */
  ctl: { ovsdbServer: string; vswitchd?: string };
  readonly pids: OvsPids;
  /** Runs `ovs-vsctl --db=<dbSocket> --timeout=10 ARGS` (add '--no-wait' when vswitchd is not running); returns stdout. */
  vsctl(...args: string[]): Promise<string>;
  /** Runs `ovs-appctl -t <ctl of daemon> ARGS` in the instance's netns; returns stdout. */
  appctl(daemon: 'ovsdb-server' | 'ovs-vswitchd', ...args: string[]): Promise<string>;
  /** Kills ovsdb-server (SIGKILL unless told otherwise) and starts it again on the same db and socket. */
  restartDb(opts?: { signal?: NodeJS.Signals; whileDown?: () => Promise<void> }): Promise<void>;
  /** Kills exactly the recorded pids (SIGTERM, SIGKILL after a bounded wait) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** Environment that points ovs-vsctl / ovs-appctl / ovs-vswitchd at an instance's directory. */
export function ovsEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
}

/** Running (not a zombie: detached daemons are reparented to init, which may reap them late). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** True if `pid` is still the daemon we started (its command line names our directory): guards against pid reuse. */
async function isOurs(pid: number, dir: string): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(dir);
  } catch {
    return false;
  }
}

async function killPid(pid: number, dir: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!(await isOurs(pid, dir))) return;
  try { process.kill(pid, signal); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (isRunning(pid) && (await isOurs(pid, dir))) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    const hard = Date.now() + 2000;
    while (isRunning(pid) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
  }
}

async function readPid(file: string): Promise<number> {
  const pid = Number((await readFile(file, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pidfile ${file}`);
  return pid;
}

export async function startOvs(opts: StartOvsOptions): Promise<OvsInstance> {
  const dir = resolve(opts.dir);
  if (dir.length > MAX_DIR_LEN) {
    throw new Error(`OVS instance dir ${dir} is too long for unix socket paths (max ${MAX_DIR_LEN} bytes)`);
  }
  const timeout = opts.timeoutMs ?? 10_000;
  const env = ovsEnv(dir);
  const inNs = (cmd: string, args: string[]): [string, string[]] =>
    opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, args];
  const exec = async (cmd: string, args: string[]) => {
    const [c, a] = inNs(cmd, args);
    try {
      return (await run(c, a, { env, timeout })).stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
    }
  };

  await mkdir(dir, { recursive: true });
  const dbFile = join(dir, 'conf.db');
  const sock = join(dir, 'db.sock');
  const dbSocket = `unix:${sock}`;
  const ctl = { ovsdbServer: join(dir, 'ovsdb-server.ctl'), vswitchd: opts.vswitchd ? join(dir, 'ovs-vswitchd.ctl') : undefined };
  const pids: OvsPids = { ovsdbServer: 0 };
  let stopped = false;

  const startDbServer = async () => {
    const pidfile = join(dir, 'ovsdb-server.pid');
    await exec('ovsdb-server', [
      dbFile, `--remote=punix:${sock}`, '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
      ...(opts.remotes ?? []).map((r) => `--remote=${r}`),
      `--pidfile=${pidfile}`, '--detach', '--no-chdir', `--log-file=${join(dir, 'ovsdb-server.log')}`,
      `--unixctl=${ctl.ovsdbServer}`,
    ]);
    pids.ovsdbServer = await readPid(pidfile);
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // vswitchd first, so it does not log a storm of reconnect attempts to a dead db.
    if (pids.vswitchd) await killPid(pids.vswitchd, dir, 3000);
    if (pids.ovsdbServer) await killPid(pids.ovsdbServer, dir, 3000);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (!existsSync(dbFile)) await exec('ovsdb-tool', ['create', dbFile, opts.schema ?? SYSTEM_SCHEMA]);
    await startDbServer();
    await exec('ovs-vsctl', [`--db=${dbSocket}`, '--no-wait', `--timeout=${Math.ceil(timeout / 1000)}`, 'init']);
    if (opts.vswitchd) {
      const pidfile = join(dir, 'ovs-vswitchd.pid');
      await exec('ovs-vswitchd', [
        dbSocket, `--pidfile=${pidfile}`, '--detach', '--no-chdir', `--log-file=${join(dir, 'ovs-vswitchd.log')}`,
        `--unixctl=${ctl.vswitchd}`,
      ]);
      pids.vswitchd = await readPid(pidfile);
      // Without --no-wait, init bumps next_cfg and waits for cur_cfg: proves vswitchd is up and configured.
      await exec('ovs-vsctl', [`--db=${dbSocket}`, `--timeout=${Math.ceil(timeout / 1000)}`, 'init']);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir, dbSocket, dbFile, netns: opts.netns, env, ctl, pids,
    vsctl: (...args) => exec('ovs-vsctl', [`--db=${dbSocket}`, `--timeout=${Math.ceil(timeout / 1000)}`, ...args]),
    appctl: (daemon, ...args) => {
      const t = daemon === 'ovsdb-server' ? ctl.ovsdbServer : ctl.vswitchd;
      if (!t) return Promise.reject(new Error('ovs-vswitchd is not part of this instance'));
      return exec('ovs-appctl', ['-t', t, ...args]);
    },
    restartDb: async ({ signal = 'SIGKILL', whileDown } = {}) => {
      await killPid(pids.ovsdbServer, dir, 3000, signal);
      if (whileDown) await whileDown();
      await startDbServer();
    },
    stop,
  };
}
