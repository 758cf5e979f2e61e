// VM rules, as much lifecycle as networking needs (xen-api: ocaml/xapi/xapi_vm.ml): create with a MAC
// seed and a VM_metrics row, start / start_on on a host where every VIF's network is usable
// (plugging what is needed there), shutdown unplugging the VIFs, destroy with the VIFs, and the
// free VIF device slots; every operation checked by vm-ops.ts and shown in current_operations.
// Reboots, pause and suspend are in vm-power.ts, clone/copy/snapshot in vm-copy.ts, the host
// checks and migration in vm-migrate.ts.

import { randomUUID } from 'node:crypto';
import { ApiError } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, type Rec, type Value } from '../../idl/meta.js';
import type { VIFRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { getPool, isRef, type Reader } from './common.js';
import { bondSlavePifOn, networkUsableOn, plugNetworkOn } from './network.js';
import { destroyVifRow, deviceNumber, refreshAllowedOps } from './vif.js';
import { VMClass } from '../../idl/classes/vm.js';
import { compactNow } from '../sessions.js';
import { assertVmOperation, vmAllowedOps, withOperation, type VmOp } from './vm-ops.js';
import { checkCreate } from '../field-rules.js';

/** Writes the patch and recomputes allowed_operations from the result. */
export function updateVm(tx: Tx, vm: string, patch: Rec): void {
  tx.update('VM', vm, patch);
  const allowed = vmAllowedOps(tx, vm);
  if (JSON.stringify(allowed) !== JSON.stringify(tx.get('VM', vm).allowed_operations)) tx.update('VM', vm, { allowed_operations: allowed });
}

/**
 * Runs an operation as xapi does: checked and shown in current_operations (keyed by the call's
 * task, or a fresh ref for a synchronous call) in one transaction, removed when it ends.
 */
export async function runVmOperation<T>(ctx: CallContext, vm: string, op: VmOp, body: (task: string) => Promise<T> | T): Promise<T> {
  const store = ctx.services.store;
  const task = ctx.task ?? `OpaqueRef:${randomUUID()}`;
  store.transact((tx) => {
    assertVmOperation(tx, vm, op);
    updateVm(tx, vm, { current_operations: withOperation(tx.get('VM', vm), task, op) });
  });
  try {
    return await body(task);
  } finally {
    store.transact((tx) => { if (tx.find('VM', vm)) updateVm(tx, vm, { current_operations: withOperation(tx.get('VM', vm), task) }); });
  }
}

/** The VM's VIFs in device order (so errors name the lowest device's network first). */
export function vifsOf(r: Reader, vm: string): Array<[string, VIFRecord]> {
  const out: Array<[string, VIFRecord]> = [];
  for (const ref of (r.get('VM', vm).VIFs ?? [])) {
    const vif = r.find('VIF', ref);
    if (vif) out.push([ref, vif]);
  }
  return out.sort(([, a], [, b]) => deviceNumber(a.device) - deviceNumber(b.device));
}

export const networksOf = (vifs: Array<[string, VIFRecord]>): string[] => [...new Set(vifs.map(([, v]) => v.network))];

// ---------------------------------------------------------------- create

/** Members of the implicit constructor that mean something here; power_state is always Halted. */
const CREATE_MEMBERS = ['name_label', 'name_description', 'is_a_template', 'affinity', 'other_config'];

/** A fresh VM_metrics row (xapi makes one with every VM; copies keep the original's values). */
export function createVmMetrics(tx: Tx, from?: Rec): string {
  return tx.create('VM_metrics', { ...(from ?? {}), last_updated: compactNow() });
}

function vmCreate(ctx: CallContext, args: Rec): string {
  const fields: Rec = {};
  for (const k of CREATE_MEMBERS) if (k in args) fields[k] = args[k]!;
  checkCreate(ctx, VMClass, fields);
  const oc = { ...((fields.other_config ?? {}) as Record<string, Value>) };
  if (typeof oc.mac_seed !== 'string') oc.mac_seed = randomUUID();
  return ctx.services.store.transact((tx) => {
    const ref = tx.create('VM', {
      ...fields, other_config: oc, power_state: 'Halted', domid: -1, resident_on: NULL_REF, metrics: createVmMetrics(tx),
    });
    updateVm(tx, ref, {});
    return ref;
  });
}

// ---------------------------------------------------------------- start

/** Why the VM cannot start on `host` (networks in VIF device order), or undefined. */
export function hostProblem(r: Reader, vm: string, networks: string[], host: string): ApiError | undefined {
  for (const net of networks) {
    if (!networkUsableOn(r, net, host, vm)) return new ApiError('VM_REQUIRES_NETWORK', [vm, net]);
  }
  for (const net of networks) {
    if (bondSlavePifOn(r, net, host)) return new ApiError('HOST_CANNOT_ATTACH_NETWORK', [host, net]);
  }
  return undefined;
}

/** VM.start's host: the affinity host, then the master, then the others; the first that fits. */
export function chooseHost(r: Reader, vm: string, networks: string[]): string {
  const rec = r.get('VM', vm);
  const master = getPool(r)[1].master;
  const hosts = [...r.all('host')].filter(([, h]) => h.enabled !== false).map(([ref]) => ref);
  const order = [...new Set([rec.affinity, master, ...hosts])].filter((h) => hosts.includes(h));
  const problems: ApiError[] = [];
  for (const h of order) {
    const p = hostProblem(r, vm, networks, h);
    if (!p) return h;
    problems.push(p);
  }
  // A host that has the networks but cannot attach one says more than one that lacks them.
  throw problems.find((p) => p.code === 'HOST_CANNOT_ATTACH_NETWORK') ?? problems[0] ?? new ApiError('INTERNAL_ERROR', ['no host in the pool']);
}

/** The smallest domid ≥ 1 not used by a VM resident on the host (dom0 has 0). */
export function nextDomid(r: Reader, host: string): number {
  const used = new Set<number>();
  for (const [, vm] of r.all('VM')) if (vm.resident_on === host && typeof vm.domid === 'number') used.add(vm.domid);
  let d = 1;
  while (used.has(d)) d++;
  return d;
}

/**
 * A new domain for the VM on `host` (start, resume, reboot, migration): the networks come up
 * first (PIFs on demand; a PIF that fails leaves the VM as it was), then one transaction makes
 * the VM `power` there with a fresh domid and its VIFs attached, and the call waits for the
 * host's agent. `undo` puts the records back when the agent cannot realise it.
 */
export async function bootOn(ctx: CallContext, vm: string, host: string, power: 'Running' | 'Paused', undo: (tx: Tx) => void,
  attach: 'all' | 'kept' = 'all'): Promise<void> {
  const store = ctx.services.store;
  // A start plugs every VIF; a resume or a migration those that were attached before.
  const plugged = (r: Reader) => vifsOf(r, vm).filter(([, v]) => attach === 'all' || v.currently_attached === true);
  for (const net of networksOf(plugged(store))) await plugNetworkOn(ctx, net, host, false);
  const vifs = store.transact((tx) => {
    const refs = plugged(tx).map(([ref]) => ref);
    updateVm(tx, vm, { power_state: power, resident_on: host, domid: nextDomid(tx, host), scheduled_to_be_resident_on: NULL_REF });
    for (const ref of refs) {
      tx.update('VIF', ref, { currently_attached: true });
      refreshAllowedOps(tx, ref);
    }
    startMetrics(tx, vm);
    return refs;
  });
  try {
    await ctx.services.hub.wait(host, vifs);
  } catch (e) {
    store.transact((tx) => undo(tx));
    throw e;
  }
}

/** VM_metrics of a new domain: its start time and state. */
function startMetrics(tx: Tx, vm: string): void {
  const m = tx.get('VM', vm).metrics;
  if (isRef(m) && tx.find('VM_metrics', m)) tx.update('VM_metrics', m, { start_time: compactNow(), last_updated: compactNow() });
}

/** The host a start/resume runs on: the one named (checked), or the first that fits. */
export function startHost(r: Reader, vm: string, wanted?: string): string {
  const networks = networksOf(vifsOf(r, vm));
  if (wanted === undefined) return chooseHost(r, vm, networks);
  r.get('host', wanted); // a null host is HANDLE_INVALID, not a start nowhere
  const p = hostProblem(r, vm, networks, wanted);
  if (p) throw p;
  return wanted;
}

/** On a realisation failure the start is rolled back: the VM is Halted again and its VIFs detached. */
async function vmStart(ctx: CallContext, vm: string, startPaused: boolean, wanted?: string): Promise<void> {
  await runVmOperation(ctx, vm, wanted === undefined ? 'start' : 'start_on', async () => {
    const host = startHost(ctx.services.store, vm, wanted);
    await bootOn(ctx, vm, host, startPaused ? 'Paused' : 'Running', (tx) => halt(tx, vm));
  });
}

// ---------------------------------------------------------------- shutdown / destroy

/** No domain any more: VIFs detached, Halted, no domid, not resident. */
export function halt(tx: Tx, vm: string, task?: string): void {
  const cur = tx.find('VM', vm);
  if (!cur) return;
  for (const [ref, vif] of vifsOf(tx, vm)) if (vif.currently_attached !== false) tx.update('VIF', ref, { currently_attached: false });
  const patch: Rec = { power_state: 'Halted', domid: -1, resident_on: NULL_REF, scheduled_to_be_resident_on: NULL_REF };
  if (task) patch.current_operations = withOperation(cur, task);
  updateVm(tx, vm, patch);
  for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
}

/**
 * Two steps, as a domain dies: first its VIFs are unplugged (the VM shows the shutdown in
 * current_operations meanwhile, which blocks VIF hot-plug), then the VM is Halted. Each step
 * waits for the host's agent; the second happens even if the first wait fails.
 */
async function vmShutdown(ctx: CallContext, vm: string, op: 'clean_shutdown' | 'hard_shutdown'): Promise<void> {
  const store = ctx.services.store;
  await runVmOperation(ctx, vm, op, async (task) => {
    const { host, vifs } = store.transact((tx) => {
      const refs = vifsOf(tx, vm).map(([ref]) => ref);
      for (const ref of refs) {
        tx.update('VIF', ref, { currently_attached: false });
        refreshAllowedOps(tx, ref);
      }
      return { host: tx.get('VM', vm).resident_on, vifs: refs };
    });
    let failure: unknown;
    try {
      if (isRef(host)) await ctx.services.hub.wait(host, vifs);
    } catch (e) { failure = e; }
    store.transact((tx) => halt(tx, vm, task));
    if (failure) throw failure;
    if (isRef(host)) await ctx.services.hub.wait(host, vifs);
  });
}

/** Deletes the VM with its VIFs and its metrics rows. */
export function destroyVmRows(tx: Tx, vm: string): void {
  const rec = tx.get('VM', vm);
  for (const [ref] of vifsOf(tx, vm)) destroyVifRow(tx, ref);
  if (isRef(rec.metrics) && tx.find('VM_metrics', rec.metrics)) tx.destroy('VM_metrics', rec.metrics);
  if (isRef(rec.guest_metrics) && tx.find('VM_guest_metrics', rec.guest_metrics)) tx.destroy('VM_guest_metrics', rec.guest_metrics);
  tx.destroy('VM', vm);
}

function vmDestroy(ctx: CallContext, vm: string): void {
  ctx.services.store.transact((tx) => {
    assertVmOperation(tx, vm, 'destroy');
    destroyVmRows(tx, vm);
  });
}

function allowedVifDevices(ctx: CallContext, vm: string): string[] {
  const used = new Set(vifsOf(ctx.services.store, vm).map(([, v]) => deviceNumber(v.device)));
  return Array.from({ length: 16 }, (_, i) => i).filter((d) => !used.has(d)).map(String);
}

export const vmRules: Rules = {
  'VM.create': (ctx, a) => vmCreate(ctx, a.args as Rec),
  'VM.start': (ctx, a) => vmStart(ctx, a.vm, a.start_paused),
  'VM.start_on': (ctx, a) => vmStart(ctx, a.vm, a.start_paused, a.host),
  'VM.clean_shutdown': (ctx, a) => vmShutdown(ctx, a.vm, 'clean_shutdown'),
  'VM.hard_shutdown': (ctx, a) => vmShutdown(ctx, a.vm, 'hard_shutdown'),
  'VM.destroy': (ctx, a) => vmDestroy(ctx, a.self),
  'VM.get_allowed_VIF_devices': (ctx, a) => allowedVifDevices(ctx, a.vm),
};
