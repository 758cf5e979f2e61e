// Bond rules (xen-api: ocaml/xapi/xapi_bond.ml): Bond.create / destroy / set_mode / set_property.
// Create and destroy rewrite the host's interfaces in ONE transaction (master, members, IP
// configuration, management, VLANs, tunnels, VIFs), so the agent never sees a half-moved
// state (e.g. VLAN PIFs still on a member whose bridge is gone), then wait for the agent.

import { MANAGEMENT_WAIT_MS } from './host.js';
import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, stored, storedFields, type Rec, type Value } from '../../idl/meta.js';
import type { Args, BondRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { getPool, isBondSlave, isMac, isRef, markPlugged, pifKind, recomputeManagement, syncHostAddress, assertNetworkFreeOn, isSriovLogical, refs } from './common.js';
import { moveTunnel } from './tunnel.js';
import { BOND_OVERRIDES } from '../../idl/checks.js';
import { checkMember, fieldOf } from '../field-rules.js';
import { moveVlan } from './vlan.js';


// ---------------------------------------------------------------- properties

const LACP_VALUES: Record<string, (v: string) => boolean> = {
  hashing_algorithm: (v) => v === 'src_mac' || v === 'tcpudp_ports',
  // The same syntax as the master PIF's other_config `bond-` overrides (lacp keys 1..65535).
  'lacp-time': BOND_OVERRIDES['lacp-time']!,
  'lacp-aggregation-key': BOND_OVERRIDES['lacp-aggregation-key']!,
  'lacp-fallback-ab': BOND_OVERRIDES['lacp-fallback-ab']!,
};
const LACP_DEFAULTS: Record<string, string> = { hashing_algorithm: 'tcpudp_ports', 'lacp-time': 'slow', 'lacp-fallback-ab': 'true' };

function validProperty(mode: string, key: string, value: string): boolean {
  return mode === 'lacp' && Object.hasOwn(LACP_VALUES, key) && LACP_VALUES[key]!(value);
}

/** INVALID_VALUE ["properties", "k = v"] for the first bad key; then the mode's defaults are added. */
export function validateProperties(mode: string, props: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(props)) {
    if (!validProperty(mode, k, v)) throw new ApiError('INVALID_VALUE', ['properties', `${k} = ${v}`]);
  }
  return mode === 'lacp' ? { ...LACP_DEFAULTS, ...props } : {};
}

// ---------------------------------------------------------------- helpers

/** IP configuration for the PIF's primary address family. */
const hasIpConfig = (p: Rec): boolean =>
  p.primary_address_type === 'IPv6' ? p.ipv6_configuration_mode !== 'None' : p.ip_configuration_mode !== 'None';

const IPV4_NONE: Rec = { ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '' };
const ipv4Of = (p: Rec): Rec => storedFields(p, ['ip_configuration_mode', 'IP', 'netmask', 'gateway', 'DNS']);

function sameMap(a: Value | undefined, b: Value | undefined): boolean {
  const x = (a ?? {}) as Record<string, Value>;
  const y = (b ?? {}) as Record<string, Value>;
  const kx = Object.keys(x);
  return kx.length === Object.keys(y).length && kx.every((k) => k in y && x[k] === y[k]);
}

/** bond<N>, N the smallest not used by a bond master of the host. */
function nextBondDevice(tx: Tx, host: string): string {
  const used = new Set(tx.all('PIF').filter(([, p]) => p.host === host && refs(p.bond_master_of).length > 0).map(([, p]) => p.device));
  let n = 0;
  while (used.has(`bond${n}`)) n++;
  return `bond${n}`;
}

/** Whether a VM could use `network` on `host`: internal network, or a PIF there that is not a bond member. */
function networkUsableOn(tx: Tx, network: string, host: string): boolean {
  const pifs = refs(tx.find('network', network)?.PIFs);
  if (pifs.length === 0) return true;
  return pifs.some((r) => { const p = tx.find('PIF', r); return !!p && p.host === host && !isBondSlave(tx, p); });
}

/**
 * VIFs on `networks` that belong to this host: their VM runs here, or is halted and could
 * start only here or nowhere (as xapi_bond.ml).
 */
function localVifs(tx: Tx, host: string, networks: Set<string>): string[] {
  const hosts = tx.all('host').map(([r]) => r);
  const out: string[] = [];
  for (const [ref, vif] of tx.all('VIF')) {
    if (!networks.has(vif.network)) continue;
    const vm = tx.find('VM', vif.VM);
    if (!vm) continue;
    if (vm.resident_on === host) { out.push(ref); continue; }
    if (isRef(vm.resident_on)) continue;
    const nets = refs(vm.VIFs).map((v) => tx.find('VIF', v)?.network).filter(isRef);
    const possible = hosts.filter((h) => nets.every((n) => networkUsableOn(tx, n, h)));
    if (possible.length === 0 || (possible.length === 1 && possible[0] === host)) out.push(ref);
  }
  return out;
}

function progress(ctx: CallContext, value: number): void {
  ctx.services.progress(ctx.task, value);
}

/** Waits for the host's agent to realise the records just written (the "plug"). */
async function realise(ctx: CallContext, host: string, objects: string[], management: boolean): Promise<void> {
  // Over the management NIC: confirmed (or rolled back) by the host, which takes longer.
  await ctx.services.hub.wait(host, objects, undefined, management ? MANAGEMENT_WAIT_MS : undefined);
  if (management) syncHostAddress(ctx, host);
}

// ---------------------------------------------------------------- Bond.create

function assertMembersBondable(tx: Tx, network: string, members: string[], mac: string, mode: string, props: Record<string, string>):
{ host: string; primary: string; properties: Record<string, string> } {
  assertOr(members.length > 0, 'PIF_BOND_NEEDS_MORE_MEMBERS');
  const net = tx.get('network', network);
  const recs = members.map((m) => tx.get('PIF', m));
  const host = recs[0]!.host;
  assertNetworkFreeOn(tx, network, host);
  // SR-IOV networks cannot be created here; kept for xapi's order.
  assertOr(!refs(net.PIFs).some((p) => isSriovLogical(tx.find('PIF', p))), 'NETWORK_INCOMPATIBLE_WITH_BOND', network);
  checkMember(fieldOf('PIF', 'MAC'), mac); // the master's MAC: "" (the primary member's) or a MAC
  const properties = validateProperties(mode, props);
  const primaryRec = recs.find((p) => p.management === true) ?? recs.find(hasIpConfig) ?? recs[0]!;
  const primary = members[recs.indexOf(primaryRec)]!;
  for (const [i, p] of recs.entries()) {
    assertOr(p.primary_address_type === primaryRec.primary_address_type, 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', members[i]);
  }
  const [, pool] = getPool(tx);
  for (const [i, p] of recs.entries()) {
    const ref = members[i]!;
    assertOr(p.managed !== false, 'PIF_UNMANAGED', ref);
    // A bond master as a member (nested bond) is refused too (as xapi_bond.ml).
    assertOr(!isBondSlave(tx, p) && refs(p.bond_master_of).length === 0, 'PIF_ALREADY_BONDED', ref);
    const kind = pifKind(tx, p);
    assertOr(kind !== 'vlan', 'PIF_VLAN_EXISTS', (p.device_name) || p.device);
    assertOr(kind !== 'tunnel_access', 'IS_TUNNEL_ACCESS_PIF', ref);
    assertOr(kind !== 'sriov_logical', 'PIF_IS_SRIOV_LOGICAL', ref);
    assertOr(!(pool.ha_enabled === true && p.management === true), 'HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE');
  }
  assertOr(recs.every((p) => p.host === host), 'PIF_CANNOT_BOND_CROSS_HOST');
  assertOr(recs.every((p) => sameMap(p.properties, recs[0]!.properties)), 'INCOMPATIBLE_PIF_PROPERTIES');
  assertOr(recs.filter(hasIpConfig).length <= 1, 'PIF_BOND_MORE_THAN_ONE_IP');
  return { host, primary, properties };
}

async function bondCreate(ctx: CallContext, args: Args['Bond.create']): Promise<string> {
  const network = args.network;
  const members = [...new Set(args.members)];
  const mac = args.MAC;
  const mode = (args.mode) || 'balance-slb';
  const props = (args.properties ?? {}) as Record<string, string>;
  const store = ctx.services.store;

  const done = store.transact((tx) => {
    const { host, primary, properties } = assertMembersBondable(tx, network, members, mac, mode, props);
    const recs = members.map((m) => tx.get('PIF', m));
    const primaryRec = tx.get('PIF', primary);
    const memberNets = new Set(recs.map((p) => p.network));
    const vifs = localVifs(tx, host, memberNets); // decided on the state before the bond
    const net = tx.get('network', network);

    // 1-2. Bond row, master PIF (bond<N>), members.
    const bond = tx.create('Bond', {
      master: NULL_REF, other_config: {}, primary_slave: primary, mode, properties, links_up: 0, active_member: NULL_REF, auto_update_mac: mac === '',
    });
    const metrics = tx.create('PIF_metrics', { other_config: {} });
    const device = nextBondDevice(tx, host);
    const master = tx.create('PIF', {
      device, device_name: device, network, host, MAC: mac || stored(primaryRec, 'MAC'), MTU: -1, VLAN: -1, metrics,
      physical: false, currently_attached: false, ...IPV4_NONE,
      ipv6_configuration_mode: 'None', IPv6: [''], ipv6_gateway: '',
      primary_address_type: stored(primaryRec, 'primary_address_type'), managed: true, management: false, disallow_unplug: false,
      properties: { ...(recs[0]!.properties as Rec) }, capabilities: [], other_config: {},
    });
    tx.update('Bond', bond, { master });
    for (const m of members) tx.update('PIF', m, { bond_slave_of: bond });

    // 3. The primary member's IPv4 configuration moves to the master.
    tx.update('PIF', master, ipv4Of(primaryRec));
    tx.update('PIF', primary, IPV4_NONE);

    // 4. Management follows; the master is plugged (members leave the attached state) and
    //    the members' networks take the bond network's MTU.
    const management = recs.some((p) => p.management === true);
    if (management) tx.update('host', host, { management_bridge: stored(net, 'bridge') });
    markPlugged(tx, master);
    for (const n of memberNets) if (tx.get('network', n).MTU !== net.MTU) tx.update('network', n, { MTU: stored(net, 'MTU') });

    // 5-6. VLANs and tunnels on members are re-created on the master (new refs).
    const wait = [master];
    for (const m of members) {
      for (const v of refs(tx.get('PIF', m).VLAN_slave_of)) {
        const moved = moveVlan(tx, v, master);
        if (moved.attached) wait.push(moved.pif);
      }
      for (const t of refs(tx.get('PIF', m).tunnel_transport_PIF_of)) {
        const moved = moveTunnel(tx, t, master);
        if (moved.attached) wait.push(moved.pif);
      }
    }

    // 7. Local VIFs move to the bond network; attached ones stay attached (the agent moves the port).
    for (const v of vifs) tx.update('VIF', v, { network });

    // 8. disallow_unplug moves to the master.
    if (recs.some((p) => p.disallow_unplug === true)) {
      tx.update('PIF', master, { disallow_unplug: true });
      for (const m of members) tx.update('PIF', m, { disallow_unplug: false });
    }
    recomputeManagement(tx, host);
    return { bond, host, wait, management };
  });
  // The real server reports these steps between its phases; ours are one commit and one wait.
  for (const step of [0.2, 0.4, 0.6]) progress(ctx, step);
  await realise(ctx, done.host, done.wait, done.management);
  for (const step of [0.8, 0.9, 1.0]) progress(ctx, step);
  return done.bond;
}

// ---------------------------------------------------------------- Bond.destroy

async function bondDestroy(ctx: CallContext, args: Args['Bond.destroy']): Promise<void> {
  const self = args.self;
  const store = ctx.services.store;
  const done = store.transact((tx) => {
    const bond = tx.get('Bond', self);
    const masterRef = bond.master;
    const master = tx.find('PIF', masterRef);
    const members = refs(bond.slaves).filter((m) => tx.find('PIF', m));
    const [, pool] = getPool(tx);
    assertOr(!(pool.ha_enabled === true && master?.management === true), 'HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE');
    for (const m of members) tx.update('PIF', m, { bond_slave_of: NULL_REF });
    if (!master) {
      tx.destroy('Bond', self);
      return { host: undefined, wait: [], management: false };
    }
    const host = master.host;
    const primary = members.includes(bond.primary_slave) ? (bond.primary_slave) : members[0];
    const vifs = localVifs(tx, host, new Set([master.network]));
    const wait: string[] = [];
    if (primary) {
      const primaryRec = tx.get('PIF', primary);
      // 1. IP configuration back to the primary member.
      tx.update('PIF', primary, ipv4Of(master));
      // 2. Management back to the primary member; members come up if the master was up.
      if (master.management === true) {
        tx.update('host', host, { management_bridge: stored(tx.get('network', primaryRec.network), 'bridge') });
      }
      if (master.management === true || master.currently_attached === true) {
        for (const m of members) { markPlugged(tx, m); wait.push(m); }
      }
      // 3. VLANs and tunnels on the master move to the primary member (new refs).
      for (const v of refs(master.VLAN_slave_of)) {
        const moved = moveVlan(tx, v, primary);
        if (moved.attached) wait.push(moved.pif);
      }
      for (const t of refs(master.tunnel_transport_PIF_of)) {
        const moved = moveTunnel(tx, t, primary);
        if (moved.attached) wait.push(moved.pif);
      }
      // 4. Local VIFs on the bond network go to the primary member's network.
      for (const v of vifs) tx.update('VIF', v, { network: stored(primaryRec, 'network') });
      // 5. disallow_unplug goes with them.
      tx.update('PIF', primary, { disallow_unplug: master.disallow_unplug === true });
    }
    // 6-7. Bond row and master go; the bond network and the master's metrics stay.
    tx.destroy('Bond', self);
    tx.destroy('PIF', masterRef);
    recomputeManagement(tx, host);
    return { host, wait, management: master.management === true };
  });
  if (done.host) await realise(ctx, done.host, done.wait, done.management);
}

// ---------------------------------------------------------------- mode and properties

/** Writes the bond's mode/properties and waits for the agent to re-apply the master, if it is up. */
async function rewriteBond(ctx: CallContext, self: string, patch: (bond: BondRecord) => Rec): Promise<void> {
  const store = ctx.services.store;
  const done = store.transact((tx) => {
    const bond = tx.get('Bond', self);
    const before: Rec = bond;
    const next = patch(bond);
    const changed = Object.entries(next).filter(([k, v]) => JSON.stringify(before[k]) !== JSON.stringify(v));
    if (changed.length) tx.update('Bond', self, Object.fromEntries(changed));
    const master = tx.find('PIF', bond.master);
    return master?.currently_attached === true ? { host: master.host, master: bond.master } : undefined;
  });
  if (done) await ctx.services.hub.wait(done.host, [done.master]);
}

async function bondSetMode(ctx: CallContext, args: Args['Bond.set_mode']): Promise<void> {
  const mode = args.value;
  await rewriteBond(ctx, args.self, (bond) => {
    const kept: Record<string, string> = {};
    for (const [k, v] of Object.entries(bond.properties)) if (validProperty(mode, k, v)) kept[k] = v;
    return { mode, properties: mode === 'lacp' ? { ...LACP_DEFAULTS, ...kept } : {} };
  });
}

async function bondSetProperty(ctx: CallContext, args: Args['Bond.set_property']): Promise<void> {
  const name = args.name;
  const value = args.value;
  await rewriteBond(ctx, args.self, (bond) => {
    if (!validProperty(bond.mode, name, value)) throw new ApiError('INVALID_VALUE', ['properties', `${name} = ${value}`]);
    return { properties: { ...bond.properties, [name]: value } };
  });
}

export const bondRules: Rules = {
  'Bond.create': bondCreate,
  'Bond.destroy': bondDestroy,
  'Bond.set_mode': bondSetMode,
  'Bond.set_property': bondSetProperty,
};
