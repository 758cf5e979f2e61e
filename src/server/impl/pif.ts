// PIF rules (xen-api: ocaml/xapi/xapi_pif.ml): scan/introduce from the host's NIC inventory,
// forget, plug/unplug, IP configuration, properties, the deprecated VLAN calls and the
// database-only introduce/forget. PIF_metrics rows are made here too.

import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, storedFields, type Rec, type Value } from '../../idl/meta.js';
import type { Args, PIFRecord } from '../../idl/types.gen.js';
import type { CallContext, Rules, ServerServices } from '../context.js';
import { nicMetrics, type Nic } from '../realise.js';
import {
  assertManagedPif, assertNoProtection, isBondMaster, isBondSlave, isIPv4, isIPv6, isIPv6Cidr, isMac, isRef,
  markPlugged, pifKind, plugPif, recomputeManagement, splitDns, syncHostAddress, unplugPif,
} from './common.js';
import { PIFClass } from '../../idl/classes/pif.js';
import { isIfName } from '../../common/net-syntax.js';
import { checkCreate, checkEntry, checkMember, fieldOf } from '../field-rules.js';
import { waitForManagement } from './host.js';

const str = (v: Value | undefined): string => (typeof v === 'string' ? v : '');

/**
 * Position of a NIC: the one its host's agent keeps for it (stable across renames and reboots,
 * see src/backends/linux/nic-order.ts), else N of `ethN`, else none.
 */
export function nicPosition(device: string, position?: number): number | undefined {
  if (Number.isInteger(position) && position! >= 0 && position! <= 9999) return position;
  const m = /^eth(\d+)$/.exec(device);
  return m ? Number(m[1]) : undefined;
}

/** The conventional bridge and network name of a NIC (xenbr<N>, as xapi_pif.ml). */
export function nicNetwork(device: string, position?: number): { bridge: string; name: string } {
  const pos = nicPosition(device, position);
  return pos === undefined
    ? { bridge: `br${device}`, name: `Pool-wide network associated with ${device}` }
    : { bridge: `xenbr${pos}`, name: `Pool-wide network ${pos}` };
}

/** Asks the host's agent for a fresh NIC inventory: a mod event on the host, then a wait. */
export async function freshNics(ctx: CallContext, host: string): Promise<Nic[]> {
  const { store, hub } = ctx.services;
  // A touch of the host record asks its agent for a fresh look; it answers with a report.
  store.transact((tx) => tx.touch('host', host));
  await hub.wait(host);
  return hub.nics(host) ?? [];
}

const metricsOf = (nic: Nic): Rec => ({ ...nicMetrics(nic), other_config: {} });

/** The introduce logic of xapi_pif.ml inside a transaction (checks done by the caller). */
export function introducePif(tx: Tx, host: string, nic: Nic, managed: boolean): string {
  const h = tx.get('host', host);
  // As xapi's introduce_internal: an unmanaged PIF's network has no bridge; an existing network
  // is taken when it is the only one with that bridge (so the one unmanaged network there is,
  // if there is exactly one), else a new one is made.
  const { bridge: managedBridge, name } = nicNetwork(nic.device, nic.position);
  const bridge = managed ? managedBridge : '';
  const same = tx.lookup('network', 'bridge', bridge);
  let network: string | undefined = same.length === 1 ? same[0] : undefined;
  if (!network) {
    network = tx.create('network', {
      name_label: name, name_description: '', MTU: 1500, other_config: {}, bridge, managed,
    });
  }
  const metrics = tx.create('PIF_metrics', metricsOf(nic));
  const mgmt = str(h.management_bridge) !== '' && h.management_bridge === bridge;
  return tx.create('PIF', {
    device: nic.device, device_name: nic.device, network, host, MAC: nic.MAC.toLowerCase(), MTU: nic.MTU, VLAN: -1,
    metrics, physical: true, currently_attached: mgmt, management: mgmt, managed,
    ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '', IPv6: [], ipv6_configuration_mode: 'None',
    ipv6_gateway: '', other_config: {}, properties: { gro: 'on' }, capabilities: [],
    primary_address_type: h.management_address_type === 'ipv6' ? 'IPv6' : 'IPv4',
  });
}

function physicalPifByDevice(tx: { all(cls: string): Iterable<[string, Rec]> }, host: string, device: string): string | undefined {
  for (const [ref, pif] of tx.all('PIF')) if (pif.host === host && pif.physical === true && pif.device === device) return ref;
  return undefined;
}

async function scan(ctx: CallContext, host: string): Promise<void> {
  const nics = await freshNics(ctx, host);
  ctx.services.store.transact((tx) => {
    const byDevice = new Map(nics.map((n) => [n.device, n]));
    // 0. a renamed NIC (its MAC on a PIF of another name) keeps its PIF, which takes the new
    //    name, with the VLAN PIFs on it: the PIF, its network and bridge stay (xapi re-derives
    //    device from the position; the agent keys positions by MAC).
    const renames = renamedPifs(tx, host, nics);
    for (const [ref, device] of renames) {
      tx.update('PIF', ref, { device, device_name: device });
      for (const [vref, v] of tx.all('PIF')) {
        if (v.host !== host || !isRef(v.VLAN_master_of)) continue;
        const vlan = tx.find('VLAN', v.VLAN_master_of);
        if (vlan?.tagged_PIF === ref) tx.update('PIF', vref, { device });
      }
    }
    // 1. refresh existing physical PIFs (MAC, MTU); nothing is ever deleted
    for (const ref of tx.lookup('PIF', 'host', host)) {
      const pif = tx.get('PIF', ref);
      if (pif.physical !== true) continue;
      const nic = byDevice.get(str(pif.device));
      if (!nic) continue;
      const patch: Rec = {};
      if (pif.MAC !== nic.MAC.toLowerCase()) patch.MAC = nic.MAC.toLowerCase();
      if (pif.MTU !== nic.MTU) patch.MTU = nic.MTU;
      if (Object.keys(patch).length) tx.update('PIF', ref, patch);
    }
    // 2-3. introduce every NIC without a physical PIF
    for (const nic of nics) if (!physicalPifByDevice(tx, host, nic.device)) introducePif(tx, host, nic, true);
    recomputeManagement(tx, host);
    tx.touch('host', host);
  });
}

/**
 * Pure over a reader: physical PIFs of `host` whose NIC (same MAC) now has another name, as
 * [PIF ref, new device]. Only unambiguous cases: one PIF and one NIC with that MAC.
 */
export function renamedPifs(r: { all(cls: string): Iterable<[string, Rec]> }, host: string, nics: Nic[]): [string, string][] {
  const phys = [...r.all('PIF')].filter(([, p]) => p.host === host && p.physical === true);
  const out: [string, string][] = [];
  for (const [ref, pif] of phys) {
    const mac = str(pif.MAC).toLowerCase();
    const same = nics.filter((n) => n.MAC.toLowerCase() === mac);
    if (mac === '' || same.length !== 1 || phys.filter(([, p]) => str(p.MAC).toLowerCase() === mac).length !== 1) continue;
    if (same[0]!.device !== pif.device && isIfName(same[0]!.device)) out.push([ref, same[0]!.device]);
  }
  return out;
}

async function introduce(ctx: CallContext, a: Args['PIF.introduce']): Promise<string> {
  const host = a.host;
  const device = String(a.device);
  let mac = String(a.MAC).toLowerCase();
  const inventory = await freshNics(ctx, host);
  // An empty MAC means "the device's own": for a device the host does not have it stays empty,
  // and is refused as a MAC (xapi_pif.ml's introduce).
  if (mac === '') mac = inventory.find((n) => n.device === device)?.MAC.toLowerCase() ?? '';
  assertOr(isMac(mac), 'MAC_INVALID', mac);
  assertOr(!physicalPifByDevice(ctx.services.store, host, device), 'DUPLICATE_PIF_DEVICE_NAME', device);
  const nic = inventory.find((n) => n.device === device && n.MAC.toLowerCase() === mac);
  assertOr(nic, 'COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS', device, mac);
  return ctx.services.store.transact((tx) => introducePif(tx, host, nic, a.managed !== false));
}

async function forget(ctx: CallContext, self: string): Promise<void> {
  const { store, hub } = ctx.services;
  const pif = store.get('PIF', self);
  const mgmt = pif.management === true;
  assertOr(!mgmt, 'PIF_IS_MANAGEMENT_INTERFACE', self);
  assertOr(!isBondSlave(store, pif) && !isBondMaster(pif), 'PIF_ALREADY_BONDED', self);
  assertOr(!isRef(pif.VLAN_master_of) && pif.VLAN === -1 && !(pif.VLAN_slave_of as Value[]).length, 'PIF_VLAN_STILL_EXISTS', self);
  assertOr(!(pif.tunnel_access_PIF_of as Value[]).length && !(pif.tunnel_transport_PIF_of as Value[]).length,
    'PIF_TUNNEL_STILL_EXISTS', self);
  const host = pif.host;
  const isMember = host !== ctx.services.masterHost();
  // check 5 of xapi's; check 1 already covers it here (management flags are exact)
  assertOr(!(isMember && mgmt && pif.currently_attached === true), 'PIF_IS_MANAGEMENT_INTERFACE', self);
  if (pif.currently_attached === true) assertNoProtection(store);
  assertOr(!(pif.sriov_logical_PIF_of as Value[]).length, 'CANNOT_FORGET_SRIOV_LOGICAL', self);
  assertOr(!(pif.sriov_physical_PIF_of as Value[]).length, 'PIF_SRIOV_STILL_EXISTS', self);
  store.transact((tx) => {
    const metrics = pif.metrics;
    // VLAN/tunnel PIFs share their parent's metrics; only an owner takes its row along
    if (isRef(metrics) && tx.find('PIF_metrics', metrics)) tx.destroy('PIF_metrics', metrics);
    tx.destroy('PIF', self);
  });
  // The agent drops the bridge of a managed PIF; best effort, the record is gone either way.
  if (pif.managed !== false && hub.hasAgent(host)) await hub.wait(host).catch(() => {});
}

/** The HA/clustering gate of reconfigure_ip(v6): skipped for a DNS-only Static → Static change. */
function gateReconfigure(ctx: CallContext, pif: PIFRecord, dnsOnly: boolean): void {
  if (!dnsOnly && pif.currently_attached === true) assertNoProtection(ctx.services.store);
}

/** After a stored IP change: an attached PIF is re-applied and waited for; host.address follows. */
async function reapply(ctx: CallContext, self: string, write: (tx: Tx) => void): Promise<void> {
  const { store, hub } = ctx.services;
  const pif = store.get('PIF', self);
  store.transact((tx) => {
    write(tx);
    if (pif.currently_attached === true) markPlugged(tx, self);
    if (pif.management === true) recomputeManagement(tx, pif.host);
  });
  if (pif.currently_attached !== true) return;
  const host = pif.host;
  if (pif.management !== true) { await hub.wait(host, [self]); return; }
  // The management PIF: confirmed by its host, else its previous configuration comes back.
  const before = storedFields(pif, MANAGEMENT_FIELDS);
  await waitForManagement(ctx, host, [self], (tx) => { tx.update('PIF', self, before); recomputeManagement(tx, host); });
  syncHostAddress(ctx, host);
}

const MANAGEMENT_FIELDS = ['ip_configuration_mode', 'IP', 'netmask', 'gateway', 'DNS', 'ipv6_configuration_mode', 'IPv6', 'ipv6_gateway', 'currently_attached'] as const;

async function reconfigureIp(ctx: CallContext, a: Args['PIF.reconfigure_ip']): Promise<void> {
  const self = a.self;
  const pif = ctx.services.store.get('PIF', self);
  const [mode, IP, netmask, gateway, DNS] = [String(a.mode), String(a.IP), String(a.netmask), String(a.gateway), String(a.DNS)];
  assertManagedPif(self, pif);
  const dnsOnly = pif.ip_configuration_mode === 'Static' && mode === 'Static' &&
    pif.IP === IP && pif.netmask === netmask && pif.gateway === gateway;
  gateReconfigure(ctx, pif, dnsOnly);
  if (mode === 'Static') {
    assertOr(isIPv4(IP), 'INVALID_IP_ADDRESS_SPECIFIED', 'IP');
    assertOr(isIPv4(netmask), 'INVALID_IP_ADDRESS_SPECIFIED', 'netmask');
  }
  // Each of them "" or an IPv4 address: the fields' own rules.
  for (const [name, v] of [['IP', IP], ['netmask', netmask], ['gateway', gateway]] as const) checkMember(fieldOf('PIF', name), v);
  assertOr(!(pif.management === true && mode === 'None' && pif.primary_address_type === 'IPv4'), 'PIF_IS_MANAGEMENT_INTERFACE', self);
  // DNS: the IPv4 entries given, then the IPv6 entries already there
  const dns = [...splitDns(DNS).v4, ...splitDns(str(pif.DNS)).v6].join(',');
  await reapply(ctx, self, (tx) => tx.update('PIF', self, { ip_configuration_mode: mode, IP, netmask, gateway, DNS: dns }));
}

async function reconfigureIpv6(ctx: CallContext, a: Args['PIF.reconfigure_ipv6']): Promise<void> {
  const self = a.self;
  const pif = ctx.services.store.get('PIF', self);
  const [mode, IPv6, gateway, DNS] = [String(a.mode), String(a.IPv6), String(a.gateway), String(a.DNS)];
  assertManagedPif(self, pif);
  const cur = (pif.IPv6 as Value[]) ?? [];
  const dnsOnly = pif.ipv6_configuration_mode === 'Static' && mode === 'Static' &&
    cur.length === 1 && cur[0] === IPv6 && pif.ipv6_gateway === gateway;
  gateReconfigure(ctx, pif, dnsOnly);
  checkMember(fieldOf('PIF', 'ipv6_gateway'), gateway, 'gateway');
  checkMember(fieldOf('PIF', 'IPv6'), IPv6);
  assertOr(!(pif.management === true && mode === 'None' && pif.primary_address_type === 'IPv6'), 'PIF_IS_MANAGEMENT_INTERFACE', self);
  const dns = [...splitDns(DNS).v6, ...splitDns(str(pif.DNS)).v4].join(',');
  await reapply(ctx, self, (tx) => tx.update('PIF', self, {
    ipv6_configuration_mode: mode, IPv6: [IPv6], ipv6_gateway: gateway, DNS: dns,
  }));
}

async function setProperty(ctx: CallContext, a: Args['PIF.set_property']): Promise<void> {
  const { store, hub } = ctx.services;
  const self = a.self;
  const [name, value] = [String(a.name), String(a.value)];
  const pif = store.get('PIF', self);
  checkEntry(fieldOf('PIF', 'properties'), name, value); // only gro=on|off
  const kind = pifKind(store, pif);
  assertOr(kind === 'bond_master' || (kind === 'physical' && !isBondSlave(store, pif)), 'CANNOT_CHANGE_PIF_PROPERTIES', self);
  const properties = { ...(pif.properties as Rec), [name]: value };
  store.transact((tx) => {
    tx.update('PIF', self, { properties });
    for (const bond of pif.bond_master_of) {
      for (const [ref, m] of tx.all('PIF')) if (m.bond_slave_of === bond) tx.update('PIF', ref, { properties });
    }
    if (pif.currently_attached !== true) return;
    markPlugged(tx, self);
    for (const vlan of pif.VLAN_slave_of) {
      const untagged = tx.find('VLAN', vlan)?.untagged_PIF;
      if (isRef(untagged) && tx.find('PIF', untagged)?.currently_attached === true) markPlugged(tx, untagged);
    }
  });
  if (pif.currently_attached === true) await hub.wait(pif.host, [self]);
}

function dbIntroduce(ctx: CallContext, a: Args['PIF.db_introduce']): string {
  const { store } = ctx.services;
  // A PIF always sits on a host and a network: OpaqueRef:NULL is refused (see differences.md).
  store.get('network', a.network);
  store.get('host', a.host);
  if (Number(a.VLAN) !== -1) {
    for (const [, vif] of store.all('VIF')) {
      assertOr(!(vif.network === a.network && (vif.trunks as Value[] | undefined)?.length), 'NETWORK_INCOMPATIBLE_WITH_TRUNKS', a.network);
    }
  }
  const fields: Rec = {};
  const given: Rec = a;
  for (const k of ['device', 'network', 'host', 'MAC', 'MTU', 'VLAN', 'physical', 'ip_configuration_mode', 'IP', 'netmask',
    'gateway', 'DNS', 'VLAN_master_of', 'management', 'other_config', 'disallow_unplug', 'ipv6_configuration_mode',
    'IPv6', 'ipv6_gateway', 'primary_address_type', 'managed', 'properties']) fields[k] = given[k]!;
  // Stored as given, but every value that reaches the host's agent follows its field's rule.
  checkCreate(ctx, PIFClass, fields, { dynamic: true });
  return store.transact((tx) => {
    const metrics = tx.create('PIF_metrics', { other_config: {} });
    return tx.create('PIF', {
      ...fields, device_name: a.device!, bond_slave_of: NULL_REF, currently_attached: false, igmp_snooping_status: 'unknown',
      capabilities: [], PCI: NULL_REF, metrics,
    });
  });
}

export const pifRules: Rules = {
  'PIF.scan': (ctx, a) => scan(ctx, a.host),
  'PIF.introduce': (ctx, a) => introduce(ctx, a),
  'PIF.forget': (ctx, a) => forget(ctx, a.self),
  'PIF.plug': (ctx, a) => plugPif(ctx, a.self),
  'PIF.unplug': (ctx, a) => unplugPif(ctx, a.self),
  'PIF.reconfigure_ip': (ctx, a) => reconfigureIp(ctx, a),
  'PIF.reconfigure_ipv6': (ctx, a) => reconfigureIpv6(ctx, a),
  'PIF.set_primary_address_type': (ctx, a) => {
    const { store } = ctx.services;
    const self = a.self;
    const pif = store.get('PIF', self);
    if (pif.currently_attached === true) assertNoProtection(store);
    assertOr(pif.management !== true, 'PIF_IS_MANAGEMENT_INTERFACE', self);
    store.transact((tx) => tx.update('PIF', self, { primary_address_type: a.primary_address_type! }));
  },
  'PIF.set_property': (ctx, a) => setProperty(ctx, a),
  'PIF.set_disallow_unplug': (ctx, a) => {
    const { store } = ctx.services;
    const pif = store.get('PIF', a.self);
    if (pif.disallow_unplug === a.value) return;
    store.transact((tx) => tx.update('PIF', a.self, { disallow_unplug: a.value === true }));
  },
  'PIF.create_VLAN': async (ctx, a) => {
    const { store } = ctx.services;
    store.get('host', a.host); // forwarded to the host first
    let tagged: string | undefined;
    for (const [ref, pif] of store.all('PIF')) if (pif.host === a.host && pif.device === a.device && pif.VLAN === -1) { tagged = ref; break; }
    assertOr(tagged, 'INVALID_VALUE', 'device', a.device);
    const vlan = await ctx.services.invoke(ctx, 'VLAN.create', { tagged_PIF: tagged, tag: a.VLAN!, network: a.network! });
    return store.get('VLAN', String(vlan)).untagged_PIF;
  },
  'PIF.destroy': async (ctx, a) => {
    const pif = ctx.services.store.get('PIF', a.self);
    if (Number(pif.VLAN) < 0) throw new ApiError('PIF_IS_PHYSICAL', []);
    await ctx.services.invoke(ctx, 'VLAN.destroy', { self: pif.VLAN_master_of! });
  },
  'PIF.db_introduce': (ctx, a) => dbIntroduce(ctx, a),
  'PIF.pool_introduce': (ctx, a) => dbIntroduce(ctx, a),
  'PIF.db_forget': (ctx, a) => {
    ctx.services.store.transact((tx) => { tx.get('PIF', a.self); tx.destroy('PIF', a.self); });
  },
};

/**
 * Start-up networking of a host (as xapi's dbsync_slave.ml and xapi_mgmt_iface.ml): scan its NICs, bring up (best effort) every managed,
 * non-member PIF that is physical, a bond master or IP-configured, and — on a host with no
 * management PIF yet — make eth0 (else the first NIC) the management interface in DHCP mode.
 */
export async function initialHostNetworking(services: ServerServices, host: string): Promise<void> {
  const ctx: CallContext = { services, session: null, method: 'PIF.scan' };
  await scan(ctx, host);
  const { store, hub } = services;
  const plugged = store.transact((tx) => {
    const mine = () => tx.all('PIF').filter(([, p]) => p.host === host);
    const out: string[] = [];
    if (!mine().some(([, p]) => p.management === true)) {
      const phys = mine().filter(([, p]) => p.physical === true && p.managed !== false && !isBondSlave(tx, p))
        .sort(([, x], [, y]) => str(x.device).localeCompare(str(y.device), 'en', { numeric: true }));
      // The NIC at position 0 (xenbr0), whatever its name; else eth0; else the first.
      const pick = phys.find(([, p]) => tx.find('network', p.network)?.bridge === 'xenbr0') ?? phys.find(([, p]) => p.device === 'eth0') ?? phys[0];
      if (pick) {
        const [ref, pif] = pick;
        const net = tx.get('network', pif.network);
        if (pif.ip_configuration_mode === 'None') tx.update('PIF', ref, { ip_configuration_mode: 'DHCP' });
        tx.update('host', host, { management_bridge: net.bridge!, management_address_type: 'ipv4' });
        recomputeManagement(tx, host);
      }
    }
    for (const [ref] of tx.all('PIF')) {
      const p = tx.get('PIF', ref);
      if (p.host !== host || p.managed === false || isBondSlave(tx, p)) continue;
      const kind = pifKind(tx, p);
      const hasIp = p.ip_configuration_mode !== 'None' || p.ipv6_configuration_mode !== 'None';
      if (kind === 'physical' || kind === 'bond_master' || hasIp) { markPlugged(tx, ref); out.push(ref); }
    }
    return out;
  });
  // Best effort: a PIF the agent could not bring up is already marked unplugged by the hub.
  await hub.wait(host, plugged).catch(() => {});
  syncHostAddress(ctx, host);
}
