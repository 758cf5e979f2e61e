// VIF rules (xen-api: ocaml/xapi/xapi_vif.ml, xapi_vif_helpers.ml): create with device and MAC rules, the
// allowed-operations table that orders the plug/unplug errors, hot-plug through the host's
// agent, move, locking, allowed addresses, guest IP configuration and trunks.

import { createHash, randomUUID } from 'node:crypto';
import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import type { Rec, Value } from '../../idl/meta.js';
import type { Args, VIFRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { compactNow } from '../sessions.js';
import { isIPv4, isIPv4Cidr, isIPv6, isIPv6Cidr, isMac, isRef, type Reader } from './common.js';
import { VIFClass } from '../../idl/classes/vif.js';
import { checkCreate, checkMember, fieldOf } from '../field-rules.js';
import { bondSlavePifOn, hasVlanPif, networkUsableOn, plugNetworkOn } from './network.js';

type Op = 'attach' | 'plug' | 'unplug';
const OPS: Op[] = ['attach', 'plug', 'unplug'];
type Failure = [string, ...string[]];

/** Device numbers compare as integers: "01" and "1" are the same slot. */
export const deviceNumber = (d: Value | undefined): number => (typeof d === 'string' && /^\d+$/.test(d) ? Number(d) : NaN);

/**
 * As xapi_vif_helpers.ml: MD5 of the seed, re-hashed 2×device times (H), then H2 = MD5(H); bytes H[0..3], H2[1..2];
 * locally administered, unicast.
 */
export function macFromSeed(seed: string, device: number): string {
  const md5 = (b: Buffer | string) => createHash('md5').update(b).digest();
  let h = md5(seed);
  for (let i = 0; i < 2 * device; i++) h = md5(h);
  const h2 = md5(h);
  const bytes = [h[0]!, h[1]!, h[2]!, h[3]!, h2[1]!, h2[2]!];
  bytes[0] = (bytes[0]! | 0x02) & 0xfe;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
/** Beyond this, deriving a MAC would cost millions of hashes: refused as MAC_INVALID (see differences.md). */
const MAX_SEEDED_DEVICE = 65535;

// ---------------------------------------------------------------- allowed operations (xapi_vif_helpers.ml)

/** The first error of each operation, by the table's rules in order; null = allowed. */
export function vifOperationErrors(r: Reader, vifRef: string): Record<Op, Failure | null> {
  const vif = r.get('VIF', vifRef);
  const vm: Rec = r.find('VM', vif.VM) ?? {};
  const out: Record<Op, Failure | null> = { attach: null, plug: null, unplug: null };
  const set = (ops: Op[], err: Failure) => { for (const o of ops) if (!out[o]) out[o] = err; };
  const current = Object.entries((vif.current_operations ?? {}) as Record<string, string>);
  if (current.length > 0) {
    set(OPS, ['OTHER_OPERATION_IN_PROGRESS', 'VIF', vifRef,
      `{${current.map(([, op]) => op).join('; ')}}`, `{${current.map(([t]) => t).join('; ')}}`]);
  }
  if (vm.is_control_domain === true) set(['plug'], ['OPERATION_NOT_ALLOWED', 'Control domain does not support hotplug']);
  const power = String(vm.power_state ?? 'Halted');
  if (power === 'Running') {
    if (vif.currently_attached === true || vif.reserved === true) set(['plug'], ['DEVICE_ALREADY_ATTACHED', vifRef]);
    else set(['unplug'], ['DEVICE_ALREADY_DETACHED', vifRef]);
  } else {
    set(['plug', 'unplug'], ['VM_BAD_POWER_STATE', vif.VM, 'running', power.toLowerCase()]);
  }
  const vmOps = Object.values((vm.current_operations ?? {}) as Record<string, string>);
  const blocking = vmOps.find((o) => ['clean_shutdown', 'hard_shutdown', 'suspend', 'pause'].includes(o));
  if (blocking) set(['plug', 'unplug'], ['OPERATION_NOT_ALLOWED', `Current operation on VM:${vif.VM} is ${blocking}`]);
  return out;
}

/** Writes allowed_operations when it changed (after create and around every plug/unplug). */
export function refreshAllowedOps(tx: Tx, vifRef: string): void {
  const vif = tx.find('VIF', vifRef);
  if (!vif) return;
  const errs = vifOperationErrors(tx, vifRef);
  const allowed = OPS.filter((o) => errs[o] === null);
  if (JSON.stringify(allowed) !== JSON.stringify(vif.allowed_operations)) tx.update('VIF', vifRef, { allowed_operations: allowed });
}

/** Deletes a VIF with its metrics row (whose deletion failures are ignored, as in xapi). */
export function destroyVifRow(tx: Tx, vifRef: string): void {
  const metrics = tx.get('VIF', vifRef).metrics;
  if (isRef(metrics) && tx.find('VIF_metrics', metrics)) tx.destroy('VIF_metrics', metrics);
  tx.destroy('VIF', vifRef);
}

/** The host where the VIF is live (attached, VM running or paused there), if it is. */
export function liveHost(r: Reader, vif: VIFRecord): string | undefined {
  const vm = r.find('VM', vif.VM);
  if (vif.currently_attached !== true || !vm || (vm.power_state !== 'Running' && vm.power_state !== 'Paused') || !isRef(vm.resident_on)) return undefined;
  return vm.resident_on;
}

// ---------------------------------------------------------------- create / destroy

/** Struct members without a default, in declaration order; a missing one is the dispatcher's error. */
const MANDATORY = ['device', 'network', 'VM', 'MAC', 'MTU', 'other_config', 'qos_algorithm_type', 'qos_algorithm_params'];
const OPTIONAL: Record<string, Value> = { currently_attached: false, locking_mode: 'network_default', ipv4_allowed: [], ipv6_allowed: [], trunks: [] };

function vifCreate(ctx: CallContext, args: Rec): string {
  for (const m of MANDATORY) {
    if (!(m in args)) throw new ApiError('INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${m}")`]);
  }
  // The field rules: roles (locking_mode and the allowed addresses need what their setters
  // need), then INVALID_DEVICE, MAC_INVALID for a malformed MAC, other_config:mtu, the allowed
  // addresses and the trunk tags.
  checkCreate(ctx, VIFClass, args);
  return ctx.services.store.transact((tx) => {
    const vmRef = args.VM as string;
    const netRef = args.network as string;
    const vm = tx.get('VM', vmRef);
    tx.get('network', netRef);
    const opt = (k: string) => (k in args ? args[k]! : OPTIONAL[k]!);
    // LICENCE_RESTRICTION (check 1) is never raised: xcpnet has no licensing, every feature is on.
    const device = args.device as string;
    let mac = args.MAC as string;
    let autogenerated = false;
    const seed = ((vm.other_config ?? {}) as Record<string, Value>).mac_seed;
    if (mac === '' && typeof seed === 'string' && Number(device) <= MAX_SEEDED_DEVICE) {
      mac = macFromSeed(seed, Number(device));
      autogenerated = true;
    }
    assertOr(isMac(mac), 'MAC_INVALID', mac);
    const trunks = opt('trunks') as number[];
    assertOr(trunks.length === 0 || !hasVlanPif(tx, netRef), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', netRef);
    for (const other of (vm.VIFs ?? [])) {
      assertOr(deviceNumber(tx.find('VIF', other)?.device) !== Number(device), 'DEVICE_ALREADY_EXISTS', device);
    }
    const metrics = tx.create('VIF_metrics', { io_read_kbs: 0, io_write_kbs: 0, last_updated: compactNow(), other_config: {} });
    const ref = tx.create('VIF', {
      device, network: netRef, VM: vmRef, MAC: mac, MAC_autogenerated: autogenerated, MTU: args.MTU!,
      other_config: args.other_config!, qos_algorithm_type: args.qos_algorithm_type!, qos_algorithm_params: args.qos_algorithm_params!,
      // Only a suspended VM's VIFs may be created attached (their devices come back on resume).
      currently_attached: vm.power_state === 'Suspended' ? opt('currently_attached') : false,
      locking_mode: opt('locking_mode'), ipv4_allowed: opt('ipv4_allowed'), ipv6_allowed: opt('ipv6_allowed'), trunks,
      status_code: 0, status_detail: '', runtime_properties: {}, qos_supported_algorithms: [], metrics,
    });
    refreshAllowedOps(tx, ref);
    return ref;
  });
}

function vifDestroy(ctx: CallContext, self: string): void {
  ctx.services.store.transact((tx) => {
    const vif = tx.get('VIF', self);
    const vm = tx.find('VM', vif.VM);
    assertOr(!(vm && vm.domid !== -1 && vif.currently_attached === true), 'OPERATION_NOT_ALLOWED', 'VIF currently attached to a running VM');
    destroyVifRow(tx, self);
  });
}

// ---------------------------------------------------------------- plug / unplug

/**
 * Plug (attach=true) or unplug: the table's first error for the operation, then the operation
 * is recorded in current_operations (keyed by the call's task, or a fresh ref for a sync call)
 * until the host's agent has realised the change.
 */
async function plugOrUnplug(ctx: CallContext, self: string, attach: boolean): Promise<void> {
  const store = ctx.services.store;
  const op: Op = attach ? 'plug' : 'unplug';
  const task = ctx.task ?? `OpaqueRef:${randomUUID()}`;
  const { host, network } = store.transact((tx) => {
    const err = vifOperationErrors(tx, self)[op];
    if (err) throw new ApiError(err[0], err.slice(1));
    const vif = tx.get('VIF', self);
    tx.update('VIF', self, { current_operations: { ...(vif.current_operations as Rec), [task]: op } });
    refreshAllowedOps(tx, self);
    return { host: tx.get('VM', vif.VM).resident_on, network: vif.network };
  });
  try {
    if (attach) await plugNetworkOn(ctx, network, host, false);
    store.transact((tx) => tx.update('VIF', self, { currently_attached: attach }));
    await ctx.services.hub.wait(host, [self]);
  } finally {
    store.transact((tx) => {
      const vif = tx.find('VIF', self);
      if (!vif) return;
      const ops = { ...(vif.current_operations as Rec) };
      delete ops[task];
      tx.update('VIF', self, { current_operations: ops });
      refreshAllowedOps(tx, self);
    });
  }
}

// ---------------------------------------------------------------- move, locking, addresses

/** After a change that matters on the host (filtering, trunks), wait until a live VIF has it. */
async function reapply(ctx: CallContext, self: string): Promise<void> {
  const host = liveHost(ctx.services.store, ctx.services.store.get('VIF', self));
  if (host) await ctx.services.hub.wait(host, [self]);
}

async function vifMove(ctx: CallContext, self: string, network: string): Promise<void> {
  const store = ctx.services.store;
  const vif = store.get('VIF', self);
  store.get('network', network); // HANDLE_INVALID for OpaqueRef:NULL too: a VIF never leaves its network for none
  const vm = store.get('VM', vif.VM);
  const active = vif.currently_attached === true && vm.power_state !== 'Suspended' && isRef(vm.resident_on);
  const host = vm.resident_on;
  // Usable there (a PIF on the host, or an internal network not pinned elsewhere), and
  // not through a bond member.
  if (active) {
    const usable = networkUsableOn(store, network, host, vif.VM) && !bondSlavePifOn(store, network, host);
    assertOr(usable, 'HOST_CANNOT_ATTACH_NETWORK', host, network);
  }
  assertOr(((vif.trunks ?? []) as number[]).length === 0 || !hasVlanPif(store, network), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', network);
  if (active) await plugNetworkOn(ctx, network, host, false);
  store.transact((tx) => tx.update('VIF', self, { network }));
  if (active) await ctx.services.hub.wait(host, [self]);
}

async function update(ctx: CallContext, self: string, fn: (vif: VIFRecord, tx: Tx) => Rec | undefined): Promise<void> {
  ctx.services.store.transact((tx) => {
    const patch = fn(tx.get('VIF', self), tx);
    if (patch) tx.update('VIF', self, patch);
  });
  await reapply(ctx, self);
}

type Family = 4 | 6;
const allowedField = (f: Family) => (f === 4 ? 'ipv4_allowed' : 'ipv6_allowed');

function checkAllowed(f: Family, values: string[]): void {
  for (const v of values) checkMember(fieldOf('VIF', allowedField(f)), v);
}

const setAllowed = (f: Family) => (ctx: CallContext, a: Args['VIF.set_ipv4_allowed']) => {
  ctx.services.store.get('VIF', a.self); // the VIF is read (to forward the call) before the value
  const values = [...new Set(a.value)];
  checkAllowed(f, values);
  return update(ctx, a.self, () => ({ [allowedField(f)]: values }));
};
const addAllowed = (f: Family) => (ctx: CallContext, a: Args['VIF.add_ipv4_allowed']) => {
  ctx.services.store.get('VIF', a.self);
  checkAllowed(f, [a.value]);
  return update(ctx, a.self, (vif) => {
    const cur = vif[allowedField(f)];
    return cur.includes(a.value) ? undefined : { [allowedField(f)]: [...cur, a.value] };
  });
};
const removeAllowed = (f: Family) => (ctx: CallContext, a: Args['VIF.remove_ipv4_allowed']) =>
  update(ctx, a.self, (vif) => {
    const cur = vif[allowedField(f)];
    return cur.includes(a.value) ? { [allowedField(f)]: cur.filter((x) => x !== a.value) } : undefined;
  });

/** Is the (prefix-less) address allowed by one of the entries (an address or a CIDR)? */
function addressAllowed(f: Family, ip: string, entries: string[]): boolean {
  if (f === 6) return entries.some((e) => e === ip || e.split('/')[0] === ip);
  const num = (a: string) => a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  return entries.some((e) => {
    const [addr, len] = e.split('/');
    if (len === undefined) return addr === ip;
    const bits = Number(len);
    const size = 2 ** (32 - bits);
    return Math.floor(num(addr!) / size) === Math.floor(num(ip) / size);
  });
}

/**
 * configure_ipv4/6. The guest's "feature-static-ip-setting" normally comes from its guest
 * metrics; xcpnet has no guest agent, so the VM's other_config key of that name stands in.
 */
const configureIp = (f: Family) => async (ctx: CallContext, a: Args['VIF.configure_ipv4'] | Args['VIF.configure_ipv6']) => {
  const self = a.self;
  const mode = a.mode;
  const address = a.address;
  const gateway = a.gateway;
  ctx.services.store.transact((tx) => {
    const vif = tx.get('VIF', self);
    if (mode === 'Static') {
      // LICENCE_RESTRICTION for Guest_ip_setting is never raised (no licensing).
      assertOr(f === 4 ? isIPv4Cidr(address) : isIPv6Cidr(address), 'INVALID_CIDR_ADDRESS_SPECIFIED', 'address');
      if (vif.locking_mode === 'locked') {
        assertOr(addressAllowed(f, address.split('/')[0]!, vif[allowedField(f)]), 'ADDRESS_VIOLATES_LOCKING_CONSTRAINT', address);
      }
      if (gateway !== '') assertOr(f === 4 ? isIPv4(gateway) : isIPv6(gateway), 'INVALID_IP_ADDRESS_SPECIFIED', 'gateway');
    }
    const vm = tx.get('VM', vif.VM);
    const feature = ((vm.other_config ?? {}) as Record<string, Value>)['feature-static-ip-setting'];
    assertOr(feature === '1', 'VM_LACKS_FEATURE', vif.VM);
    tx.update('VIF', self, f === 4
      ? { ipv4_configuration_mode: mode, ipv4_addresses: [address], ipv4_gateway: gateway }
      : { ipv6_configuration_mode: mode, ipv6_addresses: [address], ipv6_gateway: gateway });
  });
};

async function addTrunk(ctx: CallContext, self: string, value: number): Promise<void> {
  ctx.services.store.get('VIF', self);
  checkMember(fieldOf('VIF', 'trunks'), value);
  await update(ctx, self, (vif, tx) => {
    assertOr(!hasVlanPif(tx, vif.network), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', vif.network);
    const cur = (vif.trunks ?? []) as number[];
    return cur.includes(value) ? undefined : { trunks: [...cur, value] };
  });
}

async function setTrunks(ctx: CallContext, self: string, value: number[]): Promise<void> {
  await update(ctx, self, (vif, tx) => {
    if (value.length > 0) assertOr(!hasVlanPif(tx, vif.network), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', vif.network);
    const tags = [...new Set(value)];
    for (const t of tags) checkMember(fieldOf('VIF', 'trunks'), t);
    return { trunks: tags };
  });
}

export const vifRules: Rules = {
  'VIF.create': (ctx, a) => vifCreate(ctx, a.args as Rec),
  'VIF.destroy': (ctx, a) => vifDestroy(ctx, a.self),
  'VIF.plug': (ctx, a) => plugOrUnplug(ctx, a.self, true),
  'VIF.unplug': (ctx, a) => plugOrUnplug(ctx, a.self, false),
  // No guest here to cooperate: the forced variant is the same unplug.
  'VIF.unplug_force': (ctx, a) => plugOrUnplug(ctx, a.self, false),
  'VIF.move': (ctx, a) => vifMove(ctx, a.self, a.network),
  // The effective mode can be `locked`, but no SDN controller exists and there is no licensing,
  // so neither OPERATION_NOT_ALLOWED nor LICENCE_RESTRICTION can arise.
  'VIF.set_locking_mode': (ctx, a) => update(ctx, a.self, () => ({ locking_mode: a.value! })),
  'VIF.set_ipv4_allowed': setAllowed(4),
  'VIF.add_ipv4_allowed': addAllowed(4),
  'VIF.remove_ipv4_allowed': removeAllowed(4),
  'VIF.set_ipv6_allowed': setAllowed(6),
  'VIF.add_ipv6_allowed': addAllowed(6),
  'VIF.remove_ipv6_allowed': removeAllowed(6),
  'VIF.configure_ipv4': configureIp(4),
  'VIF.configure_ipv6': configureIp(6),
  'VIF.add_trunks': (ctx, a) => addTrunk(ctx, a.self, a.value),
  'VIF.remove_trunks': (ctx, a) => update(ctx, a.self, (vif) => {
    const cur = (vif.trunks ?? []) as number[];
    return cur.includes(a.value) ? { trunks: cur.filter((t) => t !== a.value) } : undefined;
  }),
  'VIF.set_trunks': (ctx, a) => setTrunks(ctx, a.self, a.value),
};
