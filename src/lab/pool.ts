// The lab's pool: the master (`xcpnet serve`) on loopback and its unix socket, and one
// `xcpnet agent` per host namespace. Processes are started detached (they outlive `lab up`),
// recorded in the state file, and given a pidfile under the lab dir for crash cleanup.
// The master's root password lives in <lab>/master/root-password (0600): the master reads it with
// --root-password-file; no command line carries it. No agent holds it: each logs in with its host
// credential, a 0600 file under <lab>/agents (host1's written by the master, the others' given
// by the master when the lab admits them).
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, randomUUID } from 'node:crypto';
import { API_VERSION } from '../server/boot.js';
import { XapiClient } from '../client/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { procRecord, isRecordedAlive, saveState, masterPassword, type HostState, type LabState } from './state.js';
import { privateDir, writePrivateFile } from '../common/private-files.js';
import { killProcesses } from './ovs.js';
import { writeNetworkConf } from '../backends/network-conf.js';
import type { Ctx } from './topology.js';
import { wiringPath } from './wiring.js';

/** The built entry point next to this module (dist/src/bin/xcpnet.js). */
export const XCPNET_JS = fileURLToPath(new URL('../bin/xcpnet.js', import.meta.url));
interface Spawned {
  pid: number;
  log: string;
}

/** The environment of the lab's daemons: the caller's, without any password it may hold. */
function daemonEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['XE_PASSWORD', 'XCPNET_ROOT_PASSWORD', 'XCPNET_PASSWORD']) delete env[k];
  return { ...env, ...extra };
}

/** Starts a detached process with output to `log` and a pidfile; `ns` runs it in a namespace. */
function spawnDaemon(argv: string[], log: string, pidfile: string, ns: string | undefined, env: NodeJS.ProcessEnv): Spawned {
  const fd = openSync(log, 'a', 0o600);
  // nsenter enters only the network namespace: `ip netns exec` would also give the process a
  // private mount namespace, where the guest namespaces an agent makes (bind mounts under
  // /run/netns) stay invisible to everyone else. nsenter execs, so the pid is the daemon's own.
  const full = ns ? ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv] : argv;
  try {
    const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
    child.unref();
    writeFileSync(pidfile, `${child.pid}\n`, { mode: 0o600 });
    return { pid: child.pid, log };
  } finally {
    closeSync(fd);
  }
}

/** A failure that retrying cannot cure (a process died): waitFor gives up at once. */
class Fatal extends Error {}

/** Polls `probe` every 100 ms until it gives a value, or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function masterClient(state: LabState): Promise<XapiClient> {
  const m = state.master!;
  return XapiClient.connect({ target: `unix:${m.socket}`, user: m.username, password: masterPassword(state), originator: 'xcpnet-lab' });
}

/** Starts the pool master unless the recorded one is alive; host1 is the master's own host. */
export async function ensureMaster(ctx: Ctx): Promise<void> {
  const { state } = ctx;
  if (state.master?.proc && isRecordedAlive(state.master.proc)) return;
  const dir = join(state.dir, 'master');
  privateDir(dir);
  // Kept across restarts of the master, which sets root's password from it every time.
  const passwordFile = join(dir, 'root-password');
  if (!existsSync(passwordFile)) writePrivateFile(passwordFile, `${randomBytes(12).toString('base64url')}\n`);
  const log = join(dir, 'serve.log');
  const started = Date.now();
  privateDir(join(state.dir, 'agents'));
  const sp = spawnDaemon([process.execPath, XCPNET_JS, 'serve', '--state-dir', dir, '--listen', '127.0.0.1:0',
    '--no-agent', '--host-name', 'host1', '--root-password-file', passwordFile,
    '--agent-credential-file', credentialFile(state, 'host1'), '--lab-wiring', wiringPath(state.dir)], log, join(dir, 'serve.pid'), undefined, daemonEnv());
  const proc = procRecord(sp.pid, 'master xcpnet-serve');
  const socket = join(dir, 'xapi.sock');
  state.master = { dir, url: '', socket, proc, username: 'root', passwordFile };
  saveState(state);
  // The listening line names the port the kernel chose.
  const url = await waitFor('the master to listen', 20_000, () => {
    if (!isRecordedAlive(proc)) throw new Fatal(`xcpnet serve exited; see ${log}:\n${tail(log)}`);
    const m = /serving XenAPI on (https?:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(log, 'utf8'));
    return m?.[1];
  });
  state.master.url = url;
  saveState(state);
  const c = await waitFor('a session on the master', 10_000, () => masterClient(state));
  await c.close();
  ctx.progress(`master: xcpnet serve (pid ${sp.pid}) at ${url} and unix:${socket}, started in ${Date.now() - started} ms`);
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '';
}

/** Where a lab host's agent credential is kept (0600 in the 0700 agents directory). */
export function credentialFile(state: LabState, host: string): string {
  return join(state.dir, 'agents', `${host}.credential`);
}

/** Admits a host to the pool by the master's half of pool.join; returns its uuid. The credential goes to `file`. */
export async function admitLabHost(c: XapiClient, name: string, address: string, file: string): Promise<string> {
  const uuid = randomUUID();
  const got = await c.call<{ host: string; secret: string }>('pool.admit_host', {
    uuid, name_label: name, hostname: name, address, API_version_major: API_VERSION.major, API_version_minor: API_VERSION.minor, PIFs: [],
  });
  writePrivateFile(file, `${JSON.stringify({ host: got.host, secret: got.secret })}\n`);
  return uuid;
}

/**
 * Joins every lab host to the pool: host1 is the master's own host (booted with that name), the
 * others are admitted with the master's half of pool.join (pool.admit_host), their NICs found by
 * PIF.scan once their agent runs. TODO(issue 10): each host a standalone `xcpnet serve` in its
 * namespace that runs `pool.join` itself, once the master is reachable from the host namespaces.
 */
export async function ensurePoolHosts(ctx: Ctx, c: XapiClient): Promise<void> {
  const records = await c.call<Record<string, { uuid: string; name_label: string }>>('host.get_all_records');
  const byName = new Map(Object.values(records).map((h) => [h.name_label, h.uuid]));
  for (const [i, h] of ctx.state.hosts.entries()) {
    let uuid = byName.get(h.name);
    if (uuid && !existsSync(credentialFile(ctx.state, h.name))) {
      throw new Error(`${h.name}: in the pool but its credential ${credentialFile(ctx.state, h.name)} is gone; lab down and up again`);
    }
    if (!uuid) {
      uuid = await admitLabHost(c, h.name, ctx.plan.hosts[i]!.mgmtIp, credentialFile(ctx.state, h.name));
      ctx.progress(`${h.name}: joined the pool (uuid ${uuid})`);
    }
    h.uuid = uuid;
  }
  saveState(ctx.state);
}

/** Starts the host's agent inside its namespace, against its own OVS and the master's socket. */
export async function ensureAgent(ctx: Ctx, h: HostState): Promise<boolean> {
  if (h.agent && isRecordedAlive(h.agent)) return false;
  const bridge = ctx.state.backend === 'bridge';
  if (!h.uuid || (!h.ovs && !bridge) || !ctx.state.master) throw new Error(`${h.name}: no uuid, OVS or master to start an agent with`);
  const dir = join(ctx.state.dir, 'agents');
  privateDir(dir);
  const m = ctx.state.master;
  // The host's backend, chosen as on XCP: its network.conf, read by the agent when it starts.
  const conf = join(dir, `${h.name}.network.conf`);
  writeNetworkConf(conf, bridge ? 'bridge' : 'openvswitch');
  const sp = spawnDaemon([process.execPath, XCPNET_JS, 'agent', '--master', `unix:${m.socket}`, '--host', h.uuid, '--network-conf', conf,
    '--credential-file', credentialFile(ctx.state, h.name), ...(h.ovs && !bridge ? ['--ovsdb', h.ovs.dbSocket] : []), '--netns', h.ns,
    // The agent keeps its copy of the host's configuration in agents/<host>/agent.
    '--state-dir', join(dir, h.name)],
    join(dir, `${h.name}.log`), join(dir, `${h.name}.pid`), h.ns, daemonEnv());
  h.agent = procRecord(sp.pid, `${h.name} xcpnet-agent`, h.ns);
  saveState(ctx.state);
  return true;
}

/** SIGKILL, as a crash would: the new agent must pick up without disturbing running flows. */
export async function restartAgent(ctx: Ctx, h: HostState): Promise<void> {
  if (h.agent) await killProcesses([h.agent], 0, 'SIGKILL');
  delete h.agent;
  await ensureAgent(ctx, h);
  ctx.progress(`${h.name}: agent restarted (pid ${h.agent!.pid})`);
}

/**
 * The master crashes (SIGKILL) and comes back after `outageMs` on the same state directory, as a
 * pool master's service would: the agents must log in again by themselves and disturb nothing.
 */
export async function restartMaster(ctx: Ctx, outageMs = 0, whileDown?: () => Promise<void>): Promise<void> {
  const m = ctx.state.master;
  if (!m) throw new Error(`lab ${ctx.state.name} has no pool master`);
  if (m.proc) await killProcesses([m.proc], 0, 'SIGKILL');
  const back = Date.now() + outageMs;
  delete m.proc;
  saveState(ctx.state);
  ctx.progress(`master: killed${outageMs > 0 ? `; down for ${outageMs} ms` : ''}`);
  await whileDown?.();
  if (back > Date.now()) await sleep(back - Date.now());
  await ensureMaster(ctx);
}

interface PifRec { uuid: string; host: string; device: string; VLAN: number; physical: boolean; management: boolean;
  ip_configuration_mode: string; IP: string; netmask: string; gateway: string }

/**
 * Per host: PIF.scan until the agent has reported eth0 and its PIF exists, then the management
 * interface on eth0 with the plan's static address. Calls are skipped when already so.
 */
export async function configureHost(ctx: Ctx, c: XapiClient, h: HostState, mgmtIp: string, gateway: string): Promise<void> {
  const hostRef = await c.call<string>('host.get_by_uuid', h.uuid);
  const agentLog = join(ctx.state.dir, 'agents', `${h.name}.log`);
  const assertAgent = (): void => {
    if (h.agent && !isRecordedAlive(h.agent)) throw new Fatal(`${h.name}: the agent exited; see ${agentLog}:\n${tail(agentLog)}`);
  };
  await sleep(200);
  const eth0 = await waitFor(`${h.name}: PIF eth0 after PIF.scan`, 30_000, async () => {
    assertAgent();
    const pifs = Object.entries(await c.call<Record<string, PifRec>>('PIF.get_all_records'));
    const found = pifs.find(([, p]) => p.host === hostRef && p.device === 'eth0' && p.physical && Number(p.VLAN) === -1);
    if (found) return found;
    assertAgent();
    await c.call('PIF.scan', hostRef);
    return undefined;
  });
  const [ref, pif] = eth0;
  if (pif.ip_configuration_mode !== 'Static' || pif.IP !== mgmtIp || pif.gateway !== gateway) {
    await c.call('PIF.reconfigure_ip', ref, 'Static', mgmtIp, '255.255.255.0', gateway, '');
  }
  if (!pif.management) await c.call('host.management_reconfigure', ref);
  ctx.progress(`${h.name}: PIFs scanned; management on eth0 ${mgmtIp}/24 via ${gateway}`);
}
