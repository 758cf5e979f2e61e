// Records of the whole pool → the backend-neutral document of one host (HostDoc), plus what
// the agent itself needs to report (which PIF is which bridge, VMs, bonds). Pure.
// Mapping (agent-protocol.md):
//  physical PIF  → bridge network.bridge with the NIC <device> as uplink
//  bond master   → bridge network.bridge with bond <device> of the slaves' NICs as uplink
//  VLAN PIF      → the parent realised as above + bridge network.bridge = (parent bridge, tag)
//  tunnel access → bridge network.bridge with no uplink + one tunnel per remote host (full mesh)
//  VIF           → port vif<domid>.<device> on its network's bridge
//  internal net  → bridge network.bridge while a wanted VIF is on it
// Records are input like any other: every name, MAC, MTU, tag, key and address is checked
// again here, and an object whose values do not pass is left out (or its value ignored) and
// reported against its ref.
import type { Rec } from '../idl/meta.js';
import type { BondMode, OvnChassis, HostAddress, HostBridge, HostDoc, Locking, StrMap, Uplink, VifPort } from '../backends/contract.js';
import { bondProperties } from './bond.js';
import { bool, int, isIPv4, isRef, prefixOf, refs, str, strMap, type PoolRecords } from './records.js';
import { isDnsName, isIfName, isIPv6, isMac, isMtu, isUuid, parseIPv4Net, parseIPv6Net, parseUint } from '../common/net-syntax.js';
import { ENCAP_OVERHEAD, encapOf, tunnelMtuFit } from '../common/encap.js';
import { MAX_TUNNEL_KEY, OVN_CA_KEY, OVN_CLUSTER_KEY, OVN_REMOTE_KEY, SDN_KEY, TUNNEL_KEY, isCertFingerprint, isOvnRemote, parseOvnCluster } from '../idl/checks.js';
import { ovnClusterOf } from '../common/ovn-cluster.js';

/** A compiled host: the driver's document and the agent's own bookkeeping. */
export interface Desired {
  doc: HostDoc;
  /** VMs running on this host (guest driver state), with their domid. */
  vms: { ref: string; uuid: string; domid: number }[];
  /** Realised PIFs: the bridge whose device carries the PIF's MTU and addresses. */
  pifs: { ref: string; bridge: string; mtu: number; mode: HostAddress['mode'] }[];
  /** Bonds realised here: the bridge whose uplink they are. */
  bonds: { ref: string; bridge: string }[];
  /** Objects that cannot be realised as recorded, ref → message. */
  errors: StrMap;
}

/**
 * Port/interface name of a tunnel to a peer: `t` + the peer's transport IPv4 address (8 hex
 * digits) + the network's tunnel key (6 hex digits), 15 characters. Unique on a host for any
 * pool: the controller gives every network its own key, and one peer address is one peer
 * (prefixes of host uuids were not: two hosts could share one and a port was lost).
 */
export function tunnelPortName(remoteIp: string, key: number): string {
  const ip = remoteIp.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  return `t${ip}${key.toString(16).padStart(6, '0')}`;
}

/** OVN's integration bridge on every chassis (one per host: ovn-controller drives one bridge). */
export const OVN_BRIDGE = 'br-int';

/** A VM whose domain exists: Running, or Paused (its devices stay; xen-api: ocaml/xapi/xapi_vif_helpers.ml). */
const hasDomain = (vm: { power_state?: unknown }): boolean => vm.power_state === 'Running' || vm.power_state === 'Paused';

export const vifDevName = (domid: number, device: number): string => `vif${domid}.${device}`;

/** MTU of a PIF or a VIF: its other_config:mtu if valid (68..65535), else network.MTU if valid, else 1500. */
export function effectiveMtu(rec: Rec, net: Rec | undefined): number {
  const o = int(strMap(rec.other_config).mtu, NaN);
  if (isMtu(o)) return o;
  const n = int(net?.MTU, 1500);
  return isMtu(n) ? n : 1500;
}

/**
 * The MTU each attached PIF of the host was plugged with: as xapi, a PIF takes its MTU
 * (other_config:mtu, else network.MTU) when it is plugged, and keeps it until it is plugged
 * again, whatever network.set_MTU does meanwhile. `prev` is what the agent kept (its last
 * realised copy after a restart); a PIF seen attached for the first time takes today's value; an
 * unplugged PIF is forgotten, so its next plug takes the value of that time. Pure.
 */
export function plugMtus(prev: ReadonlyMap<string, number>, pool: PoolRecords, hostRef: string,
  hostPifs: Iterable<string> = Object.keys(pool.PIF)): Map<string, number> {
  const out = new Map<string, number>();
  for (const ref of hostPifs) {
    const pif = pool.PIF[ref];
    if (!pif || str(pif.host) !== hostRef || !bool(pif.currently_attached)) continue;
    out.set(ref, prev.get(ref) ?? effectiveMtu(pif, pool.network[str(pif.network)]));
  }
  return out;
}

/** What is wrong with the MTU settings effectiveMtu had to skip, if anything. */
function mtuProblem(rec: Rec, net: Rec | undefined): string | undefined {
  const o = strMap(rec.other_config).mtu;
  if (o !== undefined && !isMtu(int(o, NaN))) return `invalid other_config:mtu ${JSON.stringify(o)} ignored`;
  if (net && !isMtu(int(net.MTU, NaN))) return `invalid network MTU ${JSON.stringify(net.MTU)} ignored`;
  return undefined;
}

/**
 * Pure: the entries of a VIF's ipv4_allowed/ipv6_allowed that are addresses or prefixes of the
 * family, and those that are not (never written anywhere; the caller reports them).
 */
export function allowedEntries(v: unknown, family: 4 | 6): { ok: string[]; bad: string[] } {
  const parse = family === 4 ? parseIPv4Net : parseIPv6Net;
  const list = Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : [];
  return { ok: list.filter((x) => parse(x)), bad: list.filter((x) => !parse(x)) };
}

/** A MAC address lower-cased, or null when it is not one (e.g. an empty PIF.MAC). */
const macOrNull = (mac: string): string | null => (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) ? mac.toLowerCase() : null);

export function effectiveLocking(vif: Rec, net: Rec | undefined): Locking {
  const m = str(vif.locking_mode);
  if (m === 'locked' || m === 'unlocked' || m === 'disabled') return m;
  const d = str(net?.default_locking_mode);
  return d === 'disabled' ? 'disabled' : 'unlocked';
}

interface Realised { bridge: string; mtu: number; vlan: boolean }

/** Whether the pool's cross-server private networks are on OVN, and its southbound address. */
export function poolSdn(poolTable: PoolRecords['pool']): { ovnPool: boolean; ovnRemote: string } {
  const poolConfig = strMap(Object.values(poolTable)[0]?.other_config);
  // Until the master has published its southbound address the networks stay on the mesh.
  const ovnRemote = poolConfig[OVN_REMOTE_KEY] ?? '';
  return { ovnPool: poolConfig[SDN_KEY] === 'ovn' && isOvnRemote(ovnRemote), ovnRemote };
}

/**
 * VMs whose domain is on another host now (uuids): a guest of theirs still found here moved away
 * (a migration) and is handed over, not stopped. Apart from compileHost, which reads only what
 * runs here: asked only when a pass finds a guest it does not want.
 */
export function vmsElsewhere(pool: PoolRecords, hostRef: string): string[] {
  return Object.values(pool.VM).filter((vm) => vm.is_control_domain !== true && hasDomain(vm) && isRef(vm.resident_on) &&
    str(vm.resident_on) !== hostRef && isUuid(str(vm.uuid))).map((vm) => str(vm.uuid));
}

/**
 * IGMP snooping of a NIC's or bond's bridge: as the PIF's igmp_snooping_status says, which the
 * master sets from pool.igmp_snooping_enabled when the PIF is plugged (as xapi, whose
 * pool.set_igmp_snooping_enabled re-attaches the networks). VLAN bridges follow their parent's
 * device on OVS and are left alone, as xcp-networkd leaves them.
 */
const snooping = (pif: Rec): Partial<HostBridge> => (str(pif.igmp_snooping_status) === 'enabled' ? { igmpSnooping: true } : {});

/** A host on a tunnel network's mesh, as seen from another host of it. */
export interface MeshPeer { ip: string; remoteHost: string }

/**
 * The peer one access PIF of a tunnel network makes for `hostRef`: none unless it is attached, on
 * another host, and its tunnel's transport has an IPv4 address and its host a uuid. It reads the
 * access PIF, its tunnel, the tunnel's transport PIF and the access PIF's host, nothing else.
 */
export function meshPeerOf(pool: PoolRecords, netRef: string, hostRef: string, accessRef: string): MeshPeer | undefined {
  const access = pool.PIF[accessRef];
  const t = pool.tunnel[refs(access?.tunnel_access_PIF_of)[0] ?? ''];
  if (!access || !t || str(t.access_PIF) !== accessRef || str(access.network) !== netRef || str(access.host) === hostRef || !bool(access.currently_attached)) return undefined;
  const ip = str(pool.PIF[str(t.transport_PIF)]?.IP);
  const remoteHost = str(pool.host[str(access.host)]?.uuid);
  return isIPv4(ip) && isUuid(remoteHost) ? { ip, remoteHost } : undefined;
}

/** The order of a mesh's peers (by their host's uuid; a stable sort keeps the network's PIFs' order among equals). */
export const byRemoteHost = (a: MeshPeer, c: MeshPeer): number => a.remoteHost.localeCompare(c.remoteHost);

/**
 * The other hosts on a tunnel network's mesh, as seen from `hostRef`: meshPeerOf each PIF of the
 * network (its inverse relation), not of every tunnel of the pool: the cost is the network's
 * hosts, however many other networks the pool has. Pure, and apart from compileHost so that an
 * agent can keep it per network (host-slice.ts).
 */
export function meshPeers(pool: PoolRecords, netRef: string, hostRef: string): MeshPeer[] {
  return refs(pool.network[netRef]?.PIFs).flatMap((a) => meshPeerOf(pool, netRef, hostRef, a) ?? []).sort(byRemoteHost);
}

/**
 * `peersOf`: meshPeers of a tunnel network of this host; by default read from `pool`, which then
 * holds the networks' PIFs and their peers' records (an agent passes its own, kept per network).
 */
export function compileHost(pool: PoolRecords, hostRef: string, plugged: ReadonlyMap<string, number> = new Map(),
  peersOf: (netRef: string) => readonly MeshPeer[] = (netRef) => meshPeers(pool, netRef, hostRef)): Desired {
  const host = pool.host[hostRef];
  const doc: HostDoc = { host: str(host?.uuid), bridges: [], vifs: [], addresses: [] };
  const out: Desired = { doc, vms: [], pifs: [], bonds: [], errors: {} };
  const fail = (ref: string, msg: string) => { if (ref && !out.errors[ref]) out.errors[ref] = msg; };
  // Every device name the host gets (bridges, uplinks, members, tunnels, VIFs) → its owner:
  // two objects never share one.
  const names = new Map<string, string>();
  const claim = (owner: string, ...wanted: string[]): boolean => {
    for (const n of wanted) {
      const other = names.get(n);
      if (other !== undefined && other !== owner) { fail(owner, `interface ${n} is already used by ${other}`); return false; }
    }
    for (const n of wanted) names.set(n, owner);
    return true;
  };
  const bridgeByName = new Map<string, HostBridge>();
  /** A bridge; false (and an error) when its name is bad or taken. */
  const ensureBridge = (name: string, owner: string, mtu: number, networkUuid: string, mac: string, extra: Partial<HostBridge> = {}): HostBridge | undefined => {
    if (!isIfName(name)) { fail(owner, `invalid bridge name ${JSON.stringify(name)}`); return undefined; }
    const have = bridgeByName.get(name);
    if (have) return have;
    if (!claim(owner, name)) return undefined;
    const b: HostBridge = { name, owner, networkUuid, mtu, mac: macOrNull(mac), tunnels: [], ...extra };
    bridgeByName.set(name, b);
    doc.bridges.push(b);
    return b;
  };

  // On an OVN pool, cross-server private networks are OVN logical switches: no mesh ports; the
  // host is a chassis whose encapsulation comes from its tunnels, and their VIFs go on br-int.
  const { ovnPool, ovnRemote } = poolSdn(pool.pool);
  const chassisTunnels: { ref: string; protocol: string; ip: string }[] = [];

  const myPifs = Object.entries(pool.PIF)
    .filter(([, p]) => str(p.host) === hostRef && p.managed !== false)
    .sort(([ra, a], [rb, b]) => str(a.device).localeCompare(str(b.device)) || int(a.VLAN, -1) - int(b.VLAN, -1) || ra.localeCompare(rb));
  const pifOnNet = (netRef: string) => myPifs.find(([, p]) => str(p.network) === netRef)?.[0];

  // Which PIFs to bring up: attached ones, plus (on demand) those carrying a wanted VIF's network.
  const wantedVifs = Object.entries(pool.VIF).filter(([, v]) => {
    const vm = pool.VM[str(v.VM)];
    return bool(v.currently_attached) && vm !== undefined && hasDomain(vm) && str(vm.resident_on) === hostRef;
  }).sort(([a], [b]) => a.localeCompare(b));
  const attached = new Set(myPifs.filter(([, p]) => bool(p.currently_attached)).map(([r]) => r));
  const needed = new Set(attached);
  for (const [, v] of wantedVifs) { const r = pifOnNet(str(v.network)); if (r) needed.add(r); }
  // A bond slave is not realised on its own while its bond master is wanted here.
  const slavesOfWantedBonds = new Set<string>();
  for (const r of needed) {
    for (const b of refs(pool.PIF[r]?.bond_master_of)) {
      for (const [sr, s] of myPifs) if (str(s.bond_slave_of) === b) slavesOfWantedBonds.add(sr);
    }
  }

  const done = new Map<string, Realised | null>();
  const realise = (ref: string): Realised | null => {
    if (done.has(ref)) return done.get(ref)!;
    done.set(ref, null); // guards against cycles in bad records
    const r = realiseOnce(ref);
    done.set(ref, r);
    if (r) out.pifs.push({ ref, bridge: r.bridge, mtu: r.mtu, mode: ipMode(pool.PIF[ref]!) });
    return r;
  };
  const realiseOnce = (ref: string): Realised | null => {
    const pif = pool.PIF[ref];
    if (!pif) return null;
    const net = pool.network[str(pif.network)];
    if (!net) { fail(ref, 'PIF has no network'); return null; }
    const bridge = str(net.bridge);
    const netUuid = str(net.uuid);
    // The MTU of its plug while it stays attached (plugMtus), else today's.
    const mtu = plugged.get(ref) ?? effectiveMtu(pif, net);
    const device = str(pif.device);
    const badMtu = mtuProblem(pif, net);
    if (badMtu) fail(ref, badMtu);
    // Names become switch rows and iproute2 arguments: only Linux interface names (no option, no path).
    if (!isIfName(device)) { fail(ref, `invalid device name ${JSON.stringify(device)}`); return null; }

    const tunnels = refs(pif.tunnel_access_PIF_of);
    if (tunnels.length > 0) return realiseTunnel(ref, pif, tunnels[0]!, bridge, netUuid, mtu);

    if (isRef(pif.VLAN_master_of)) {
      const vlan = pool.VLAN[str(pif.VLAN_master_of)];
      const parentRef = str(vlan?.tagged_PIF);
      const tag = int(vlan?.tag, int(pif.VLAN, -1));
      if (!vlan || !pool.PIF[parentRef]) { fail(ref, 'VLAN has no tagged PIF'); return null; }
      const parent = realise(parentRef);
      if (!parent) { fail(ref, `parent PIF ${parentRef} could not be realised`); return null; }
      if (parent.vlan) { fail(ref, 'VLAN on a VLAN is not supported'); return null; }
      if (!isIfName(bridge)) { fail(ref, `invalid bridge name ${JSON.stringify(bridge)}`); return null; }
      if (!Number.isInteger(tag) || tag < 0 || tag > 4094) { fail(ref, `invalid VLAN tag ${JSON.stringify(tag)}`); return null; }
      // A VLAN cannot carry more than its parent's NIC does (as xcp-networkd: ocaml/networkd/bin/network_server.ml).
      const eff = Math.min(mtu, parent.mtu);
      const b = ensureBridge(bridge, ref, eff, netUuid, str(pool.PIF[parentRef]!.MAC), { vlan: { parent: parent.bridge, tag } });
      if (!b || !b.vlan) { if (b) fail(ref, `bridge ${bridge} is already used by ${b.owner}`); return null; }
      return { bridge, mtu: eff, vlan: true };
    }

    const bonds = refs(pif.bond_master_of);
    if (bonds.length > 0) {
      const bond = pool.Bond[bonds[0]!];
      const members = myPifs.filter(([, s]) => str(s.bond_slave_of) === bonds[0]).map(([, s]) => str(s.device)).sort();
      if (!bond || members.length === 0) { fail(ref, 'bond has no members'); return null; }
      const badMember = members.find((m) => !isIfName(m));
      if (badMember !== undefined) { fail(ref, `invalid member device name ${JSON.stringify(badMember)}`); return null; }
      const rejected: string[] = [];
      const properties = bondProperties(str(bond.mode), strMap(bond.properties), strMap(pif.other_config), rejected);
      if (rejected.length) fail(ref, `invalid bond settings ignored: ${rejected.join(', ')}`);
      if (!claim(ref, device, ...members)) return null;
      const uplink: Uplink = { kind: 'bond', device, members, mode: properties.mode as BondMode, properties, mac: macOrNull(str(pif.MAC)) };
      if (!ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC), { uplink, ...snooping(pif) })) return null;
      out.bonds.push({ ref: bonds[0]!, bridge });
      return { bridge, mtu, vlan: false };
    }

    if (bool(pif.physical)) {
      if (!claim(ref, device)) return null;
      if (!ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC), { uplink: { kind: 'nic', device }, ...snooping(pif) })) return null;
      return { bridge, mtu, vlan: false };
    }
    fail(ref, 'PIF is neither physical, a bond master, a VLAN nor a tunnel access PIF');
    return null;
  };

  const realiseTunnel = (ref: string, pif: Rec, tunnelRef: string, bridge: string, netUuid: string, mtu: number): Realised | null => {
    const tunnel = pool.tunnel[tunnelRef];
    if (!tunnel) { fail(ref, 'tunnel record missing'); return null; }
    const transport = str(tunnel.transport_PIF);
    const carrier = pool.PIF[transport] ? realise(transport) : null;
    if (pool.PIF[transport] && !carrier) { fail(ref, `transport PIF ${transport} could not be realised`); return null; }
    const protocol = str(tunnel.protocol) === 'vxlan' ? 'vxlan' : 'gre';
    // A frame larger than the transport carries once encapsulated would vanish: the network's
    // MTU here is clamped to what fits, and an explicit other_config:mtu that does not fit is an error.
    if (carrier) {
      const encap = encapOf(protocol, ovnPool ? 'ovn' : 'mesh');
      const fit = tunnelMtuFit(carrier.mtu, encap);
      if (mtu > fit) {
        if (strMap(pif.other_config).mtu !== undefined) {
          fail(ref, `other_config:mtu ${mtu} does not fit the transport's MTU ${carrier.mtu} minus ${ENCAP_OVERHEAD[encap]} bytes of ${encap}: at most ${fit}`);
        }
        mtu = fit;
      }
    }
    const b = ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC));
    if (!b) return null;
    const r = { bridge, mtu, vlan: false };
    const netRef = str(pif.network);
    const keyText = strMap(pool.network[netRef]?.other_config)[TUNNEL_KEY] ?? '';
    if (ovnPool) {
      chassisTunnels.push({ ref, protocol, ip: str(pool.PIF[transport]?.IP) });
      return r;
    }
    // No key yet: a host-local network until the controller allocates one.
    if (keyText === '') return r;
    const key = parseUint(keyText, 1, MAX_TUNNEL_KEY);
    if (key === undefined) { fail(ref, `invalid tunnel key ${JSON.stringify(keyText)}`); return r; }
    if (!isUuid(netUuid)) { fail(ref, `invalid network uuid ${JSON.stringify(netUuid)}`); return r; }
    for (const peer of peersOf(netRef)) {
      const name = tunnelPortName(peer.ip, key);
      if (claim(ref, name)) b.tunnels.push({ name, protocol, remote: peer.ip, key, remoteHost: peer.remoteHost });
    }
    return r;
  };

  for (const [ref] of myPifs) {
    if (needed.has(ref) && !slavesOfWantedBonds.has(ref)) realise(ref);
  }

  const poolConfig = strMap(Object.values(pool.pool)[0]?.other_config);
  const caFingerprint = poolConfig[OVN_CA_KEY] ?? '';
  const ovnCa = isCertFingerprint(caFingerprint) ? { caFingerprint } : {};
  if (ovnPool && chassisTunnels.length > 0) {
    const first = chassisTunnels[0]!;
    const remote = ovnRemote;
    if (!isIPv4(first.ip)) fail(first.ref, `transport PIF has no IPv4 address for OVN's encapsulation`);
    else if (ensureBridge(OVN_BRIDGE, first.ref, 1500, '', '', { integration: true })) {
      for (const t of chassisTunnels) if (t.ip !== first.ip) fail(t.ref, `an OVN chassis has one encapsulation address: ${first.ip}, not ${t.ip}`);
      // OVN has no GRE: a gre tunnel is carried by Geneve.
      const encapTypes = [...new Set(chassisTunnels.map((t) => (t.protocol === 'vxlan' ? 'vxlan' : 'geneve') as OvnChassis['encapTypes'][number]))].sort();
      doc.ovn = { systemId: doc.host, remote, encapTypes, encapIp: first.ip, bridge: OVN_BRIDGE, ...ovnCa };
    }
  }
  if (poolConfig[SDN_KEY] === 'ovn') {
    const cluster = ovnClusterOf(parseOvnCluster(poolConfig[OVN_CLUSTER_KEY] ?? ''), pool.host, str(Object.values(pool.pool)[0]?.master));
    const me = cluster?.members.find((m) => m.host === hostRef);
    if (cluster && me && me !== cluster.members[0]) {
      doc.ovnDb = { self: me.address, peers: cluster.members.filter((m) => m !== me).map((m) => m.address), creator: false, ...ovnCa };
    }
  }
  const ovnNets = new Set<string>();
  if (ovnPool) for (const t of Object.values(pool.tunnel)) ovnNets.add(str(pool.PIF[str(t.access_PIF)]?.network));

  // IPv4 configuration of attached PIFs, on their bridge device.
  const ipPifs: { ref: string; pif: Rec; dev: string }[] = [];
  for (const [ref, pif] of myPifs) {
    const r = done.get(ref);
    if (!r || !attached.has(ref)) continue;
    const spec: HostAddress = { dev: r.bridge, owner: ref, mode: ipMode(pif), addrs: [] };
    if (spec.mode === 'Static') {
      const ip = str(pif.IP);
      const prefix = prefixOf(str(pif.netmask));
      if (!isIPv4(ip) || prefix === undefined) { fail(ref, `invalid static IP configuration ${ip}/${str(pif.netmask)}`); continue; }
      spec.addrs = [`${ip}/${prefix}`];
    }
    doc.addresses.push(spec);
    if (spec.mode !== 'None') ipPifs.push({ ref, pif, dev: r.bridge });
  }
  // Gateway and DNS: other_config defaultroute/peerdns, else the management PIF, else the first (as xcp-networkd chooses them).
  const pick = (flag: string) => ipPifs.find((x) => strMap(x.pif.other_config)[flag] === 'true')
    ?? ipPifs.find((x) => bool(x.pif.management)) ?? ipPifs[0];
  const gw = pick('defaultroute');
  if (gw && str(gw.pif.ip_configuration_mode) === 'Static' && isIPv4(str(gw.pif.gateway))) {
    doc.gateway = { dev: gw.dev, via: str(gw.pif.gateway), owner: gw.ref };
  }
  // A DHCP PIF's gateway and DNS come from its lease (the agent fills them in, see leases.ts).
  if (gw && str(gw.pif.ip_configuration_mode) === 'DHCP') doc.dhcpGateway = { dev: gw.dev, owner: gw.ref };
  const dns = pick('peerdns');
  const split = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const domains = (pif: Rec) => split(strMap(pif.other_config).domain ?? '').filter(isDnsName);
  if (dns && str(dns.pif.ip_configuration_mode) === 'Static') {
    doc.dns = {
      servers: split(str(dns.pif.DNS)).filter((x) => isIPv4(x) || isIPv6(x)),
      search: domains(dns.pif), owner: dns.ref,
    };
  }
  if (dns && str(dns.pif.ip_configuration_mode) === 'DHCP') doc.dhcpDns = { dev: dns.dev, owner: dns.ref, search: domains(dns.pif) };

  // Guests: VMs with a domain here (running or paused: a paused domain keeps its devices), and
  // their wanted interfaces. The control domain is the host itself, never a guest to create.
  for (const [ref, vm] of Object.entries(pool.VM).sort(([a], [b]) => a.localeCompare(b))) {
    if (vm.is_control_domain === true) continue;
    if (hasDomain(vm) && str(vm.resident_on) === hostRef && int(vm.domid, -1) >= 0) {
      // The uuid names the guest's namespace: a path component.
      if (!isUuid(str(vm.uuid))) { fail(ref, `invalid VM uuid ${JSON.stringify(vm.uuid)}`); continue; }
      out.vms.push({ ref, uuid: str(vm.uuid), domid: int(vm.domid, -1) });
    }
  }
  for (const [ref, vif] of wantedVifs) {
    const vm = pool.VM[str(vif.VM)]!;
    const netRef = str(vif.network);
    const net = pool.network[netRef];
    const domid = int(vm.domid, -1);
    const device = int(vif.device, -1);
    if (!net) { fail(ref, 'VIF has no network'); continue; }
    if (domid < 0 || device < 0) { fail(ref, `VM has no domid or VIF no device (domid ${domid}, device ${device})`); continue; }
    // Checked again here: these values become interface names, switch rows, veth addresses, flows.
    const mac = str(vif.MAC).toLowerCase();
    const ids = { VIF: str(vif.uuid), VM: str(vm.uuid), network: str(net.uuid) };
    const badId = Object.entries(ids).find(([, u]) => !isUuid(u));
    if (badId) { fail(ref, `invalid ${badId[0]} uuid ${JSON.stringify(badId[1])}`); continue; }
    if (!isMac(mac)) { fail(ref, `invalid MAC ${JSON.stringify(vif.MAC)}`); continue; }
    const name = vifDevName(domid, device);
    if (!isIfName(name)) { fail(ref, `interface name ${name} is too long`); continue; }
    const v4 = allowedEntries(vif.ipv4_allowed, 4);
    const v6 = allowedEntries(vif.ipv6_allowed, 6);
    const bad = [...v4.bad, ...v6.bad];
    // Left out, which only narrows what a locked VIF may send.
    if (bad.length) fail(ref, `invalid allowed addresses ignored: ${bad.map((x) => JSON.stringify(x)).join(', ')}`);
    const badMtu = mtuProblem(vif, net);
    if (badMtu) fail(ref, badMtu);
    const spec: VifPort = {
      owner: ref, name, mac, mtu: effectiveMtu(vif, net), locking: effectiveLocking(vif, net),
      ipv4_allowed: v4.ok, ipv6_allowed: v6.ok,
      vifUuid: ids.VIF, vmUuid: ids.VM, networkUuid: ids.network, vmDomid: domid, device,
    };
    if (vm.power_state === 'Paused') spec.paused = true;
    doc.vifs.push(spec);
    if (!claim(ref, name)) continue;
    // On a tunnel network the guest gets no more than the tunnel carries.
    const carried = done.get(pifOnNet(netRef) ?? '');
    if (carried && refs(pool.PIF[pifOnNet(netRef)!]?.tunnel_access_PIF_of).length > 0 && spec.mtu > carried.mtu) {
      if (strMap(vif.other_config).mtu !== undefined) fail(ref, `other_config:mtu ${spec.mtu} does not fit the tunnel network's ${carried.mtu}: clamped`);
      spec.mtu = carried.mtu;
    }
    if (ovnNets.has(netRef)) {
      if (!doc.ovn) { fail(ref, `network ${str(net.uuid)} is on OVN and this host is not an OVN chassis (no tunnel access PIF realised here)`); continue; }
      spec.bridge = doc.ovn.bridge;
      spec.ifaceId = ids.VIF;
      continue;
    }
    const pifRef = pifOnNet(netRef);
    if (pifRef) {
      const where = done.get(pifRef);
      if (!where) { fail(ref, `PIF ${pifRef} of network ${str(net.uuid)} is not realised on this host`); continue; }
      spec.bridge = where.bridge;
    } else {
      if (!ensureBridge(str(net.bridge), ref, spec.mtu, str(net.uuid), '')) { fail(ref, `bridge ${str(net.bridge)} could not be created`); continue; }
      spec.bridge = str(net.bridge);
    }
  }
  return out;
}

function ipMode(pif: Rec): HostAddress['mode'] {
  const mode = str(pif.ip_configuration_mode);
  return mode === 'Static' ? 'Static' : mode === 'DHCP' ? 'DHCP' : 'None';
}
