// VM rules, as much lifecycle as networking needs (reference §2.10, §7.4): create with a MAC
// seed, start / start_on on a host where every VIF's network is usable (plugging what is needed
// there), shutdown unplugging the VIFs, destroy with the VIFs, and the free VIF device slots.

import { randomUUID } from 'node:crypto';
import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, type Rec, type Value } from '../../idl/meta.js';
import type { CallContext, ImplTable } from '../context.js';
import { getPool, isRef, type Reader } from './common.js';
import { bondSlavePifOn, networkUsableOn, plugNetworkOn } from './network.js';
import { destroyVifRow, deviceNumber, refreshAllowedOps } from './vif.js';
import { VMClass } from '../../idl/classes/vm.js';
import { checkCreate } from '../field-rules.js';

const lower = (v: Value | undefined) => String(v ?? '').toLowerCase();

/** VM allowed_operations for the operations xcpnet implements. */
function vmAllowedOps(vm: Rec): string[] {
  if (vm.is_control_domain === true) return [];
  switch (vm.power_state) {
    case 'Halted': return ['start', 'start_on', 'destroy'];
    case 'Running': return ['clean_shutdown', 'hard_shutdown'];
    case 'Suspended': return ['hard_shutdown', 'destroy'];
    default: return ['hard_shutdown'];
  }
}

export function updateVm(tx: Tx, vm: string, patch: Rec): void {
  const next = { ...tx.get('VM', vm), ...patch };
  tx.update('VM', vm, { ...patch, allowed_operations: vmAllowedOps(next) });
}

/** The VM's VIFs in device order (so errors name the lowest device's network first). */
function vifsOf(r: Reader, vm: string): Array<[string, Rec]> {
  const out: Array<[string, Rec]> = [];
  for (const ref of (r.get('VM', vm).VIFs ?? []) as string[]) {
    const vif = r.find('VIF', ref);
    if (vif) out.push([ref, vif]);
  }
  return out.sort(([, a], [, b]) => deviceNumber(a.device) - deviceNumber(b.device));
}

const networksOf = (vifs: Array<[string, Rec]>): string[] => [...new Set(vifs.map(([, v]) => v.network as string))];

// ---------------------------------------------------------------- create

/** Members of the implicit constructor that mean something here; power_state is always Halted. */
const CREATE_MEMBERS = ['name_label', 'name_description', 'is_a_template', 'affinity', 'other_config'];

function vmCreate(ctx: CallContext, args: Rec): string {
  const fields: Rec = {};
  for (const k of CREATE_MEMBERS) if (k in args) fields[k] = args[k]!;
  checkCreate(ctx, VMClass, fields);
  const oc = { ...((fields.other_config ?? {}) as Record<string, Value>) };
  if (typeof oc.mac_seed !== 'string') oc.mac_seed = randomUUID();
  return ctx.services.store.transact((tx) => tx.create('VM', {
    ...fields, other_config: oc, power_state: 'Halted', domid: -1, resident_on: NULL_REF,
    allowed_operations: vmAllowedOps({ power_state: 'Halted' }),
  }));
}

// ---------------------------------------------------------------- start

/** Why the VM cannot start on `host` (networks in VIF device order), or undefined. */
function hostProblem(r: Reader, vm: string, networks: string[], host: string): ApiError | undefined {
  for (const net of networks) {
    if (!networkUsableOn(r, net, host, vm)) return new ApiError('VM_REQUIRES_NETWORK', [vm, net]);
  }
  for (const net of networks) {
    if (bondSlavePifOn(r, net, host)) return new ApiError('HOST_CANNOT_ATTACH_NETWORK', [host, net]);
  }
  return undefined;
}

/** VM.start's host: the affinity host, then the master, then the others; the first that fits. */
function chooseHost(r: Reader, vm: string, networks: string[]): string {
  const rec = r.get('VM', vm);
  const master = getPool(r)[1].master as string;
  const hosts = [...r.all('host')].filter(([, h]) => h.enabled !== false).map(([ref]) => ref);
  const order = [...new Set([rec.affinity as string, master, ...hosts])].filter((h) => hosts.includes(h));
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

function assertHalted(vm: string, rec: Rec): void {
  assertOr(rec.power_state === 'Halted', 'VM_BAD_POWER_STATE', vm, 'halted', lower(rec.power_state));
}

/**
 * start_paused is ignored (xcpnet has no unpause; see differences.md). On a realisation failure
 * the start is rolled back: the VM is Halted again and its VIFs detached.
 */
async function vmStart(ctx: CallContext, vm: string, wanted?: string): Promise<void> {
  const store = ctx.services.store;
  assertHalted(vm, store.get('VM', vm));
  const networks = networksOf(vifsOf(store, vm));
  let host: string;
  if (wanted !== undefined) {
    store.get('host', wanted); // a null host is HANDLE_INVALID, not a start nowhere
    const p = hostProblem(store, vm, networks, wanted);
    if (p) throw p;
    host = wanted;
  } else host = chooseHost(store, vm, networks);
  // Networks come up first (PIFs on demand); a PIF that fails leaves the VM halted.
  for (const net of networks) await plugNetworkOn(ctx, net, host, false);
  const vifs = store.transact((tx) => {
    assertHalted(vm, tx.get('VM', vm)); // still, after the awaits above
    updateVm(tx, vm, { power_state: 'Running', resident_on: host, domid: nextDomid(tx, host) });
    const refs = vifsOf(tx, vm).map(([ref]) => ref);
    for (const ref of refs) {
      tx.update('VIF', ref, { currently_attached: true });
      refreshAllowedOps(tx, ref);
    }
    return refs;
  });
  try {
    await ctx.services.hub.wait(host, vifs);
  } catch (e) {
    store.transact((tx) => halt(tx, vm));
    throw e;
  }
}

// ---------------------------------------------------------------- shutdown / destroy

/** No domain any more: VIFs detached, Halted, no domid, not resident. */
export function halt(tx: Tx, vm: string, task?: string): void {
  const cur = tx.find('VM', vm);
  if (!cur) return;
  for (const [ref, vif] of vifsOf(tx, vm)) if (vif.currently_attached !== false) tx.update('VIF', ref, { currently_attached: false });
  const ops = { ...((cur.current_operations ?? {}) as Rec) };
  if (task) delete ops[task];
  updateVm(tx, vm, { power_state: 'Halted', domid: -1, resident_on: NULL_REF, current_operations: ops });
  for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
}

/** Power states each shutdown accepts, as xapi names them in VM_BAD_POWER_STATE's `expected`. */
const SHUTDOWN_FROM: Record<string, string[]> = {
  clean_shutdown: ['Running'],
  hard_shutdown: ['Paused', 'Suspended', 'Running'],
};

/**
 * Two steps, as a domain dies: first its VIFs are unplugged (the VM shows the shutdown in
 * current_operations meanwhile, which blocks VIF hot-plug), then the VM is Halted. Each step
 * waits for the host's agent; the second happens even if the first wait fails.
 */
async function vmShutdown(ctx: CallContext, vm: string, op: 'clean_shutdown' | 'hard_shutdown'): Promise<void> {
  const store = ctx.services.store;
  const task = ctx.task ?? `OpaqueRef:${randomUUID()}`;
  const from = SHUTDOWN_FROM[op]!;
  const { host, vifs } = store.transact((tx) => {
    const rec = tx.get('VM', vm);
    assertOr(from.includes(rec.power_state as string), 'VM_BAD_POWER_STATE', vm, from.map(lower).join(', '), lower(rec.power_state));
    updateVm(tx, vm, { current_operations: { ...((rec.current_operations ?? {}) as Rec), [task]: op } });
    const refs = vifsOf(tx, vm).map(([ref]) => ref);
    for (const ref of refs) {
      tx.update('VIF', ref, { currently_attached: false });
      refreshAllowedOps(tx, ref);
    }
    return { host: rec.resident_on as string, vifs: refs };
  });
  let failure: unknown;
  try {
    if (isRef(host)) await ctx.services.hub.wait(host, vifs);
  } catch (e) { failure = e; }
  store.transact((tx) => halt(tx, vm, task));
  if (failure) throw failure;
  if (isRef(host)) await ctx.services.hub.wait(host, vifs);
}

function vmDestroy(ctx: CallContext, vm: string): void {
  ctx.services.store.transact((tx) => {
    const rec = tx.get('VM', vm);
    const from = ['Halted', 'Suspended'];
    assertOr(from.includes(rec.power_state as string), 'VM_BAD_POWER_STATE', vm, from.map(lower).join(', '), lower(rec.power_state));
    for (const [ref] of vifsOf(tx, vm)) destroyVifRow(tx, ref);
    tx.destroy('VM', vm);
  });
}

function allowedVifDevices(ctx: CallContext, vm: string): string[] {
  const used = new Set(vifsOf(ctx.services.store, vm).map(([, v]) => deviceNumber(v.device)));
  return Array.from({ length: 16 }, (_, i) => i).filter((d) => !used.has(d)).map(String);
}

export const vmRules: ImplTable = {
  'VM.create': (ctx, a) => vmCreate(ctx, a.args as Rec),
  'VM.start': (ctx, a) => vmStart(ctx, a.vm as string),
  'VM.start_on': (ctx, a) => vmStart(ctx, a.vm as string, a.host as string),
  'VM.clean_shutdown': (ctx, a) => vmShutdown(ctx, a.vm as string, 'clean_shutdown'),
  'VM.hard_shutdown': (ctx, a) => vmShutdown(ctx, a.vm as string, 'hard_shutdown'),
  'VM.destroy': (ctx, a) => vmDestroy(ctx, a.self as string),
  'VM.get_allowed_VIF_devices': (ctx, a) => allowedVifDevices(ctx, a.vm as string),
};
