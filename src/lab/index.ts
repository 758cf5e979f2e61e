import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
// The lab's public API: what `xcpnet lab …` calls.
import { resolveStateDir } from './state.js';
import { spawn } from 'node:child_process';
import { compileLabPlan, labPrefix, assertLabName, type LabPlan } from './plan.js';
import { labDir, loadState, saveState, type LabState } from './state.js';
import { buildTopology, isTopologyHealthy, newLabState, addNic, setCable, findHost, type Ctx, type Progress } from './topology.js';
import { teardownLab, type DownReport } from './teardown.js';
import { observeStatus, formatStatus, type LabStatus } from './status.js';
import { ovsEnv } from '../backends/ovsdb/index.js';
import { ensureMaster, masterClient, ensurePoolHosts, ensureAgent, configureHost, restartAgent, restartMaster } from './pool.js';
import { isRecordedAlive } from './state.js';
import type { XapiClient } from '../client/index.js';
import { vmNamespaceName } from '../backends/linux/guests.js';

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
  /** Also start the pool: master, one agent per host, PIF.scan, management (default true). */
  pool?: boolean;
}

const DEFAULT_NAME = 'lab';
const stdoutProgress: Progress = (l) => process.stdout.write(`${l}\n`);

function resolveName(opts: LabOpts): string {
  const name = opts.name ?? DEFAULT_NAME;
  assertLabName(name);
  return name;
}

function requireState(opts: LabOpts): LabState {
  const name = resolveName(opts);
  const state = loadState(labDir(opts.stateDir, name));
  if (!state) throw new Error(`lab ${name} is not up (no state in ${labDir(opts.stateDir, name)}); run: xcpnet lab up --name ${name}`);
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
  if (existing && await isTopologyHealthy(existing) && (!wantPool || isPoolHealthy(existing))) {
    const asked = (opts.hosts !== undefined && opts.hosts !== existing.hosts.length) || (opts.nics !== undefined && opts.nics !== existing.nics)
      || (opts.backend !== undefined && opts.backend !== (existing.backend ?? 'openvswitch'));
    progress(`lab ${name} is already up (${existing.hosts.length} hosts)${asked ? '; run lab down first to change its size' : ''}; nothing to do`);
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
  state.sdn ??= opts.sdn ?? 'mesh';
  const ctx: Ctx = { plan, state, progress };
  await buildTopology(ctx);
  if (wantPool) await buildPool(ctx);
  state.status = 'up';
  saveState(state);
  progress(`lab ${name} is up`);
  return state;
}

async function buildPool(ctx: Ctx): Promise<void> {
  await ensureMaster(ctx);
  const c = await masterClient(ctx.state);
  try {
    await ensurePoolHosts(ctx, c);
    for (const h of ctx.state.hosts) {
      if (await ensureAgent(ctx, h)) ctx.progress(`${h.name}: agent started (pid ${h.agent!.pid}) on ${ctx.state.backend === 'bridge' ? 'the Linux bridge backend' : 'its own OVS'}`);
    }
    await Promise.all(ctx.state.hosts.map((h, i) => configureHost(ctx, c, h, ctx.plan.hosts[i]!.mgmtIp, ctx.plan.subnets.mgmt.gateway)));
    if (ctx.state.sdn === 'ovn') await useOvn(ctx, c);
  } finally {
    await c.close();
  }
}

/** The pool's cross-server private networks on OVN: one pool setting, as an operator would. */
async function useOvn(ctx: Ctx, c: XapiClient): Promise<void> {
  const [pool] = Object.entries(await c.call<Record<string, { other_config: Record<string, string> }>>('pool.get_all_records'));
  if (!pool || pool[1].other_config['xcpnet-sdn'] === 'ovn') return;
  if (pool[1].other_config['xcpnet-sdn'] !== undefined) await c.call('pool.remove_from_other_config', pool[0], 'xcpnet-sdn');
  await c.call('pool.add_to_other_config', pool[0], 'xcpnet-sdn', 'ovn');
  ctx.progress('pool: cross-server private networks on OVN (other_config:xcpnet-sdn=ovn)');
}

function isPoolHealthy(state: LabState): boolean {
  return !!state.master?.proc && isRecordedAlive(state.master.proc) && state.hosts.every((h) => !!h.agent && isRecordedAlive(h.agent));
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

/** Puts VM name-labels and hosts on the guest namespaces found. */
async function nameGuests(state: LabState, status: LabStatus): Promise<void> {
  const c = await masterClient(state);
  try {
    const vms = await c.call<Record<string, { uuid: string; name_label: string; resident_on: string; is_control_domain: boolean }>>('VM.get_all_records');
    const hosts = await c.call<Record<string, { name_label: string }>>('host.get_all_records');
    for (const vm of Object.values(vms)) {
      const g = status.guests.find((x) => x.ns === vmNamespaceName(state.prefix, vm.uuid));
      if (!g || vm.is_control_domain) continue;
      g.name = vm.name_label;
      const h = hosts[vm.resident_on]?.name_label;
      if (h) g.host = h;
    }
  } finally {
    await c.close();
  }
}

const REPO_BIN = fileURLToPath(new URL('../../../bin', import.meta.url));

/** Shell `export` lines pointing xe at the lab's master (the password stays in its 0600 file). */
export function labEnv(opts: LabOpts = {}): string {
  const state = requireState(opts);
  if (!state.master) return `# lab ${state.name} has no pool master\n`;
  return [
    `export XCPNET_STATE_DIR=${shellQuote(state.master.dir)}`,
    // xe follows XCPNET_STATE_DIR to the master; lab commands need the lab's own base directory.
    `export XCPNET_LAB_STATE_DIR=${shellQuote(resolveStateDir(opts.stateDir))}`,
    `export XE_USER=${shellQuote(state.master.username)}`,
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
    lines.push(`Point xe at this lab:   eval "$(xcpnet lab env${nameOpt})"`, 'then try:               xe host-list; xe pif-list; xe network-list',
      `master: ${state.master.url} and unix:${state.master.socket}`,
      `topology view: ${state.master.url}/topology/ (user root, password in ${state.master.passwordFile}; docs/topology-view.md)`,
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
export { runLabCli, LAB_USAGE } from './cli.js';
