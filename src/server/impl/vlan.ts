// VLAN rules (xen-api: ocaml/xapi/xapi_vlan.ml): VLAN.create / VLAN.destroy and the pool-wide helpers
// pool.create_VLAN_from_PIF / pool.create_VLAN. Also the record-level helper Bond uses to
// re-create a VLAN on another parent (bond create/destroy).

import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, stored, storedFields, type Rec, type Value } from '../../idl/meta.js';
import type { Args, PIFRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { assertNoProtection, isBondSlave, isRef, plugPif, unplugPif, assertNetworkFreeOn, isSriovLogical, refs } from './common.js';
import { VLANClass } from '../../idl/classes/vlan.js';
import { checkCreate, checkMember, fieldOf } from '../field-rules.js';

export const VLAN_PIF_MAC = 'fe:ff:ff:ff:ff:ff';

/** A set field's members, whatever their type (trunks are ints, interfaces names). */
const list = (v: Value | undefined): Value[] => (Array.isArray(v) ? v : []);


/** The SR-IOV checks (xapi_vlan.ml, check 5). SR-IOV objects cannot be created here, so these never fire in practice. */
function assertSriovCompatible(tx: Tx, parent: PIFRecord, network: string): void {
  const sriovBased = (p: PIFRecord | undefined): boolean => {
    if (!p) return false;
    if (isSriovLogical(p)) return true;
    const vlan = isRef(p.VLAN_master_of) ? tx.find('VLAN', p.VLAN_master_of) : undefined;
    return !!vlan && isSriovLogical(tx.find('PIF', vlan.tagged_PIF));
  };
  const existing = refs(tx.find('network', network)?.PIFs).map((r) => tx.find('PIF', r));
  if (isSriovLogical(parent)) {
    assertOr(existing.every(sriovBased), 'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_SRIOV', network);
  } else {
    assertOr(!existing.some(sriovBased), 'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_BRIDGE', network);
  }
}

/**
 * The nine checks of VLAN.create, in xapi's order. VLAN_IN_USE can only be seen
 * when the host's agent reports an interface `<device>.<tag>` on one of its bridges (the
 * agent does not report kernel VLAN devices outside bridges).
 */
export function assertVlanCreatable(ctx: CallContext, tx: Tx, taggedPif: string, tag: number, network: string): void {
  const net = tx.get('network', network);
  const parent = tx.get('PIF', taggedPif);
  const host = parent.host;
  assertNetworkFreeOn(tx, network, host);
  assertOr(parent.managed !== false, 'PIF_UNMANAGED', taggedPif);
  assertOr(!isBondSlave(tx, parent), 'CANNOT_ADD_VLAN_TO_BOND_SLAVE', taggedPif);
  assertOr(!isRef(parent.VLAN_master_of), 'PIF_IS_VLAN', taggedPif);
  assertOr(refs(parent.tunnel_access_PIF_of).length === 0, 'IS_TUNNEL_ACCESS_PIF', taggedPif);
  assertSriovCompatible(tx, parent, network);
  checkMember(fieldOf('VLAN', 'tag'), tag); // VLAN_TAG_INVALID outside 0..4094
  const dup = refs(parent.VLAN_slave_of).some((v) => tx.find('VLAN', v)?.tag === tag);
  assertOr(!dup, 'PIF_VLAN_EXISTS', parent.device);
  const kernelName = `${parent.device}.${tag}`;
  const bridges = ctx.services.hub.lastReport(host)?.bridges ?? [];
  const inUse = bridges.some((b) => b.interfaces.includes(kernelName));
  assertOr(!inUse, 'VLAN_IN_USE', parent.device, tag);
  const trunked = refs(net.VIFs).some((v) => list(tx.find('VIF', v)?.trunks).length > 0);
  assertOr(!trunked, 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', network);
}

/**
 * Writes a VLAN row and its untagged PIF (not yet attached). `from` is the VLAN PIF being
 * replaced when a bond moves a VLAN: its IP configuration, MTU and flags are carried over.
 */
export function createVlanRecords(tx: Tx, taggedPif: string, tag: number, network: string, from?: Rec, vlanOtherConfig: Rec = {}):
{ vlan: string; pif: string } {
  const parent = tx.get('PIF', taggedPif);
  const vlan = tx.create('VLAN', { tagged_PIF: taggedPif, tag, other_config: vlanOtherConfig });
  const pif = tx.create('PIF', {
    device: stored(parent, 'device'), device_name: stored(parent, 'device'), network, host: stored(parent, 'host'),
    MAC: VLAN_PIF_MAC, MTU: from ? stored(from, 'MTU') : stored(parent, 'MTU'), VLAN: tag, metrics: stored(parent, 'metrics'),
    physical: false, currently_attached: false,
    ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '',
    ipv6_configuration_mode: 'None', IPv6: [''], ipv6_gateway: '',
    primary_address_type: stored(parent, 'primary_address_type'), managed: true, management: false, disallow_unplug: false,
    properties: {}, capabilities: [], other_config: {}, VLAN_master_of: vlan,
    ...(from ? copyIpConfig(from) : {}),
    ...(from ? { other_config: from.other_config, disallow_unplug: from.disallow_unplug, management: from.management } : {}),
  });
  tx.update('VLAN', vlan, { untagged_PIF: pif });
  return { vlan, pif };
}

/** The IP configuration fields of a PIF (both families), for moving it elsewhere. */
export function copyIpConfig(p: Rec): Rec {
  return storedFields(p, ['ip_configuration_mode', 'IP', 'netmask', 'gateway', 'DNS',
    'ipv6_configuration_mode', 'IPv6', 'ipv6_gateway', 'primary_address_type']);
}

/**
 * Re-creates a VLAN on another parent (bond create/destroy): a new VLAN row and VLAN PIF with
 * the same tag, network and configuration; the old ones are deleted. Refs and UUIDs change.
 * Returns the new VLAN PIF, attached if the old one was.
 */
export function moveVlan(tx: Tx, vlanRef: string, newParent: string): { vlan: string; pif: string; attached: boolean } {
  const old = tx.get('VLAN', vlanRef);
  const oldPif = isRef(old.untagged_PIF) ? tx.find('PIF', old.untagged_PIF) : undefined;
  const network = (oldPif?.network) ?? NULL_REF;
  // Delete first, so the network is free on this host for the new PIF.
  if (oldPif) tx.destroy('PIF', old.untagged_PIF);
  tx.destroy('VLAN', vlanRef);
  const made = createVlanRecords(tx, newParent, old.tag, network, oldPif, old.other_config as Rec);
  const attached = oldPif?.currently_attached === true;
  if (attached) tx.update('PIF', made.pif, { currently_attached: true });
  return { ...made, attached };
}

async function vlanCreate(ctx: CallContext, args: Args['VLAN.create']): Promise<string> {
  const taggedPif = args.tagged_PIF;
  const tag = args.tag;
  const network = args.network;
  const made = ctx.services.store.transact((tx) => {
    assertVlanCreatable(ctx, tx, taggedPif, tag, network);
    return createVlanRecords(tx, taggedPif, tag, network);
  });
  // Plugged at once; a failed plug leaves both rows in place (as xapi_vlan.ml).
  await plugPif(ctx, made.pif);
  return made.vlan;
}

async function vlanDestroy(ctx: CallContext, args: Args['VLAN.destroy']): Promise<void> {
  const self = args.self;
  const store = ctx.services.store;
  const vlan = store.get('VLAN', self);
  const untagged = isRef(vlan.untagged_PIF) ? store.find('PIF', vlan.untagged_PIF) : undefined;
  if (untagged) {
    const pifRef = vlan.untagged_PIF;
    assertOr(!isRef(untagged.bond_slave_of) && refs(untagged.bond_master_of).length === 0, 'PIF_ALREADY_BONDED', pifRef);
    // Only a pool member's attached management PIF is refused here; the master's is refused by
    // the unplug checks below, after HA_IS_ENABLED (xen-api: ocaml/xapi/xapi_vlan.ml).
    const member = untagged.host !== ctx.services.masterHost();
    assertOr(!(member && untagged.management === true && untagged.currently_attached === true), 'PIF_IS_MANAGEMENT_INTERFACE', pifRef);
    if (untagged.currently_attached === true) assertNoProtection(store);
    assertOr((untagged.VLAN) >= 0, 'PIF_IS_PHYSICAL');
    await unplugPif(ctx, pifRef);
  }
  store.transact((tx) => {
    const cur = tx.find('VLAN', self);
    if (!cur) return;
    if (isRef(cur.untagged_PIF) && tx.find('PIF', cur.untagged_PIF)) tx.destroy('PIF', cur.untagged_PIF);
    tx.destroy('VLAN', self);
  });
}

/** Live hosts: enabled ones (the simulator has no host_metrics.live). */
function isLiveHost(tx: Tx, host: string): boolean {
  return tx.find('host', host)?.enabled === true;
}

/**
 * The pool helpers: create the VLAN on each of `parents` (all checks first, one transaction,
 * so a failure on any host leaves nothing behind), then plug every new PIF, best effort.
 */
async function createOnParents(ctx: CallContext, parents: string[], network: string, tag: number): Promise<string[]> {
  const made = ctx.services.store.transact((tx) => parents.map((p) => {
    assertVlanCreatable(ctx, tx, p, tag, network);
    return createVlanRecords(tx, p, tag, network).pif;
  }));
  for (const pif of made) {
    try { await plugPif(ctx, pif); } catch (e) { if (!ApiError.is(e)) throw e; }
  }
  return made;
}

function sortedByHost(tx: Tx, pifs: string[]): string[] {
  const hostOf = (p: string): string => tx.find('PIF', p)?.host ?? NULL_REF;
  const hostName = (p: string) => String(tx.find('host', hostOf(p))?.name_label ?? '');
  return [...pifs].sort((a, b) => hostName(a).localeCompare(hostName(b)) || a.localeCompare(b));
}

async function createVlanFromPif(ctx: CallContext, args: Args['pool.create_VLAN_from_PIF']): Promise<string[]> {
  const store = ctx.services.store;
  const parents = store.transact((tx) => {
    const pif = tx.get('PIF', args.pif);
    const siblings = refs(tx.find('network', pif.network)?.PIFs)
      .filter((p) => isLiveHost(tx, tx.find('PIF', p)?.host ?? NULL_REF));
    return sortedByHost(tx, siblings);
  });
  return createOnParents(ctx, parents, args.network, args.VLAN);
}

async function poolCreateVlan(ctx: CallContext, args: Args['pool.create_VLAN']): Promise<string[]> {
  const device = args.device;
  const parents = ctx.services.store.transact((tx) => sortedByHost(tx, tx.all('PIF')
    .filter(([, p]) => p.device === device && p.VLAN === -1 && isLiveHost(tx, p.host))
    .map(([r]) => r)));
  if (parents.length === 0) throw new ApiError('INVALID_VALUE', ['device', device]);
  return createOnParents(ctx, parents, args.network, args.VLAN);
}

/** Hidden (pool join): a VLAN row for existing PIFs; the untagged PIF takes the parent's metrics. */
function vlanPoolIntroduce(ctx: CallContext, args: Args['VLAN.pool_introduce']): string {
  checkCreate(ctx, VLANClass, { tag: args.tag!, other_config: args.other_config! });
  return ctx.services.store.transact((tx) => {
    const tagged = tx.get('PIF', args.tagged_PIF);
    const untaggedRef = args.untagged_PIF;
    const untagged = tx.get('PIF', untaggedRef);
    const vlan = tx.create('VLAN', { tagged_PIF: stored(args, 'tagged_PIF'), untagged_PIF: untaggedRef, tag: stored(args, 'tag'), other_config: stored(args, 'other_config') });
    const oldMetrics = untagged.metrics;
    tx.update('PIF', untaggedRef, { VLAN_master_of: vlan, metrics: stored(tagged, 'metrics') });
    if (isRef(oldMetrics) && oldMetrics !== tagged.metrics && tx.find('PIF_metrics', oldMetrics)) tx.destroy('PIF_metrics', oldMetrics);
    return vlan;
  });
}

export const vlanRules: Rules = {
  'VLAN.create': vlanCreate,
  'VLAN.destroy': vlanDestroy,
  'VLAN.pool_introduce': vlanPoolIntroduce,
  'pool.create_VLAN_from_PIF': createVlanFromPif,
  'pool.create_VLAN': poolCreateVlan,
};
