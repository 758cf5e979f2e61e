// Field and key rules for the class files: what may be stored in the fields whose values reach a
// host (addresses, MACs, interface names, tags, MTUs, the other_config keys the agent reads).
// Each builds a Check (meta.ts) that throws xapi's error for that kind of value.
import { ApiError } from '../common/api-error.js';
import {
  isDnsName, isIfName, isIPv4, isIPv6, isMac, isMtu, isUuid, parseIPv4Net, parseIPv6Net, parseIPv4Cidr, parseIPv6Cidr, parseUint,
} from '../common/net-syntax.js';
import type { Check, KeyRule, Rec, Value } from './meta.js';

const text = (v: Value): string => (typeof v === 'string' ? v : String(v));
const fail = (code: string, ...params: unknown[]): never => { throw new ApiError(code, params); };

/**
 * An address of one family (or "" when `empty`): INVALID_IP_ADDRESS_SPECIFIED [what].
 * With `net`, an `address/prefix` is accepted too (VIF.ipv4_allowed).
 */
export function ipAddress(family: 4 | 6, opts: { empty?: boolean; net?: boolean } = {}): Check {
  const ok = opts.net ? (family === 4 ? parseIPv4Net : parseIPv6Net) : (s: string) => (family === 4 ? isIPv4(s) : isIPv6(s)) || undefined;
  return (v, what) => {
    const s = text(v);
    if (!(opts.empty && s === '') && !ok(s)) fail('INVALID_IP_ADDRESS_SPECIFIED', what);
  };
}

/** `address/prefix` of one family, or "": INVALID_CIDR_ADDRESS_SPECIFIED [what]. */
export function cidr(family: 4 | 6): Check {
  const parse = family === 4 ? parseIPv4Cidr : parseIPv6Cidr;
  return (v, what) => { const s = text(v); if (s !== '' && !parse(s)) fail('INVALID_CIDR_ADDRESS_SPECIFIED', what); };
}

/** A comma-separated list of IPv4/IPv6 addresses, or "": INVALID_IP_ADDRESS_SPECIFIED [what]. */
export const dnsServers: Check = (v, what) => {
  const s = text(v);
  if (s !== '' && !s.split(',').every((x) => isIPv4(x) || isIPv6(x))) fail('INVALID_IP_ADDRESS_SPECIFIED', what);
};

/** A MAC `xx:xx:xx:xx:xx:xx` (or "" when `empty`: the server picks one): MAC_INVALID [mac]. */
export function mac(opts: { empty?: boolean } = {}): Check {
  return (v) => { const s = text(v); if (!(opts.empty && s === '') && !isMac(s)) fail('MAC_INVALID', s); };
}

/** A Linux interface name (net-syntax isIfName), or "" when `empty`: INVALID_VALUE [what, name]. */
export function ifName(opts: { empty?: boolean } = {}): Check {
  return (v, what) => { const s = text(v); if (!(opts.empty && s === '') && !isIfName(s)) fail('INVALID_VALUE', what, s); };
}

/** An 802.1Q tag 0..4094 (or -1, "no VLAN", when `none`): VLAN_TAG_INVALID [tag]. */
export function vlanTag(opts: { none?: boolean } = {}): Check {
  return (v) => {
    const n = Number(v);
    if (!(Number.isInteger(n) && ((n >= 0 && n <= 4094) || (opts.none && n === -1)))) fail('VLAN_TAG_INVALID', v);
  };
}

/** An MTU 68..65535: INVALID_VALUE [what, value]. */
export const mtu: Check = (v, what) => { if (!isMtu(Number(v))) fail('INVALID_VALUE', what, v); };

/**
 * A VIF device: an unsigned decimal, at most 65535 (so `vif<domid>.<device>` fits a Linux
 * interface name): INVALID_DEVICE [device].
 */
export const vifDevice: Check = (v) => { const s = text(v); if (parseUint(s, 0, 65535) === undefined) fail('INVALID_DEVICE', s); };

// ---------------------------------------------------------------- keys of maps

const keyValue = (ok: (v: string) => boolean): KeyRule['check'] =>
  (v, key, field) => { if (!ok(v)) fail('INVALID_VALUE', `${field}:${key}`, v); };

/** other_config:mtu, which overrides the network's MTU on a PIF or VIF. */
export const mtuKey: KeyRule = { check: keyValue((v) => parseUint(v, 68, 65535) !== undefined) };

const uint = (max: number) => (v: string) => parseUint(v, 0, max) !== undefined;
const oneOf = (...xs: string[]) => (v: string) => xs.includes(v);

/**
 * PIF other_config `bond-<property>` overrides of a bond master (xapi's networkd reads every
 * `bond-` key): only the properties the agent maps onto Open vSwitch, with their value syntax.
 */
export const BOND_OVERRIDES: Record<string, (v: string) => boolean> = {
  mode: oneOf('balance-slb', 'active-backup', 'lacp'),
  'hashing-algorithm': oneOf('src_mac', 'tcpudp_ports'),
  updelay: uint(0x7fffffff),
  downdelay: uint(0x7fffffff),
  miimon: uint(0x7fffffff),
  use_carrier: oneOf('0', '1'),
  'rebalance-interval': uint(0x7fffffff),
  'lacp-time': oneOf('fast', 'slow'),
  'lacp-fallback-ab': oneOf('true', 'false'),
  'lacp-aggregation-key': (v) => parseUint(v, 1, 65535) !== undefined,
  'lacp-actor-key': (v) => parseUint(v, 1, 65535) !== undefined,
  primary: isIfName,
};
export const bondKey: KeyRule = {
  check: (v, key, field) => {
    const ok = BOND_OVERRIDES[key.slice('bond-'.length)];
    if (!ok?.(v)) fail('INVALID_VALUE', `${field}:${key}`, v);
  },
};

/** PIF other_config:domain, the DNS search list: comma-separated domain names. */
export const domainKey: KeyRule = { check: keyValue((v) => v === '' || v.split(',').every(isDnsName)) };

/** The tunnel key the pool's controller keeps in network.other_config: 1..16777215 (a VXLAN VNI). */
export const TUNNEL_KEY = 'xcpnet-tunnel-key';
export const MAX_TUNNEL_KEY = 0xffffff;
export const tunnelKey: KeyRule = { role: 'pool-operator', check: keyValue((v) => parseUint(v, 1, MAX_TUNNEL_KEY) !== undefined) };

/** PIF.properties: only gro=on|off (INVALID_VALUE ["properties", "k = v"], as PIF.set_property). */
export const PIF_PROPERTIES: Record<string, KeyRule> = {
  gro: { check: (v, k, field) => { if (v !== 'on' && v !== 'off') fail('INVALID_VALUE', field, `${k} = ${v}`); } },
  '*': { check: (v, k, field) => fail('INVALID_VALUE', field, `${k} = ${v}`) },
};

/** pool.other_config:xcpnet-sdn, what carries the pool's cross-server private networks: xcpnet's mesh (default) or OVN. */
export const SDN_KEY = 'xcpnet-sdn';
export const SDN_MODES = ['mesh', 'ovn'] as const;
export const sdnKey: KeyRule = { role: 'pool-operator', check: keyValue(oneOf(...SDN_MODES)) };
/**
 * pool.other_config:xcpnet-ovn-remote, where the agents' ovn-controller reaches the master's
 * southbound database (written by the master): `tcp:IPv4:PORT`, `ssl:IPv4:PORT` or `unix:/PATH`.
 */
export const OVN_REMOTE_KEY = 'xcpnet-ovn-remote';
export function isOvnRemote(v: string): boolean {
  // A clustered database: one address per member, comma-separated.
  const parts = v.split(',');
  return parts.length <= OVN_CLUSTER_SIZE && parts.every(isOneOvnRemote);
}
function isOneOvnRemote(v: string): boolean {
  const m = /^(tcp|ssl):([0-9.]+):(\d{1,5})$/.exec(v);
  if (m) return isIPv4(m[2]!) && parseUint(m[3]!, 1, 65535) !== undefined;
  return /^unix:\/[A-Za-z0-9._/+-]{1,100}$/.test(v) && !v.includes('/../');
}
export const ovnRemoteKey: KeyRule = { role: 'pool-admin', check: keyValue(isOvnRemote) };
/**
 * pool.other_config:xcpnet-ovn-ca, the SHA-256 fingerprint of the pool's OVN CA certificate
 * (written by the master): a host whose certificate is of another CA (the CA was made again) asks
 * for a new one.
 */
export const OVN_CA_KEY = 'xcpnet-ovn-ca';
export const isCertFingerprint = (v: string): boolean => /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/.test(v);
// Written by the master alone: a wrong value would have every host ask for certificates again.
export const ovnCaKey: KeyRule = { serverOnly: true, check: keyValue(isCertFingerprint) };

/**
 * pool.other_config:xcpnet-ovn-cluster, the hosts (uuids, comma-separated) whose OVN northbound
 * and southbound databases form a RAFT cluster of three, the master among them (it makes the
 * cluster from its standalone databases; the others join it). Absent: standalone databases on the
 * master. Each member must have a management address (host.address). The members are fixed once
 * set: a RAFT cluster changes members one at a time, which xcpnet does not do.
 */
export const OVN_CLUSTER_KEY = 'xcpnet-ovn-cluster';
export const OVN_CLUSTER_SIZE = 3;
/** The member hosts' uuids, or undefined when `v` does not name exactly three distinct uuids. */
export function parseOvnCluster(v: string): string[] | undefined {
  const uuids = v.split(',').map((u) => u.toLowerCase());
  if (uuids.length !== OVN_CLUSTER_SIZE || new Set(uuids).size !== uuids.length || !uuids.every(isUuid)) return undefined;
  return uuids;
}
export const ovnClusterKey: KeyRule = {
  role: 'pool-admin',
  check: (v, key, field) => { if (!parseOvnCluster(v)) fail('INVALID_VALUE', `${field}:${key}`, v, `want ${OVN_CLUSTER_SIZE} distinct host uuids, comma-separated`); },
  checkInDb: (db, before, after, key, field) => {
    if (before !== undefined) fail('INVALID_VALUE', `${field}:${key}`, after ?? '', 'the OVN cluster\'s members are fixed once set');
    const uuids = parseOvnCluster(after ?? '')!;
    const hosts = new Map<string, [string, Rec]>();
    for (const [ref, h] of db.all('host')) hosts.set(String(h.uuid).toLowerCase(), [ref, h]);
    let master = '';
    for (const [, p] of db.all('pool')) master = String(p.master);
    for (const u of uuids) {
      const h = hosts.get(u) ?? fail('UUID_INVALID', 'host', u);
      if (!isIPv4(String(h[1].address))) fail('INVALID_VALUE', `${field}:${key}`, after, `host ${u} has no IPv4 management address`);
    }
    if (!uuids.some((u) => hosts.get(u)![0] === master)) fail('INVALID_VALUE', `${field}:${key}`, after, 'the pool master must be one of the members');
  },
};
