// network rules (xen-api: ocaml/xapi/xapi_network.ml): create with bridge naming and validation, destroy with
// its three refusals, attach, locking mode and purposes; plus the network facts the VIF and VM
// rules share (which PIF a network has on a host, whether it is usable there, on-demand plugs).

import { ApiError, assertOr } from '../../common/api-error.js';
import type { Store, Tx } from '../../db/store.js';
import { NULL_REF, type Rec, type Value } from '../../idl/meta.js';
import type { networkRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { findPifOn, isBondSlave, isRef, plugPif, type Reader } from './common.js';
import { networkClass } from '../../idl/classes/network.js';
import { checkCreate, checkValue, fieldOf } from '../field-rules.js';
import { assertMtuFitsTunnels } from './tunnel.js';

/** OCaml's bool_of_string as xapi uses it on other_config values, forgiving about case. */
export const isTrueString = (v: Value | undefined): boolean => typeof v === 'string' && v.toLowerCase() === 'true';

const otherConfigOf = (rec: Rec): Record<string, Value> => (rec.other_config ?? {}) as Record<string, Value>;

/** True when the network carries a VLAN PIF on any host (trunked VIFs and VLANs exclude each other). */
export function hasVlanPif(r: Reader, network: string): boolean {
  for (const ref of r.lookup('PIF', 'network', network)) if (isRef(r.get('PIF', ref).VLAN_master_of)) return true;
  return false;
}

/** The PIF of the network on the host, when it is a bond member (it cannot carry the network). */
export function bondSlavePifOn(r: Reader, network: string, host: string): string | undefined {
  const pif = findPifOn(r, network, host);
  return pif && isBondSlave(r, r.get('PIF', pif)) ? pif : undefined;
}

/**
 * As xapi_network_attach_helpers.ml: a network is usable on a host when it has a PIF there, or when it has no PIF at all
 * and is shared by declaration, unmanaged, or not pinned elsewhere by a running VM (other than
 * `exceptVm`) that uses it.
 */
export function networkUsableOn(r: Reader, network: string, host: string, exceptVm = NULL_REF): boolean {
  const net = r.get('network', network);
  const pifs = (net.PIFs ?? []);
  if (pifs.length > 0) return findPifOn(r, network, host) !== undefined;
  if (isTrueString(otherConfigOf(net).assume_network_is_shared) || net.managed === false) return true;
  for (const vifRef of (net.VIFs ?? [])) {
    const vif = r.find('VIF', vifRef);
    if (!vif || vif.VM === exceptVm) continue;
    const vm = r.find('VM', vif.VM);
    if (!vm || (vm.power_state !== 'Running' && vm.power_state !== 'Paused')) continue;
    if (isRef(vm.resident_on) && vm.resident_on !== host) return false;
  }
  return true;
}

/**
 * Plugs the network's managed PIF on the host: always (network.attach) or only when it is not
 * attached yet (on demand, for VIF.plug and VM.start). An internal network has nothing to plug:
 * the host's agent makes its bridge while a wanted VIF is on it.
 */
export async function plugNetworkOn(ctx: CallContext, network: string, host: string, always: boolean): Promise<void> {
  const store = ctx.services.store;
  for (const ref of store.lookup('PIF', 'network', network)) {
    const pif = store.find('PIF', ref);
    if (!pif || pif.host !== host || pif.managed === false) continue;
    if (!always && pif.currently_attached === true) continue;
    await plugPif(ctx, ref);
  }
}

// ---------------------------------------------------------------- bridge names

const BRIDGE_PREFIXES = ['xen', 'xapi', 'vif', 'tap', 'eth'];
/** xapi<N> counter: process-local per store, monotonic, skips used names (as xapi_network.ml). */
const bridgeCounters = new WeakMap<Store, number>();

/** Whether a network has the bridge name: asked of the store's index of network.bridge, not a scan. */
function usedBridges(tx: Tx): { has(name: string): boolean } {
  return { has: (name) => tx.lookup('network', 'bridge', name).length > 0 };
}

function generateBridge(store: Store, tx: Tx): string {
  const used = usedBridges(tx);
  let n = bridgeCounters.get(store) ?? 0;
  let name = `xapi${n}`;
  while (used.has(name)) name = `xapi${++n}`;
  bridgeCounters.set(store, n + 1);
  return name;
}

/** The implicit constructor's members: only the declared ones; other_config is mandatory. */
const CREATE_MEMBERS = ['name_label', 'name_description', 'MTU', 'other_config', 'bridge', 'managed', 'tags'];

function networkCreate(ctx: CallContext, args: Rec): string {
  // The dispatcher of the real server extracts the struct before any rule runs.
  if (!('other_config' in args)) throw new ApiError('INTERNAL_ERROR', ['Server_helpers.Dispatcher_FieldNotFound("other_config")']);
  const fields: Rec = {};
  for (const k of CREATE_MEMBERS) if (k in args) fields[k] = args[k]!;
  if (typeof fields.MTU === 'number' && fields.MTU <= 0) fields.MTU = 1500;
  // Roles (other_config's tunnel key), then the MTU, the bridge name's syntax and other_config.
  checkCreate(ctx, networkClass, fields);
  const store = ctx.services.store;
  return store.transact((tx) => {
    let bridge = typeof fields.bridge === 'string' ? fields.bridge : '';
    if (bridge === '') bridge = generateBridge(store, tx);
    else {
      // A Linux interface name (checked above with the field's rule), not one of the host's own.
      assertOr(!BRIDGE_PREFIXES.some((p) => bridge.startsWith(p)), 'INVALID_VALUE', 'bridge', bridge);
      assertOr(!usedBridges(tx).has(bridge), 'BRIDGE_NAME_EXISTS', bridge);
    }
    return tx.create('network', {
      ...fields, bridge, purpose: [], default_locking_mode: 'unlocked', assigned_ips: {}, blobs: {},
    });
  });
}

function networkDestroy(ctx: CallContext, self: string): void {
  ctx.services.store.transact((tx) => {
    const net = tx.get('network', self);
    const vifs = ((net.VIFs ?? [])).filter((v) => tx.find('VIF', v));
    const live = vifs.filter((v) => { const r = tx.get('VIF', v); return r.currently_attached === true || r.reserved === true; });
    if (live.length > 0) throw new ApiError('NETWORK_CONTAINS_VIF', live);
    const pifs = (net.PIFs ?? []);
    if (pifs.length > 0) throw new ApiError('NETWORK_CONTAINS_PIF', pifs);
    assertOr(!isTrueString(otherConfigOf(net).is_host_internal_management_network), 'CANNOT_DESTROY_SYSTEM_NETWORK', self);
    // Detached VIFs go with the network (as xapi_network.ml), each with its metrics row.
    for (const v of vifs) {
      const metrics = tx.get('VIF', v).metrics;
      if (isRef(metrics) && tx.find('VIF_metrics', metrics)) tx.destroy('VIF_metrics', metrics);
      tx.destroy('VIF', v);
    }
    tx.destroy('network', self);
  });
}

async function networkAttach(ctx: CallContext, network: string, host: string): Promise<void> {
  ctx.services.store.get('host', host); // forwarded to the host: a null host is HANDLE_INVALID
  const net = ctx.services.store.get('network', network);
  if (net.managed === false) {
    // Unmanaged: the bridge must already exist; the agent's last report says which do.
    const bridges = ctx.services.hub.lastReport(host)?.bridges ?? [];
    assertOr(bridges.some((b) => b.name === net.bridge), 'BRIDGE_NOT_AVAILABLE', net.bridge);
    return;
  }
  await plugNetworkOn(ctx, network, host, true);
}

/**
 * network.attach_for_vm (xen-api: ocaml/xapi/xapi_network.ml): each VIF's network attached on the
 * host, as network.attach does, before the VM runs there. An internal network's bridge comes
 * with its first running VIF (the agent makes it), so it has nothing to do for those.
 */
async function attachForVm(ctx: CallContext, host: string, vm: string): Promise<void> {
  const store = ctx.services.store;
  store.get('host', host);
  const networks = new Set(store.get('VM', vm).VIFs.map((v) => store.get('VIF', v).network));
  for (const network of networks) await networkAttach(ctx, network, host);
}

function setDefaultLockingMode(ctx: CallContext, network: string, value: string): void {
  ctx.services.store.transact((tx) => {
    const net = tx.get('network', network);
    const attached = ((net.VIFs ?? [])).find((v) => tx.find('VIF', v)?.currently_attached === true);
    assertOr(attached === undefined, 'VIF_IN_USE', network, attached);
    tx.update('network', network, { default_locking_mode: value });
  });
}

type Purpose = networkRecord['purpose'][number];
const CONFLICTING_PURPOSE: Record<Purpose, Purpose> = { nbd: 'insecure_nbd', insecure_nbd: 'nbd' };

function addPurpose(ctx: CallContext, self: string, value: Purpose): void {
  ctx.services.store.transact((tx) => {
    const net = tx.get('network', self);
    assertOr(net.managed !== false, 'NETWORK_UNMANAGED', self);
    const current = net.purpose;
    if (current.includes(value)) return;
    const bad = CONFLICTING_PURPOSE[value];
    for (const [, other] of tx.all('network')) {
      assertOr(!other.purpose.includes(bad), 'NETWORK_INCOMPATIBLE_PURPOSES', value, bad);
    }
    tx.update('network', self, { purpose: [...current, value] });
  });
}

function removePurpose(ctx: CallContext, self: string, value: Purpose): void {
  ctx.services.store.transact((tx) => {
    const current = tx.get('network', self).purpose;
    if (current.includes(value)) tx.update('network', self, { purpose: current.filter((p) => p !== value) });
  });
}

export const networkRules: Rules = {
  'network.create': (ctx, a) => networkCreate(ctx, a.args as Rec),
  'network.destroy': (ctx, a) => networkDestroy(ctx, a.self),
  // Pool join: the record verbatim, no bridge checks (so it may take a name the counter would give).
  'network.pool_introduce': (ctx, a) => {
    const fields: Rec = {
      name_label: a.name_label!, name_description: a.name_description!, MTU: a.MTU!, other_config: a.other_config!,
      bridge: a.bridge!, managed: a.managed!, purpose: a.purpose!,
    };
    checkCreate(ctx, networkClass, fields);
    return ctx.services.store.transact((tx) => tx.create('network', fields));
  },
  // The implicit setter's checks, and a tunnel network's MTU must fit its tunnels.
  'network.set_MTU': (ctx, a) => ctx.services.store.transact((tx) => {
    tx.get('network', a.self);
    checkValue(fieldOf('network', 'MTU'), a.value);
    assertMtuFitsTunnels(tx, a.self, Number(a.value));
    tx.update('network', a.self, { MTU: a.value });
  }),
  'network.attach': (ctx, a) => networkAttach(ctx, a.network, a.host),
  'network.attach_for_vm': (ctx, a) => attachForVm(ctx, a.host, a.vm),
  // xapi forgets the VM's VIFs and removes an internal network's bridge no other VIF uses; the
  // agent here removes such a bridge with the network's last running VIF, and PIFs stay plugged
  // as in xapi: nothing is left to do but check the references.
  'network.detach_for_vm': (ctx, a) => { ctx.services.store.get('host', a.host); ctx.services.store.get('VM', a.vm); },
  'network.set_default_locking_mode': (ctx, a) => setDefaultLockingMode(ctx, a.network, a.value),
  'network.add_purpose': (ctx, a) => addPurpose(ctx, a.self, a.value),
  'network.remove_purpose': (ctx, a) => removePurpose(ctx, a.self, a.value),
};
