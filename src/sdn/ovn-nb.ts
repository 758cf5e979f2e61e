// OVN's northbound database as xcpnet wants it, from the pool's records, and the difference
// from what the database holds. Pure: records in, rows and OVSDB operations out.
//
// Mapping: every network carrying a tunnel (a cross-server private network) is a
// Logical_Switch; every VIF on it is a Logical_Switch_Port named by the VIF's uuid (the
// `iface-id` the agent puts on the VIF's port, which binds it to the chassis of the host where
// the VM runs). The VIF's locking mode becomes port security:
//   locked   → addresses and port_security "MAC IP…": only its MAC and allowed IPs pass;
//              locked with no allowed IP passes nothing (xapi's meaning), so the port is disabled
//   unlocked → addresses "MAC", no port security
//   disabled → enabled=false: nothing passes
// Rows xcpnet writes carry its key in external_ids; rows without it are never touched.
import type { Rec, Value } from '../idl/meta.js';
import { isMac, isUuid, parseIPv4Net, parseIPv6Net } from '../common/net-syntax.js';
import * as ops from '../backends/ovsdb/ops.js';
import { namedUuid } from '../backends/ovsdb/datum.js';
import type { Op } from '../backends/ovsdb/ops.js';

/** external_ids key of a Logical_Switch xcpnet made: the network's uuid. */
export const NB_NETWORK_KEY = 'xcpnet-network-uuid';
/** external_ids key of a Logical_Switch_Port xcpnet made: the VIF's uuid. */
export const NB_VIF_KEY = 'xcpnet-vif-uuid';

export type Table = Record<string, Rec>;
/** The classes the mapping reads. */
export interface NbInput { network: Table; VIF: Table; PIF: Table; tunnel: Table }

export interface LsRow { name: string; external_ids: Record<string, string> }
export interface LspRow {
  name: string;
  addresses: string[];
  port_security: string[];
  enabled: boolean;
  external_ids: Record<string, string>;
}
export interface DesiredNb {
  /** Logical switches by network uuid. */
  switches: Map<string, LsRow>;
  /** Logical switch ports by VIF uuid, with the network uuid of their switch. */
  ports: Map<string, { row: LspRow; network: string }>;
}

const str = (v: Value | undefined): string => (typeof v === 'string' ? v : '');
const strs = (v: Value | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The networks that carry a tunnel: those with a tunnel access PIF. */
export function tunnelNetworks(rec: NbInput): Set<string> {
  const found = new Set<string>();
  for (const t of Object.values(rec.tunnel)) {
    const net = str(rec.PIF[str(t.access_PIF)]?.network);
    if (rec.network[net]) found.add(net);
  }
  return found;
}

/** The VIF's locking mode, with network_default resolved as xapi does. */
export function lockingOf(vif: Rec, net: Rec | undefined): 'locked' | 'unlocked' | 'disabled' {
  const m = str(vif.locking_mode);
  if (m === 'locked' || m === 'unlocked' || m === 'disabled') return m;
  return str(net?.default_locking_mode) === 'disabled' ? 'disabled' : 'unlocked';
}

/** The desired port of one VIF, or undefined when its values cannot make one (bad uuid or MAC). */
export function portOf(vif: Rec, net: Rec | undefined): LspRow | undefined {
  const uuid = str(vif.uuid);
  const mac = str(vif.MAC).toLowerCase();
  if (!isUuid(uuid) || !isMac(mac)) return undefined;
  // Only well-formed entries: anything else is left out (which narrows what a locked VIF may send).
  const ips = [...strs(vif.ipv4_allowed).filter((x) => parseIPv4Net(x)), ...strs(vif.ipv6_allowed).filter((x) => parseIPv6Net(x))];
  const mode = lockingOf(vif, net);
  const external_ids = { [NB_VIF_KEY]: uuid };
  if (mode === 'locked') {
    const entry = [mac, ...ips].join(' ');
    return { name: uuid, addresses: [entry], port_security: [entry], enabled: ips.length > 0, external_ids };
  }
  return { name: uuid, addresses: [mac], port_security: [], enabled: mode === 'unlocked', external_ids };
}

/** Pure: the northbound rows the records ask for. */
export function desiredNb(rec: NbInput): DesiredNb {
  const switches = new Map<string, LsRow>();
  const ports = new Map<string, { row: LspRow; network: string }>();
  const byRef = new Map<string, string>();
  for (const ref of tunnelNetworks(rec)) {
    const uuid = str(rec.network[ref]!.uuid);
    if (!isUuid(uuid)) continue;
    byRef.set(ref, uuid);
    switches.set(uuid, { name: `xcpnet-${uuid}`, external_ids: { [NB_NETWORK_KEY]: uuid } });
  }
  for (const vif of Object.values(rec.VIF)) {
    const netRef = str(vif.network);
    const net = byRef.get(netRef);
    if (net === undefined) continue;
    const row = portOf(vif, rec.network[netRef]);
    if (row) ports.set(row.name, { row, network: net });
  }
  return { switches, ports };
}

/** A row as the NB monitor holds it (decoded: sets are arrays, maps records, uuids strings). */
export type NbRow = Record<string, unknown> & { _uuid: string };
export interface CurrentNb { switches: NbRow[]; ports: NbRow[] }

export interface NbPlan {
  ops: Op[];
  /** What the ops do, one line each (logs, tests). */
  changes: string[];
}

const listOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
const sameSet = (a: unknown, b: string[]): boolean => {
  const x = listOf(a).sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};
const mapOf = (v: unknown): Record<string, string> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {});
const sameMap = (a: unknown, b: Record<string, string>): boolean => {
  const x = mapOf(a);
  return Object.keys(x).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => x[k] === v);
};
/** `enabled` is optional in the schema: unset (null or an empty set) means enabled. */
const enabledOf = (v: unknown): boolean => v !== false && !(Array.isArray(v) && v[0] === false);

/**
 * Pure: the operations that make the northbound database hold `want`, touching only rows whose
 * external_ids carry xcpnet's keys. Nothing differs → no operation at all.
 */
export function planNb(want: DesiredNb, cur: CurrentNb): NbPlan {
  const out: NbPlan = { ops: [], changes: [] };
  const curSwitches = new Map<string, NbRow>();
  for (const s of cur.switches) {
    const net = mapOf(s.external_ids)[NB_NETWORK_KEY];
    if (net !== undefined) curSwitches.set(net, s);
  }
  const curPorts = new Map<string, NbRow>();
  for (const p of cur.ports) {
    const vif = mapOf(p.external_ids)[NB_VIF_KEY];
    if (vif !== undefined) curPorts.set(vif, p);
  }
  /** LSP row uuid → the switch row whose ports hold it. */
  const switchOfPort = new Map<string, string>();
  for (const s of cur.switches) for (const p of listOf(s.ports)) switchOfPort.set(p, s._uuid);

  // Switches to remove (their ports go with them: Logical_Switch_Port is not a root table).
  const doomed = new Set<string>();
  for (const [net, s] of curSwitches) {
    if (want.switches.has(net)) continue;
    doomed.add(s._uuid);
    out.ops.push(ops.del('Logical_Switch', ops.byUuid(s._uuid)));
    out.changes.push(`delete logical switch ${String(s.name)}`);
  }
  // Switches to correct; new ones are inserted at the end, holding their new ports.
  const newSwitches = new Map<string, string[]>();
  for (const [net, row] of want.switches) {
    const have = curSwitches.get(net);
    if (!have) newSwitches.set(net, []);
    else if (have.name !== row.name || !sameMap(have.external_ids, row.external_ids)) {
      out.ops.push(ops.update('Logical_Switch', ops.byUuid(have._uuid), { ...row }));
      out.changes.push(`update logical switch ${row.name}`);
    }
  }
  // Ports gone, or on another switch now: out of their old switch (a port in no switch is collected).
  for (const [vif, p] of curPorts) {
    const w = want.ports.get(vif);
    const parent = switchOfPort.get(p._uuid);
    const target = w ? curSwitches.get(w.network)?._uuid : undefined;
    if (w && parent !== undefined && parent === target) continue;
    if (parent !== undefined && !doomed.has(parent)) {
      out.ops.push(ops.mutate('Logical_Switch', ops.byUuid(parent), [ops.mDelete('ports', p._uuid)]));
      out.changes.push(`delete logical port ${String(p.name)}`);
    }
    curPorts.delete(vif);
  }
  let n = 0;
  for (const [vif, { row, network }] of want.ports) {
    const have = curPorts.get(vif);
    if (have) {
      const set: Record<string, unknown> = {};
      if (!sameSet(have.addresses, row.addresses)) set.addresses = row.addresses;
      if (!sameSet(have.port_security, row.port_security)) set.port_security = row.port_security;
      if (enabledOf(have.enabled) !== row.enabled) set.enabled = row.enabled;
      if (!sameMap(have.external_ids, row.external_ids)) set.external_ids = row.external_ids;
      if (Object.keys(set).length) {
        out.ops.push(ops.update('Logical_Switch_Port', ops.byUuid(have._uuid), set));
        out.changes.push(`update logical port ${row.name} (${Object.keys(set).join(',')})`);
      }
      continue;
    }
    const id = `lsp${n++}`;
    out.ops.push(ops.insert('Logical_Switch_Port', { ...row }, id));
    out.changes.push(`create logical port ${row.name}`);
    const fresh = newSwitches.get(network);
    if (fresh) fresh.push(id);
    else out.ops.push(ops.mutate('Logical_Switch', ops.byUuid(curSwitches.get(network)!._uuid), [ops.mInsert('ports', namedUuid(id))]));
  }
  for (const [net, ids] of newSwitches) {
    const row = want.switches.get(net)!;
    out.ops.push(ops.insert('Logical_Switch', { ...row, ports: ids.map((id) => namedUuid(id)) }));
    out.changes.push(`create logical switch ${row.name}`);
  }
  return out;
}
