import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
// The lab's public API: what `xcpnet lab …` calls.
import { resolveStateDir } from './state.js';
import { spawn } from 'node:child_process';
import { compileLabPlan, labPrefix, assertLabName, type LabPlan } from './plan.js';
import { labDir, loadState, saveState, type LabState } from './state.js';
import { buildTopology, isTopologyHealthy, newLabState, addNic, setCable, findHost, type Ctx, type Progress } from './topology.js';
import { teardownLab, type DownReport } from './teardown.js';
import { observeStatus, formatStatus, type LabStatus } from './status.js';
import { ovsEnv } from '../backends/ovsdb/index.js';
import { ensureMaster, masterClient, findMasterHost, ensureAgent, configureHost, restartAgent, restartMaster, isMember, prepareStandalone,
  joinHost, ejectHost } from './pool.js';
import { isRecordedAlive } from './state.js';
import { vmNamespaceName } from '../backends/linux/guests.js';
import { XapiClient } from '../client/index.js';
import { localSocket } from '../common/paths.js';
import { gatherFacts } from './facts.js';
import { buildTopology as buildTopologyModel, formatDot, formatMermaid, formatTreeText } from './topology-model.js';

export { compileLabPlan, labPrefix } from './plan.js';
export type { LabPlan } from './plan.js';
export type { LabState } from './state.js';
export type { LabStatus } from './status.js';
export type { DownReport } from './teardown.js';
export { formatStatus } from './status.js';

export interface LabOpts {
  /** Lab name (default `lab`). */
  name?: string;
  /** State directory (default $XCPNET_STATE_DIR, else ./var); the lab lives in <state-dir>/lab/<name>. */
  stateDir?: string;
  /** Progress lines; default: standard output. */
  progress?: Progress;
}

export interface LabUpOpts extends LabOpts {
  hosts?: number;
  nics?: number;
  /** The hosts' network backend (default openvswitch; fixed when the lab is first built). */
  backend?: 'openvswitch' | 'bridge';
  /** What carries cross-server private networks (default mesh; fixed when the lab is first built). */
  sdn?: 'mesh' | 'ovn';
  /**
   * With sdn ovn: 3 makes OVN's databases a RAFT cluster on host1 (the master), host2 and host3
   * (pool other_config:xcpnet-ovn-cluster); 1 (default) leaves them standalone on the master.
   * Fixed when the lab is first built.
   */
  ovnCluster?: 1 | 3;
  /** Also start the pool: master, one agent per host, PIF.scan, management (default true). */
  pool?: boolean;
  /**
   * Leave host2… standalone (each its own pool of one) instead of joining them to host1's pool;
   * `lab join HOST` joins one later (fixed when the lab is first built).
   */
  standalone?: boolean;
  /**
   * Run host2… as installed hosts do (`xcpnet install-services`): `serve --no-agent` and the agent
   * apart, with the units' very commands (fixed when the lab is first built).
   */
  services?: boolean;
}

const DEFAULT_NAME = 'lab';
const stdoutProgress: Progress = (l) => process.stdout.write(`${l}\n`);

function resolveName(opts: LabOpts): string {
  // $XCPNET_LAB: the lab `lab env` pointed this shell at.
  const name = opts.name ?? (process.env.XCPNET_LAB || DEFAULT_NAME);
  assertLabName(name);
  return name;
}

function requireState(opts: LabOpts): LabState {
  const name = resolveName(opts);
  const state = loadState(labDir(opts.stateDir, name));
  if (!state) {
    const base = join(resolveStateDir(opts.stateDir), 'lab');
    const others = existsSync(base) ? readdirSync(base).filter((d) => loadState(join(base, d)) !== undefined).sort() : [];
    throw new Error(`lab ${name} is not up (no state in ${labDir(opts.stateDir, name)}); run: ${xcpnetCommand('xcpnet')} lab up${name === DEFAULT_NAME ? '' : ` --name ${name}`}` +
      (others.length ? `; labs in ${base}: ${others.join(', ')} (--name L)` : '; a lab made elsewhere needs --state-dir DIR (or XCPNET_LAB_STATE_DIR)'));
  }
  return state;
}

function ctxFor(state: LabState, opts: LabOpts): Ctx {
  const plan: LabPlan = compileLabPlan({ name: state.name, hosts: state.hosts.length, nics: state.nics });
  return { plan, state, progress: opts.progress ?? stdoutProgress };
}

/** Builds the lab, or completes a lab left half-built; a lab that is fully up is left untouched. */
export async function labUp(opts: LabUpOpts = {}): Promise<LabState> {
  const name = resolveName(opts);
  const progress = opts.progress ?? stdoutProgress;
  const dir = labDir(opts.stateDir, name);
  const existing = loadState(dir);
  const wantPool = opts.pool ?? existing?.pool ?? true;
  if (existing) assertSameShape(existing, opts);
  if (existing && await isTopologyHealthy(existing) && (!wantPool || isPoolHealthy(existing))) {
    progress(`lab ${name} is already up (${existing.hosts.length} hosts); nothing to do`);
    return existing;
  }
  const hosts = existing?.hosts.length ?? opts.hosts ?? 2;
  const nics = existing?.nics ?? opts.nics ?? 4;
  const plan = compileLabPlan({ name, hosts, nics });
  const state = existing ?? newLabState(plan, dir);
  state.status = 'building';
  saveState(state);
  progress(`${existing ? 'completing' : 'building'} lab ${name}: ${hosts} host${hosts === 1 ? "" : "s"}, ${nics} NIC${nics === 1 ? "" : "s"} each, prefix ${plan.prefix}, state in ${dir}`);
  state.pool = wantPool;
  state.backend ??= opts.backend ?? 'openvswitch';
  state.standalone ??= opts.standalone ?? false;
  state.services ??= opts.services ?? false;
  state.sdn ??= opts.sdn ?? 'mesh';
  state.ovnCluster ??= opts.ovnCluster ?? 1;
  if (state.ovnCluster === 3 && (state.sdn !== 'ovn' || hosts < 3)) throw new Error('an OVN cluster of 3 needs --sdn ovn and at least 3 hosts');
  const ctx: Ctx = { plan, state, progress };
  await buildTopology(ctx);
  if (wantPool) await buildPool(ctx);
  state.status = 'up';
  saveState(state);
  progress(`lab ${name} is up`);
  return state;
}

/**
 * The pool, formed as an operator would: host1's serve is the master (its agent apart); every other
 * host's serve starts standalone, gets its management address, and joins with xe pool-join
 * (unless the lab is built standalone). A host already a member is only checked.
 */
async function buildPool(ctx: Ctx): Promise<void> {
  const { state, plan } = ctx;
  const gateway = plan.subnets.mgmt.gateway;
  await ensureMaster(ctx);
  const c = await masterClient(state);
  try {
    await findMasterHost(ctx, c);
    const [h1, ...others] = state.hosts;
    if (await ensureAgent(ctx, h1!)) ctx.progress(`${h1!.name}: agent started (pid ${h1!.agent!.pid}) on ${backendName(state)}`);
    await configureHost(ctx, c, h1!, plan.hosts[0]!.mgmtIp, gateway);
    await Promise.all(others.map(async (h, k) => {
      const mgmtIp = plan.hosts[k + 1]!.mgmtIp;
      if (await ensureAgent(ctx, h)) {
        ctx.progress(state.services
          ? `${h.name}: xcpnet serve (pid ${h.agent!.pid}) and its agent (pid ${h.serviceAgent!.pid}) started as the installed units run them, on ${backendName(state)}`
          : `${h.name}: xcpnet serve started (pid ${h.agent!.pid}) with its agent on ${backendName(state)}`);
      }
      if (!isMember(state, h)) {
        await prepareStandalone(ctx, h, mgmtIp);
        if (state.standalone) return;
        await joinHost(ctx, h);
      }
      await configureHost(ctx, c, h, mgmtIp, gateway);
    }));
    if (state.sdn === 'ovn') await useOvn(ctx, c);
  } finally {
    await c.close();
  }
}

/** A lab keeps the size and backend it was built with: asking for another is an error, not a no-op. */
function assertSameShape(existing: LabState, opts: LabUpOpts): void {
  const differs: string[] = [];
  if (opts.hosts !== undefined && opts.hosts !== existing.hosts.length) differs.push(`${opts.hosts} hosts (it has ${existing.hosts.length})`);
  if (opts.nics !== undefined && opts.nics !== existing.nics) differs.push(`${opts.nics} NICs per host (it has ${existing.nics})`);
  const backend = existing.backend ?? 'openvswitch';
  if (opts.backend !== undefined && opts.backend !== backend) differs.push(`the ${opts.backend} backend (it has ${backend})`);
  const sdn = existing.sdn ?? 'mesh';
  if (opts.sdn !== undefined && opts.sdn !== sdn) differs.push(`--sdn ${opts.sdn} (it has ${sdn})`);
  const ovnCluster = existing.ovnCluster ?? 1;
  if (opts.ovnCluster !== undefined && opts.ovnCluster !== ovnCluster) differs.push(`--ovn-cluster ${opts.ovnCluster} (it has ${ovnCluster})`);
  if (differs.length === 0) return;
  const nameOpt = existing.name === DEFAULT_NAME ? '' : ` --name ${existing.name}`;
  throw new Error(`lab ${existing.name} exists; you asked for ${differs.join(' and ')}. ` +
    `Run \`xcpnet lab down${nameOpt}\` first to build it anew, or \`xcpnet lab up${nameOpt}\` without size options to use it as it is`);
}

const backendName = (state: LabState): string => state.backend === 'bridge' ? 'the Linux bridge backend' : 'its own OVS';

/** The pool's cross-server private networks on OVN: one pool setting, as an operator would. */
async function useOvn(ctx: Ctx, c: XapiClient): Promise<void> {
  const [pool] = Object.entries(await c.call<Record<string, { other_config: Record<string, string> }>>('pool.get_all_records'));
  if (!pool) return;
  if (pool[1].other_config['xcpnet-sdn'] !== 'ovn') {
    if (pool[1].other_config['xcpnet-sdn'] !== undefined) await c.call('pool.remove_from_other_config', pool[0], 'xcpnet-sdn');
    await c.call('pool.add_to_other_config', pool[0], 'xcpnet-sdn', 'ovn');
    ctx.progress('pool: cross-server private networks on OVN (other_config:xcpnet-sdn=ovn)');
  }
  if (ctx.state.ovnCluster === 3 && pool[1].other_config['xcpnet-ovn-cluster'] === undefined) {
    const hosts = await c.call<Record<string, { uuid: string; name_label: string }>>('host.get_all_records');
    const uuids = ctx.state.hosts.slice(0, 3).map((h) => Object.values(hosts).find((r) => r.name_label === h.name)?.uuid);
    if (uuids.some((u) => u === undefined)) throw new Error(`no host record for one of ${ctx.state.hosts.slice(0, 3).map((h) => h.name).join(', ')}`);
    await c.call('pool.add_to_other_config', pool[0], 'xcpnet-ovn-cluster', uuids.join(','));
    ctx.progress('pool: OVN\'s databases a RAFT cluster on host1, host2 and host3 (other_config:xcpnet-ovn-cluster)');
  }
}

function isPoolHealthy(state: LabState): boolean {
  return !!state.master?.proc && isRecordedAlive(state.master.proc) && state.hosts.every((h) => !!h.agent && isRecordedAlive(h.agent)
    && (!h.serviceAgent || isRecordedAlive(h.serviceAgent)));
}

/** Removes everything the lab made (recorded, or carrying its prefix) and nothing else. */
export async function labDown(opts: LabOpts = {}): Promise<DownReport> {
  const name = resolveName(opts);
  const progress = opts.progress ?? stdoutProgress;
  const report = await teardownLab(labDir(opts.stateDir, name), labPrefix(name), progress);
  progress(`lab ${name} is down`);
  return report;
}

export async function labStatus(opts: LabOpts = {}): Promise<LabStatus> {
  const state = requireState(opts);
  const status = await observeStatus(state, `${state.prefix}vm-`);
  if (status.guests.length && status.master?.running) await nameGuests(state, status).catch(() => undefined);
  return status;
}

/** Puts VM name-labels, hosts and VIFs (host device, bridge, network) on the guest namespaces found; sorts them by name. */
async function nameGuests(state: LabState, status: LabStatus): Promise<void> {
  const c = await masterClient(state);
  try {
    const vms = await c.call<Record<string, { uuid: string; name_label: string; resident_on: string; is_control_domain: boolean; domid: number; VIFs: string[] }>>('VM.get_all_records');
    const hosts = await c.call<Record<string, { name_label: string }>>('host.get_all_records');
    const vifs = await c.call<Record<string, { device: string; network: string; currently_attached: boolean }>>('VIF.get_all_records');
    const nets = await c.call<Record<string, { name_label: string; bridge: string }>>('network.get_all_records');
    for (const vm of Object.values(vms)) {
      const g = status.guests.find((x) => x.ns === vmNamespaceName(state.prefix, vm.uuid));
      if (!g || vm.is_control_domain) continue;
      g.name = vm.name_label;
      const h = hosts[vm.resident_on]?.name_label;
      if (h) g.host = h;
      g.vifs = vm.VIFs.flatMap((r) => { const v = vifs[r]; return v?.currently_attached ? [v] : []; })
        .map((v) => ({ device: `eth${v.device}`, hostDevice: `vif${vm.domid}.${v.device}`, bridge: nets[v.network]?.bridge ?? '', network: nets[v.network]?.name_label ?? '' }))
        .sort((a, b) => a.device.localeCompare(b.device, 'en', { numeric: true }));
    }
    status.guests.sort((a, b) => (a.name ?? a.ns).localeCompare(b.name ?? b.ns, 'en', { numeric: true }));
  } finally {
    await c.close();
  }
}

/**
 * The master to ask and the lab to look into, for `xcpnet bridges`, `explain`, `trace` and
 * `lab graph`: lab --name L (or $XCPNET_LAB, which `lab env` sets), else the local master alone.
 */
export async function connectToPool(opts: LabOpts & { socket?: string }): Promise<{ client: XapiClient; lab?: LabState }> {
  const name = opts.name ?? process.env.XCPNET_LAB;
  if (name !== undefined) {
    const lab = requireState({ ...opts, name });
    if (!lab.master) throw new Error(`lab ${name} has no pool master; run: ${xcpnetCommand('xcpnet')} lab up --name ${name}`);
    return { client: await masterClient(lab), lab };
  }
  const target = process.env.XE_SERVER ?? `unix:${opts.socket ?? localSocket()}`;
  try {
    const client = await XapiClient.connect({
      target, user: process.env.XE_USER ?? 'root', password: process.env.XE_PASSWORD ?? process.env.XCPNET_ROOT_PASSWORD ?? '',
    });
    return { client };
  } catch (e) {
    throw new Error(`${(e as Error).message}. Is a master running there? Start one (xcpnet serve), give its --state-dir, ` +
      `or point this shell at a lab: eval "$(${xcpnetCommand('xcpnet')} lab env)" (or --name L)`);
  }
}

const REPO_BIN = fileURLToPath(new URL('../../../bin', import.meta.url));

/**
 * How to run this checkout's `xcpnet` or `xe` from the caller's shell: the bare name when bin/
 * is on its PATH, `./bin/…` from the checkout, else the full path.
 */
export function xcpnetCommand(tool: 'xcpnet' | 'xe'): string {
  if ((process.env.PATH ?? '').split(':').some((d) => d && resolve(d) === REPO_BIN)) return tool;
  const rel = relative(process.cwd(), join(REPO_BIN, tool));
  return rel === join('bin', tool) ? `./${rel}` : join(REPO_BIN, tool);
}

/** The eval line that points a fresh shell at a lab (it puts bin/ on PATH). */
export function labEnvLine(state: LabState): string {
  // A fresh shell has no XCPNET_LAB_STATE_DIR: name the lab's directory unless it is the default.
  const base = dirname(dirname(state.dir));
  const dirOpt = base === resolve('var') ? '' : ` --state-dir ${shellQuote(base)}`;
  return `eval "$(${xcpnetCommand('xcpnet')} lab env${state.name === DEFAULT_NAME ? '' : ` --name ${state.name}`}${dirOpt})"`;
}

/** What `lab up` says when it is interrupted: what it left, how to go on, and where the master is. */
export function labInterrupted(opts: LabOpts): string {
  const name = resolveName(opts);
  const state = loadState(labDir(opts.stateDir, name));
  const nameOpt = name === DEFAULT_NAME ? '' : ` --name ${name}`;
  if (!state) return `xcpnet lab up: interrupted before lab ${name} was recorded; nothing was left\n`;
  // The master's URL is recorded before it is started (host1's management address).
  const url = state.master?.url;
  return `xcpnet lab up: interrupted; lab ${name} is left half-built, its processes still running` +
    `${url ? ` (master at ${url})` : ''}.\n  complete it:  ${xcpnetCommand('xcpnet')} lab up${nameOpt}\n  remove it:    ${xcpnetCommand('xcpnet')} lab down${nameOpt}\n`;
}

/** A lab host's uuid in the pool, when it has joined. */
export function labHostUuid(opts: LabOpts, host: string): string | undefined {
  return findHost(requireState(opts), host).uuid;
}

/** Shell `export` lines pointing xe at the lab's master (the password stays in its 0600 file). */
export function labEnv(opts: LabOpts = {}): string {
  const state = requireState(opts);
  if (!state.master) return `# lab ${state.name} has no pool master\n`;
  return [
    `export XCPNET_STATE_DIR=${shellQuote(state.master.dir)}`,
    // xe follows XCPNET_STATE_DIR to the master; lab commands need the lab's own base directory.
    `export XCPNET_LAB_STATE_DIR=${shellQuote(resolveStateDir(opts.stateDir))}`,
    `export XE_USER=${shellQuote(state.master.username)}`,
    // xcpnet bridges, explain, trace and lab graph look into this lab.
    `export XCPNET_LAB=${shellQuote(state.name)}`,
    // For `xe -s`: the master's own certificate is the one to trust.
    `export XE_CA_FILE=${shellQuote(join(state.master.dir, 'server.pem'))}`,
    // So `xe` and `xcpnet` resolve to this checkout's launchers.
    `export PATH=${shellQuote(REPO_BIN)}:"$PATH"`,
    // The password is read from its file when the line runs: it is never printed.
    `export XE_PASSWORD="$(cat ${shellQuote(state.master.passwordFile)})"`,
  ].join('\n') + '\n';
}

/** What `lab up` prints at the end: how to reach the lab. */
export function labHint(state: LabState): string {
  const nameOpt = state.name === DEFAULT_NAME ? '' : ` --name ${state.name}`;
  const lines = [''];
  if (state.master) {
    lines.push(`Point xe at this lab:   ${labEnvLine(state)}`, 'then try:               xe host-list; xe pif-list; xe network-list',
      `master: ${state.master.url} and unix:${state.master.socket}`,
      ...(state.master.view ? [`topology view: ${state.master.view.url}/topology/ in a browser on this machine (user root, password in ${state.master.passwordFile}; docs/topology-view.md)`] : []),
      '', 'see packets flow between two guests on a private network:',
      '  N=$(xe network-create name-label=private)',
      '  for vm in vm1 vm2; do V=$(xe vm-create name-label=$vm); xe vif-create vm-uuid=$V network-uuid=$N device=0; xe vm-start uuid=$V on=host1; done',
      `  xcpnet lab exec${nameOpt} vm1 -- ip addr add 10.99.0.1/24 dev eth0; xcpnet lab exec${nameOpt} vm1 -- ip link set eth0 up`,
      `  xcpnet lab exec${nameOpt} vm2 -- ip addr add 10.99.0.2/24 dev eth0; xcpnet lab exec${nameOpt} vm2 -- ip link set eth0 up`,
      `  xcpnet lab exec${nameOpt} vm1 -- ping -c 3 10.99.0.2`,
      '  xcpnet bridges', '');
  }
  lines.push(`wiring:                 xcpnet lab status${nameOpt}`,
    `inside a host:          xcpnet lab exec${nameOpt} host1 -- ${state.backend === 'bridge' ? 'brctl show' : 'ovs-vsctl show'}`,
    `tear it all down:       xcpnet lab down${nameOpt}`);
  return lines.join('\n') + '\n';
}

/** `lab graph`: the lab's topology as a text tree, DOT or Mermaid. */
export async function labGraph(opts: LabOpts, format: 'text' | 'dot' | 'mermaid'): Promise<string> {
  const { client, lab } = await connectToPool({ ...opts, name: resolveName(opts) });
  try {
    const t = buildTopologyModel(await gatherFacts(client, lab));
    return format === 'dot' ? formatDot(t) : format === 'mermaid' ? formatMermaid(t) : formatTreeText(t);
  } finally {
    await client.close();
  }
}

export async function labAddNic(opts: LabOpts & { host: string }): Promise<string> {
  const state = requireState(opts);
  return addNic(ctxFor(state, opts), opts.host);
}

export async function labCable(opts: LabOpts & { host: string; device: string; state: 'up' | 'down' }): Promise<void> {
  const state = requireState(opts);
  await setCable(ctxFor(state, opts), opts.host, opts.device, opts.state === 'up');
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Where a lab exec target runs: a host namespace (with ovs-* tools pointed at its own OVS), or
 * the namespace of a running VM named by name-label or uuid (asked of the lab's master).
 */
export async function resolveExecTarget(state: LabState, target: string): Promise<{ ns: string; env: NodeJS.ProcessEnv }> {
  const host = state.hosts.find((h) => h.name === target);
  if (host) return { ns: host.ns, env: host.ovs ? ovsEnv(host.ovs.dir) : process.env };
  if (state.master) {
    const vm = await findRunningVm(state, target);
    if (vm) return { ns: vmNamespaceName(state.prefix, vm.uuid), env: process.env };
  }
  throw new Error(`no host or running VM ${JSON.stringify(target)} in lab ${state.name}`);
}

async function findRunningVm(state: LabState, target: string): Promise<{ uuid: string } | undefined> {
  const c = await masterClient(state);
  try {
    const vms = Object.values(await c.call<Record<string, { uuid: string; name_label: string; power_state: string; is_control_domain: boolean }>>('VM.get_all_records'))
      .filter((v) => !v.is_control_domain && (v.uuid === target || v.name_label === target));
    if (vms.length > 1) throw new Error(`${vms.length} VMs are named ${JSON.stringify(target)}: use a uuid`);
    const vm = vms[0];
    if (vm && vm.power_state !== 'Running') throw new Error(`VM ${target} is ${vm.power_state}, not Running`);
    return vm;
  } finally {
    await c.close();
  }
}

/**
 * Runs a command inside a host or guest namespace. With `capture`, output is returned;
 * otherwise it goes to this process's terminal. Resolves with the exit code.
 */
export async function labExec(opts: LabOpts & { target: string; argv: string[]; capture?: boolean; timeoutMs?: number }): Promise<ExecResult> {
  const state = requireState(opts);
  const { ns, env } = await resolveExecTarget(state, opts.target);
  if (opts.argv.length === 0) throw new Error('lab exec: no command given (lab exec TARGET -- CMD …)');
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...opts.argv], {
      env, stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** Joins a standalone host to host1's pool: `xe pool-join` run on that host. */
export async function labJoin(opts: LabOpts & { host: string }): Promise<void> {
  const state = requireState(opts);
  const ctx = ctxFor(state, opts);
  const h = findHost(state, opts.host);
  if (h === state.hosts[0]) throw new Error(`${h.name} is the pool master`);
  if (isMember(state, h)) throw new Error(`${h.name} is already a member of the pool`);
  await joinHost(ctx, h);
  const c = await masterClient(state);
  try {
    await configureHost(ctx, c, h, ctx.plan.hosts[state.hosts.indexOf(h)]!.mgmtIp, ctx.plan.subnets.mgmt.gateway);
  } finally {
    await c.close();
  }
}

/** Ejects a member from the pool: `xe pool-eject` run on the master; the host is standalone again. */
export async function labEject(opts: LabOpts & { host: string }): Promise<void> {
  const state = requireState(opts);
  const h = findHost(state, opts.host);
  if (!isMember(state, h)) throw new Error(`${h.name} is not a member of the pool`);
  await ejectHost(ctxFor(state, opts), h);
}

/** Kills the host's agent with SIGKILL and starts it again. */
export async function labRestartAgent(opts: LabOpts & { host: string }): Promise<void> {
  const state = requireState(opts);
  const h = findHost(state, opts.host);
  if (!state.master) throw new Error(`lab ${state.name} has no pool, hence no agents`);
  await restartAgent(ctxFor(state, opts), h);
}

/**
 * Kills the master with SIGKILL and starts it again, after `outageMs` (default at once); the
 * agents of `restartAgents` are killed and started again while it is down.
 */
export async function labRestartMaster(opts: LabOpts & { outageMs?: number; restartAgents?: string[] }): Promise<void> {
  const state = requireState(opts);
  const ctx = ctxFor(state, opts);
  const hosts = (opts.restartAgents ?? []).map((h) => findHost(state, h));
  await restartMaster(ctx, opts.outageMs ?? 0, async () => { for (const h of hosts) await restartAgent(ctx, h); });
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export { formatStatus as formatLabStatus };
export { runLabCli } from './cli.js';
