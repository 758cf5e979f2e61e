// The lab's pool, formed as an operator forms one: every host runs its own `xcpnet serve` in its
// namespace (over TLS, with its own certificate), a standalone pool of one. host1 is the master:
// its serve runs without an agent, and host1's agent runs beside it as its own process. Every
// other host's serve runs the host's agent itself, and the host joins with `xe pool-join` run on
// the host against its own local socket, trusting the master by its pinned fingerprint; from then
// on that serve is a member and runs only its agent against the master, with its host credential.
// With `lab up --services`, host2… run as installed hosts instead: serve --no-agent and the agent
// apart, with the systemd units' commands (src/bin/services.ts); the agent follows the membership.
// Processes are started detached (they outlive `lab up`), recorded in the state file, and given a
// pidfile under the lab dir for crash cleanup. The master's root password lives in
// <lab>/master/root-password (0600): the master reads it with --root-password-file, xe pool-join
// with master-password-file=; no command line carries it and no agent holds it.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { API_VERSION } from '../server/boot.js';
import { XapiClient } from '../client/index.js';
import { ApiError } from '../common/api-error.js';
import { CERT_FILE, fingerprintOf } from '../server/certificate.js';
import { MEMBER_FILE } from '../server/member.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { procRecord, isRecordedAlive, saveState, masterPassword, type HostState, type LabState } from './state.js';
import { privateDir, writePrivateFile } from '../common/private-files.js';
import { killProcesses } from './ovs.js';
import { writeNetworkConf } from '../backends/network-conf.js';
import type { Ctx } from './topology.js';
import { wiringPath } from './wiring.js';
import { expandExec, serviceCommands } from '../bin/services.js';

/** The built entry point next to this module (dist/src/bin/xcpnet.js). */
export const XCPNET_JS = fileURLToPath(new URL('../bin/xcpnet.js', import.meta.url));
const XE_JS = fileURLToPath(new URL('../bin/xe.js', import.meta.url));
const FORWARDER_JS = fileURLToPath(new URL('./forwarder.js', import.meta.url));
/** Every host's serve listens on XenAPI's port, 443, inside its own namespace. */
const SERVE_LISTEN = '0.0.0.0:443';
/** OVN's southbound database, on the master's management address (its usual port). */
const OVN_SB_PORT = 6642;
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

/** The pool master's host: host1. */
const masterHost = (state: LabState): HostState => state.hosts[0]!;
const isMasterHost = (state: LabState, h: HostState): boolean => h === masterHost(state);

/**
 * Starts the pool master unless the recorded one is alive: host1's `xcpnet serve`, in host1's
 * namespace, listening on every address there (the hosts reach it on host1's management address).
 * host1's own agent runs apart (ensureAgent).
 */
export async function ensureMaster(ctx: Ctx): Promise<void> {
  const { state } = ctx;
  if (!state.master?.proc || !isRecordedAlive(state.master.proc)) await startMaster(ctx);
  await ensureViewForwarder(ctx);
}

async function startMaster(ctx: Ctx): Promise<void> {
  const { state } = ctx;
  const dir = join(state.dir, 'master');
  privateDir(dir);
  // Kept across restarts of the master, which sets root's password from it every time.
  const passwordFile = join(dir, 'root-password');
  if (!existsSync(passwordFile)) writePrivateFile(passwordFile, `${randomBytes(12).toString('base64url')}\n`);
  const log = join(dir, 'serve.log');
  const started = Date.now();
  privateDir(join(state.dir, 'agents'));
  const h1 = masterHost(state);
  const sp = spawnDaemon([process.execPath, XCPNET_JS, 'serve', '--state-dir', dir, '--run-dir', dir, '--listen', SERVE_LISTEN,
    '--https-socket', join(dir, HTTPS_SOCKET),
    '--no-agent', '--host-name', h1.name, '--root-password-file', passwordFile,
    '--agent-credential-file', credentialFile(state, h1.name), '--lab-wiring', wiringPath(state.dir),
    // An OVN pool's members reach its southbound database over the management network, as on
    // separate machines (idle until pool other-config:xcpnet-sdn=ovn).
    '--ovn-sb-listen', `${ctx.plan.hosts[0]!.mgmtIp}:${OVN_SB_PORT}`], log, join(dir, 'serve.pid'), h1.ns, daemonEnv());
  const proc = procRecord(sp.pid, 'master xcpnet-serve', h1.ns);
  const socket = join(dir, 'xapi.sock');
  state.master = { ...state.master, dir, url: `https://${ctx.plan.hosts[0]!.mgmtIp}`, socket, proc, username: 'root', passwordFile };
  saveState(state);
  const c = await waitFor('a session on the master', 20_000, () => {
    if (!isRecordedAlive(proc)) throw new Fatal(`xcpnet serve exited; see ${log}:\n${tail(log)}`);
    return masterClient(state);
  });
  await c.close();
  ctx.progress(`master: xcpnet serve (pid ${sp.pid}) in ${h1.ns}, ${state.master.url} and unix:${socket}, started in ${Date.now() - started} ms`);
}

/** The master's HTTPS unix socket (password logins, as on TCP), which the view forwarder reaches. */
const HTTPS_SOCKET = 'https.sock';

/**
 * The master's HTTPS on 127.0.0.1 of the machine, for a browser there (the topology view): the
 * master listens only in host1's namespace, so a forwarder in the machine's own namespace pipes
 * connections, TLS unread, to the master's HTTPS unix socket (src/lab/forwarder.ts). It adds no
 * interface or route anywhere; `lab down` ends it with the lab's other processes.
 */
async function ensureViewForwarder(ctx: Ctx): Promise<void> {
  const m = ctx.state.master!;
  if (m.view && isRecordedAlive(m.view.proc)) return;
  const portFile = join(m.dir, 'forwarder.port');
  rmSync(portFile, { force: true });
  const log = join(m.dir, 'forwarder.log');
  const sp = spawnDaemon([process.execPath, FORWARDER_JS, join(m.dir, HTTPS_SOCKET), portFile], log, join(m.dir, 'forwarder.pid'), undefined, daemonEnv());
  const proc = procRecord(sp.pid, 'view-forwarder');
  m.view = { url: '', proc };
  saveState(ctx.state);
  const port = await waitFor('the view forwarder\'s port', 10_000, () => {
    if (!isRecordedAlive(proc)) throw new Fatal(`the view forwarder exited; see ${log}:\n${tail(log)}`);
    return existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) : undefined;
  });
  m.view = { url: `https://127.0.0.1:${port}`, proc };
  saveState(ctx.state);
  ctx.progress(`master: HTTPS forwarded to ${m.view.url} (pid ${sp.pid}) for a browser on this machine`);
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '';
}

/** Where the master's own host's agent credential is kept (0600 in the 0700 agents directory). */
export function credentialFile(state: LabState, host: string): string {
  return join(state.dir, 'agents', `${host}.credential`);
}

/** A host's own xcpnet state directory (its database, certificate, socket, pool-member.json). */
export function hostDir(state: LabState, host: string): string {
  return join(state.dir, 'hosts', host);
}

/** Whether a host's serve is a pool member (what its own state says). */
export function isMember(state: LabState, h: HostState): boolean {
  return !isMasterHost(state, h) && existsSync(join(hostDir(state, h.name), MEMBER_FILE));
}

/** The master's certificate fingerprint: how the hosts trust it. */
function masterFingerprint(state: LabState): string {
  return fingerprintOf(readFileSync(join(state.master!.dir, CERT_FILE), 'utf8'));
}

/**
 * Admits a host by the master's half of pool.join, for the VM tier's hosts (an agent in a QEMU
 * guest, with no serve of its own); returns its uuid. The credential goes to `file`.
 */
export async function admitLabHost(c: XapiClient, name: string, address: string, file: string): Promise<string> {
  const uuid = randomUUID();
  const got = await c.call<{ host: string; secret: string }>('pool.admit_host', {
    uuid, name_label: name, hostname: name, address, API_version_major: API_VERSION.major, API_version_minor: API_VERSION.minor, PIFs: [],
  });
  writePrivateFile(file, `${JSON.stringify({ host: got.host, secret: got.secret })}\n`);
  return uuid;
}

/** host1's uuid, from the master. */
export async function findMasterHost(ctx: Ctx, c: XapiClient): Promise<void> {
  const records = await c.call<Record<string, { uuid: string; name_label: string }>>('host.get_all_records');
  const h1 = masterHost(ctx.state);
  h1.uuid = Object.values(records).find((h) => h.name_label === h1.name)?.uuid;
  if (!h1.uuid) throw new Error(`${h1.name}: not in the master's database`);
  saveState(ctx.state);
}

/** Starts the host's process unless it runs: host1's agent, every other host's serve. */
export async function ensureAgent(ctx: Ctx, h: HostState): Promise<boolean> {
  if (ctx.state.services && !isMasterHost(ctx.state, h)) return ensureServices(ctx, h);
  if (h.agent && isRecordedAlive(h.agent)) return false;
  const bridge = ctx.state.backend === 'bridge';
  if ((!h.ovs && !bridge) || !ctx.state.master) throw new Error(`${h.name}: no OVS or master to start an agent with`);
  const dir = join(ctx.state.dir, 'agents');
  privateDir(dir);
  // The host's backend, chosen as on XCP: its network.conf, read when the agent starts.
  const conf = join(dir, `${h.name}.network.conf`);
  writeNetworkConf(conf, bridge ? 'bridge' : 'openvswitch');
  const ovsdb = h.ovs && !bridge ? ['--ovsdb', h.ovs.dbSocket] : [];
  let argv: string[];
  if (isMasterHost(ctx.state, h)) {
    if (!h.uuid) throw new Error(`${h.name}: no uuid to start its agent with`);
    argv = [process.execPath, XCPNET_JS, 'agent', '--master', `unix:${ctx.state.master.socket}`, '--host', h.uuid, '--network-conf', conf,
      '--credential-file', credentialFile(ctx.state, h.name), ...ovsdb, '--netns', h.ns,
      // The agent keeps its copy of the host's configuration in agents/<host>/agent.
      '--state-dir', join(dir, h.name)];
  } else {
    const own = hostDir(ctx.state, h.name);
    privateDir(own);
    argv = [process.execPath, XCPNET_JS, 'serve', '--state-dir', own, '--run-dir', own, '--listen', SERVE_LISTEN, '--host-name', h.name,
      '--netns', h.ns, ...ovsdb, '--network-conf', conf, '--master-fingerprint', masterFingerprint(ctx.state)];
  }
  const sp = spawnDaemon(argv, join(dir, `${h.name}.log`), join(dir, `${h.name}.pid`), h.ns, daemonEnv());
  h.agent = procRecord(sp.pid, `${h.name} ${isMasterHost(ctx.state, h) ? 'xcpnet-agent' : 'xcpnet-serve'}`, h.ns);
  saveState(ctx.state);
  if (!isMasterHost(ctx.state, h)) await waitForHostServe(ctx, h);
  return true;
}

/**
 * A host run as an installed one (`lab up --services`): the units' commands (serviceCommands,
 * substituted as systemd does) with the lab host's places for the FHS ones: its state and run
 * directory for /var/lib/xcpnet and /run/xcpnet, <state>/etc for /etc/xcpnet. The settings are
 * what an operator writes in master.conf and agent.conf for a lab host: the master's pinned
 * fingerprint, the host's namespace and its Open vSwitch. The agent starts once serve answers
 * and the host's uuid is known (agent.conf's XCPNET_HOST); it follows joins and ejects itself.
 */
/** Options as one settings value ($XCPNET_SERVE_OPTS): systemd splits it at whitespace, so no word may hold any. */
function settingWords(words: string[]): string {
  for (const w of words) if (w === '' || /\s/.test(w)) throw new Error(`${JSON.stringify(w)}: not one word of a unit's settings`);
  return words.join(' ');
}

async function ensureServices(ctx: Ctx, h: HostState): Promise<boolean> {
  const { state } = ctx;
  const bridge = state.backend === 'bridge';
  if ((!h.ovs && !bridge) || !state.master) throw new Error(`${h.name}: no OVS or master to start its services with`);
  const own = hostDir(state, h.name);
  const conf = join(own, 'etc');
  privateDir(own);
  privateDir(conf);
  privateDir(join(state.dir, 'agents'));
  writeNetworkConf(join(conf, 'network.conf'), bridge ? 'bridge' : 'openvswitch');
  const places = { XCPNET_STATE_DIR: own, XCPNET_RUN_DIR: own, XCPNET_CONF_DIR: conf };
  const credential = join(own, 'agent-credential');
  const units = serviceCommands({ node: process.execPath, entry: XCPNET_JS });
  let started = false;
  if (!h.agent || !isRecordedAlive(h.agent)) {
    const masterConf = { XCPNET_SERVE_OPTS: settingWords(['--listen', SERVE_LISTEN, '--agent-credential-file', credential, '--host-name', h.name,
      '--master-fingerprint', masterFingerprint(state)]) };
    const env = { ...places, ...masterConf };
    const sp = spawnDaemon(expandExec(units.master, env), join(state.dir, 'agents', `${h.name}.log`), join(state.dir, 'agents', `${h.name}.pid`), h.ns, daemonEnv(env));
    h.agent = procRecord(sp.pid, `${h.name} xcpnet-serve`, h.ns);
    saveState(state);
    started = true;
  }
  await waitForHostServe(ctx, h);
  if (!h.uuid) {
    const c = await hostClient(state, h);
    try { h.uuid = Object.values(await c.call<Record<string, { uuid: string }>>('host.get_all_records'))[0]!.uuid; } finally { await c.close(); }
    saveState(state);
  }
  if (!h.serviceAgent || !isRecordedAlive(h.serviceAgent)) {
    const agentConf = {
      XCPNET_MASTER: `unix:${join(own, 'xapi.sock')}`, XCPNET_HOST: h.uuid, XCPNET_CREDENTIAL_FILE: credential,
      XCPNET_AGENT_OPTS: settingWords(['--netns', h.ns, ...(h.ovs && !bridge ? ['--ovsdb', h.ovs.dbSocket] : [])]),
    };
    const env = { ...places, ...agentConf };
    const sp = spawnDaemon(expandExec(units.agent, env), join(state.dir, 'agents', `${h.name}-agent.log`), join(state.dir, 'agents', `${h.name}-agent.pid`), h.ns, daemonEnv(env));
    h.serviceAgent = procRecord(sp.pid, `${h.name} xcpnet-agent`, h.ns);
    saveState(state);
    started = true;
  }
  return started;
}

/** A session on a standalone host's own serve, over its local socket (trusted without a password). */
function hostClient(state: LabState, h: HostState): Promise<XapiClient> {
  return XapiClient.connect({ target: `unix:${join(hostDir(state, h.name), 'xapi.sock')}`, user: 'root', password: '', originator: 'xcpnet-lab' });
}

/** Until the host's serve answers on its socket: a session (standalone) or HOST_IS_SLAVE (member). */
async function waitForHostServe(ctx: Ctx, h: HostState): Promise<void> {
  const log = join(ctx.state.dir, 'agents', `${h.name}.log`);
  await waitFor(`${h.name}: its xcpnet serve to answer`, 20_000, async () => {
    if (h.agent && !isRecordedAlive(h.agent)) throw new Fatal(`${h.name}: xcpnet serve exited; see ${log}:\n${tail(log)}`);
    try {
      await (await hostClient(ctx.state, h)).close();
    } catch (e) {
      if (!(ApiError.is(e) && e.code === 'HOST_IS_SLAVE')) throw e;
    }
    return true;
  });
}

/**
 * Readies a standalone host for the pool as its operator would: its management interface on eth0
 * with the plan's static address, set through its own serve; records its uuid.
 */
export async function prepareStandalone(ctx: Ctx, h: HostState, mgmtIp: string): Promise<void> {
  const c = await hostClient(ctx.state, h);
  try {
    const records = await c.call<Record<string, { uuid: string }>>('host.get_all_records');
    h.uuid = Object.values(records)[0]!.uuid;
    saveState(ctx.state);
    await configureHost(ctx, c, h, mgmtIp, ctx.plan.subnets.mgmt.gateway);
    // Every NIC up (xe pif-plug), each confirmed by the agent: the host joins with all of them attached.
    const hostRef = await c.call<string>('host.get_by_uuid', h.uuid);
    const pifs = await c.call<Record<string, PifRec & { currently_attached: boolean }>>('PIF.get_all_records');
    for (const [ref, p] of Object.entries(pifs)) {
      if (p.host === hostRef && p.physical && !p.currently_attached) await c.call('PIF.plug', ref);
    }
  } finally {
    await c.close();
  }
}

export interface XeResult { code: number; stdout: string; stderr: string }

/** Runs the real `xe` on a host, in its namespace, against its own serve's local socket. */
export function xeOnHost(state: LabState, h: HostState, args: string[]): Promise<XeResult> {
  const dir = isMasterHost(state, h) ? state.master!.dir : hostDir(state, h.name);
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=/run/netns/${h.ns}`, '--', process.execPath, XE_JS, ...args],
      { env: daemonEnv({ XCPNET_STATE_DIR: dir, XCPNET_RUN_DIR: dir }), timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }));
  });
}

/**
 * `xe pool-join` on the host, against the master's management address, the password read by xe
 * from the master's 0600 file. Retried while the master cannot be reached yet (the host's
 * management bridge is new), for at most 30 s.
 */
export async function joinHost(ctx: Ctx, h: HostState): Promise<void> {
  const m = ctx.state.master;
  if (!m) throw new Error(`lab ${ctx.state.name} has no pool master to join`);
  const address = ctx.plan.hosts[0]!.mgmtIp;
  await waitFor(`${h.name}: xe pool-join master-address=${address}`, 30_000, async () => {
    const r = await xeOnHost(ctx.state, h, ['pool-join', `master-address=${address}`, `master-username=${m.username}`,
      `master-password-file=${m.passwordFile}`]);
    if (r.code === 0) return true;
    const said = `${r.stderr}${r.stdout}`.trim();
    if (/could not reach the master/.test(said)) throw new Error(said);
    throw new Fatal(`${h.name}: xe pool-join failed: ${said}`);
  });
  await waitForHostServe(ctx, h);
  ctx.progress(`${h.name}: joined the pool with xe pool-join master-address=${address} (uuid ${h.uuid})`);
}

/** `xe pool-eject` on the master for a member; it comes back as a standalone host. */
export async function ejectHost(ctx: Ctx, h: HostState): Promise<void> {
  if (isMasterHost(ctx.state, h)) throw new Error(`${h.name} is the pool master: it cannot be ejected`);
  const r = await xeOnHost(ctx.state, masterHost(ctx.state), ['pool-eject', `host-uuid=${h.uuid}`]);
  if (r.code !== 0) throw new Error(`xe pool-eject host-uuid=${h.uuid}: ${`${r.stderr}${r.stdout}`.trim()}`);
  // The member notices by itself that the master has forgotten it and becomes standalone.
  await waitFor(`${h.name}: standalone again`, 30_000, async () => {
    if (isMember(ctx.state, h)) return undefined;
    await (await hostClient(ctx.state, h)).close();
    return true;
  });
  ctx.progress(`${h.name}: ejected with xe pool-eject; standalone again`);
}

/** SIGKILL, as a crash would: the new agent must pick up without disturbing running flows. */
export async function restartAgent(ctx: Ctx, h: HostState): Promise<void> {
  // A host run as services: its agent is the process apart from its serve.
  const which = h.serviceAgent ? 'serviceAgent' : 'agent';
  const p = h[which];
  if (p) await killProcesses([p], 0, 'SIGKILL');
  delete h[which];
  await ensureAgent(ctx, h);
  ctx.progress(`${h.name}: agent restarted (pid ${h[which]!.pid})`);
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
 * Per host, on the server `c` that owns it (the master, or a standalone host's own): PIF.scan
 * until the agent has reported eth0 and its PIF exists, then the management interface on eth0
 * with the plan's static address. Calls are skipped when already so.
 */
export async function configureHost(ctx: Ctx, c: XapiClient, h: HostState, mgmtIp: string, gateway: string): Promise<void> {
  const hostRef = await c.call<string>('host.get_by_uuid', h.uuid);
  const agentLog = join(ctx.state.dir, 'agents', `${h.name}.log`);
  const assertAgent = (): void => {
    if (h.agent && !isRecordedAlive(h.agent)) throw new Fatal(`${h.name}: the agent exited; see ${agentLog}:\n${tail(agentLog)}`);
  };
  // PIF.scan answers once the host's agent has reported: the host is live on that server.
  const eth0 = await waitFor(`${h.name}: PIF eth0 after PIF.scan`, 30_000, async () => {
    assertAgent();
    await c.call('PIF.scan', hostRef);
    const pifs = Object.entries(await c.call<Record<string, PifRec>>('PIF.get_all_records'));
    return pifs.find(([, p]) => p.host === hostRef && p.device === 'eth0' && p.physical && Number(p.VLAN) === -1);
  });
  const [ref, pif] = eth0;
  if (pif.ip_configuration_mode !== 'Static' || pif.IP !== mgmtIp || pif.gateway !== gateway) {
    await c.call('PIF.reconfigure_ip', ref, 'Static', mgmtIp, '255.255.255.0', gateway, '');
  }
  if (!pif.management) {
    await c.call('host.management_reconfigure', ref);
    // A fresh host plugs every NIC's PIF, as `xcpnet serve` (and XCP's first boot) does; later
    // runs of `lab up` leave alone what the user unplugged since.
    const pifs = await c.call<Record<string, PifRec & { currently_attached: boolean; bond_slave_of: string }>>('PIF.get_all_records');
    for (const [r, p] of Object.entries(pifs)) {
      if (p.host === hostRef && p.physical && !p.currently_attached && p.bond_slave_of === 'OpaqueRef:NULL') await c.call('PIF.plug', r);
    }
  }
  ctx.progress(`${h.name}: PIFs scanned and plugged; management on eth0 ${mgmtIp}/24 via ${gateway}`);
}
