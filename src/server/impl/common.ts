// Rule helpers shared by the PIF, host, pool, VLAN, Bond, tunnel, network and VIF modules:
// PIF kinds and topology (xen-api: ocaml/xapi/xapi_pif.ml), common checks, address validators, and the
// plug/unplug semantics of PIFs (xapi_pif.ml, nm.ml) so every module plugs the same way.

import { ApiError, assertOr } from '../../common/api-error.js';
import { isIPv4, isIPv6 } from '../../common/net-syntax.js';
import type { RecordOf, Tx } from '../../db/store.js';
import { NULL_REF, type Rec } from '../../idl/meta.js';
import type { PIFRecord, poolRecord } from '../../idl/types.gen.js';
import type { CallContext } from '../context.js';

/** Read access shared by the Store and a transaction (Tx). */
export interface Reader {
  find<C extends string>(cls: C, ref: string): RecordOf<C> | undefined;
  get<C extends string>(cls: C, ref: string): RecordOf<C>;
  all<C extends string>(cls: C): Iterable<[string, RecordOf<C>]>;
  /** The objects whose indexed field holds the value (fields marked `indexed` in the IDL). */
  lookup(cls: string, field: string, value: string): readonly string[];
}

export const isRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== NULL_REF;
/** The refs in a set field (nulls and non-strings dropped). */
export const refs = (v: unknown): string[] => (Array.isArray(v) ? v.filter(isRef) : []);

// ---------------------------------------------------------------- kinds and topology

export type PifKind = 'tunnel_access' | 'vlan' | 'sriov_logical' | 'bond_master' | 'physical' | 'unknown';

/** The kind of a PIF, by the first matching rule (a PIF is a VLAN, tunnel access, bond master or physical PIF). */
export function pifKind(_r: Reader | null, pif: PIFRecord): PifKind {
  if (refs(pif.tunnel_access_PIF_of).length) return 'tunnel_access';
  if (isRef(pif.VLAN_master_of)) return 'vlan';
  if (refs(pif.sriov_logical_PIF_of).length) return 'sriov_logical';
  if (refs(pif.bond_master_of).length) return 'bond_master';
  if (pif.physical === true) return 'physical';
  return 'unknown';
}

/** True for a bond member (its bond still exists). */
export function isBondSlave(r: Reader, pif: PIFRecord): boolean {
  return isRef(pif.bond_slave_of) && !!r.find('Bond', pif.bond_slave_of);
}

export const isBondMaster = (pif: PIFRecord): boolean => refs(pif.bond_master_of).length > 0;

/** The PIF one step down the topology chain (tunnel → transport, VLAN → tagged PIF), if any. */
export function pifParent(r: Reader, pif: PIFRecord): string | undefined {
  switch (pifKind(r, pif)) {
    case 'tunnel_access': {
      const tun = r.find('tunnel', refs(pif.tunnel_access_PIF_of)[0]!);
      return tun && isRef(tun.transport_PIF) ? (tun.transport_PIF) : undefined;
    }
    case 'vlan': {
      const vlan = r.find('VLAN', pif.VLAN_master_of);
      return vlan && isRef(vlan.tagged_PIF) ? (vlan.tagged_PIF) : undefined;
    }
    default:
      return undefined;
  }
}

/** The chain from `pifRef` down to its root (physical PIF or bond master), head first. */
export function pifChain(r: Reader, pifRef: string): string[] {
  const chain = [pifRef];
  for (let cur = r.find('PIF', pifRef); cur;) {
    const next = pifParent(r, cur);
    if (!next || chain.includes(next)) break;
    chain.push(next);
    cur = r.find('PIF', next);
  }
  return chain;
}

export const pifRoot = (r: Reader, pifRef: string): string => pifChain(r, pifRef).at(-1)!;

/** The PIF of `network` on `host`, if any. */
export function findPifOn(r: Reader, network: string, host: string): string | undefined {
  for (const ref of r.lookup('PIF', 'network', network)) if (r.get('PIF', ref).host === host) return ref;
  return undefined;
}

/** The pool record (there is exactly one). */
export function getPool(r: Reader): [string, poolRecord] {
  for (const e of r.all('pool')) return e;
  throw new ApiError('INTERNAL_ERROR', ['no pool record']);
}

// ---------------------------------------------------------------- checks

/**
 * Checks 1–2 shared by VLAN, Bond and tunnel creation: NETWORK_UNMANAGED, then
 * NETWORK_ALREADY_CONNECTED [host, pif] when the network already has a PIF on that host.
 */
export function assertNetworkFreeOn(r: Reader, network: string, host: string): void {
  assertOr(r.get('network', network).managed !== false, 'NETWORK_UNMANAGED', network);
  const connected = findPifOn(r, network, host);
  assertOr(connected === undefined, 'NETWORK_ALREADY_CONNECTED', host, connected);
}

/** True for an SR-IOV logical PIF. */
export const isSriovLogical = (p: PIFRecord | undefined): boolean => refs(p?.sriov_logical_PIF_of).length > 0;

export function assertManagedPif(pifRef: string, pif: PIFRecord): void {
  assertOr(pif.managed !== false, 'PIF_UNMANAGED', pifRef);
}

/** HA_IS_ENABLED [] / REDO_LOG_IS_ENABLED [] (callers decide when the gate applies). */
export function assertNoProtection(r: Reader): void {
  const [, pool] = getPool(r);
  assertOr(pool.ha_enabled !== true, 'HA_IS_ENABLED');
  assertOr(pool.redo_log_enabled !== true, 'REDO_LOG_IS_ENABLED');
}

/**
 * A VIF on `network` that is live on `host`: attached with its VM running there, or being
 * attached (an `attach` operation in progress) for a VM resident there.
 * PIF.unplug, VLAN.destroy and tunnel.destroy refuse with VIF_IN_USE [network, vif].
 */
export function findVifInUse(r: Reader, network: string, host: string): string | undefined {
  for (const ref of r.lookup('VIF', 'network', network)) {
    const vif = r.get('VIF', ref);
    const vm = r.find('VM', vif.VM);
    if (!vm || vm.resident_on !== host) continue;
    const attaching = Object.values((vif.current_operations ?? {}) as Rec).includes('attach');
    // resident here means live: Running or Paused (a paused domain keeps its backends)
    const live = vm.power_state === 'Running' || vm.power_state === 'Paused';
    if ((vif.currently_attached === true && live) || attaching) return ref;
  }
  return undefined;
}

/** The checks of PIF.unplug, in xapi's order (also run by VLAN/tunnel destroy). */
export function assertCanUnplug(r: Reader, pifRef: string): void {
  const pif = r.get('PIF', pifRef);
  assertManagedPif(pifRef, pif);
  if (pif.currently_attached === true) assertNoProtection(r);
  assertOr(pif.management !== true, 'PIF_IS_MANAGEMENT_INTERFACE', pifRef);
  const vif = findVifInUse(r, pif.network, pif.host);
  assertOr(vif === undefined, 'VIF_IN_USE', pif.network, vif);
  assertOr(pif.disallow_unplug !== true, 'PIF_DOES_NOT_ALLOW_UNPLUG', pifRef);
}

// ---------------------------------------------------------------- validators

// The address, MAC and netmask syntax is shared with the IDL's field rules and the agent.
export { isIPv4, isIPv4Cidr, isIPv6, isIPv6Cidr, isMac, isNetmask } from '../../common/net-syntax.js';

/** Splits a comma-separated DNS list into its IPv4 and IPv6 entries (others are dropped). */
export function splitDns(dns: string): { v4: string[]; v6: string[] } {
  const items = dns.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return { v4: items.filter(isIPv4), v6: items.filter(isIPv6) };
}

// ---------------------------------------------------------------- management

/** The address a PIF gives its host: its primary-family address, without prefix. */
export function pifAddress(pif: PIFRecord): string {
  if (pif.primary_address_type === 'IPv6') {
    const first = refsOrStrings(pif.IPv6).find((x) => x !== '') ?? '';
    return first.split('/')[0]!;
  }
  return typeof pif.IP === 'string' ? pif.IP : '';
}
const refsOrStrings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * Management flags follow the host's management bridge: true exactly on the host's PIFs whose
 * network has that bridge. host.address follows the management PIF's address when it has one.
 */
export function recomputeManagement(tx: Tx, host: string): void {
  const h = tx.get('host', host);
  const bridge = typeof h.management_bridge === 'string' ? h.management_bridge : '';
  let address: string | undefined;
  for (const ref of tx.lookup('PIF', 'host', host)) {
    const pif = tx.get('PIF', ref);
    const net = tx.find('network', pif.network);
    const mgmt = bridge !== '' && net?.bridge === bridge;
    if (pif.management !== mgmt) tx.update('PIF', ref, { management: mgmt });
    if (mgmt && address === undefined) address = pifAddress(pif);
  }
  if (address && h.address !== address) tx.update('host', host, { address });
}

/** Re-reads the management PIF's (agent-measured) address into host.address. */
export function syncHostAddress(ctx: CallContext, host: string): void {
  const store = ctx.services.store;
  if (!store.find('host', host)) return;
  store.transact((tx) => recomputeManagement(tx, host));
}

// ---------------------------------------------------------------- plug / unplug

/** PIF.plug checks, in order: PIF_UNMANAGED, TRANSPORT_PIF_NOT_CONFIGURED, CANNOT_PLUG_BOND_SLAVE. */
export function assertCanPlug(r: Reader, pifRef: string): void {
  const pif = r.get('PIF', pifRef);
  assertManagedPif(pifRef, pif);
  if (pifKind(r, pif) === 'tunnel_access') {
    const transport = pifParent(r, pif);
    const tp = transport ? r.find('PIF', transport) : undefined;
    assertOr(tp && tp.ip_configuration_mode !== 'None', 'TRANSPORT_PIF_NOT_CONFIGURED', transport ?? NULL_REF);
  }
  assertOr(!isBondSlave(r, pif), 'CANNOT_PLUG_BOND_SLAVE', pifRef);
}

/**
 * Marks the PIF wanted up inside a transaction (no checks, no waiting): currently_attached,
 * IGMP status mirrored from the pool; a bond master's members leave the attached state.
 * Setting it again on an attached PIF still makes a change, so the agent re-applies it.
 */
export function markPlugged(tx: Tx, pifRef: string): void {
  const pif = tx.get('PIF', pifRef);
  const patch: Rec = { currently_attached: true };
  if (pifKind(tx, pif) !== 'vlan') {
    const [, pool] = getPool(tx);
    patch.igmp_snooping_status = pool.igmp_snooping_enabled === true ? 'enabled' : 'disabled';
  }
  tx.update('PIF', pifRef, patch);
  for (const bond of refs(pif.bond_master_of)) {
    for (const [ref, member] of tx.all('PIF')) {
      if (member.bond_slave_of === bond && member.currently_attached !== false) tx.update('PIF', ref, { currently_attached: false });
    }
  }
}

/**
 * PIF.plug with its checks: a tunnel access PIF plugs its transport first; the PIF is marked
 * attached in one transaction and the call returns once the host's agent has realised it
 * (its MTU and DHCP address come back in the agent's report).
 */
export async function plugPif(ctx: CallContext, pifRef: string): Promise<void> {
  const store = ctx.services.store;
  assertCanPlug(store, pifRef);
  const pif = store.get('PIF', pifRef);
  if (pifKind(store, pif) === 'tunnel_access') {
    const transport = pifParent(store, pif)!;
    await plugPif(ctx, transport);
  }
  store.transact((tx) => markPlugged(tx, pifRef));
  await ctx.services.hub.wait(pif.host, [pifRef]);
  if (pif.management === true) syncHostAddress(ctx, pif.host);
}

/**
 * PIF.unplug with its checks. A bond member is a silent no-op. Tunnel access PIFs carried over
 * this PIF go down with it; then the call waits for the host's agent.
 */
export async function unplugPif(ctx: CallContext, pifRef: string): Promise<void> {
  const store = ctx.services.store;
  assertCanUnplug(store, pifRef);
  const pif = store.get('PIF', pifRef);
  if (isBondSlave(store, pif)) return;
  store.transact((tx) => markUnplugged(tx, pifRef));
  await ctx.services.hub.wait(pif.host, [pifRef]);
}

/** currently_attached := false on the PIF and, first, on the tunnel access PIFs over it. */
export function markUnplugged(tx: Tx, pifRef: string, seen = new Set<string>()): void {
  if (seen.has(pifRef)) return;
  seen.add(pifRef);
  const pif = tx.get('PIF', pifRef);
  for (const tun of refs(pif.tunnel_transport_PIF_of)) {
    const access = tx.find('tunnel', tun)?.access_PIF;
    if (isRef(access) && tx.find('PIF', access)) markUnplugged(tx, access, seen);
  }
  if (pif.currently_attached !== false) tx.update('PIF', pifRef, { currently_attached: false });
}
