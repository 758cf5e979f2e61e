// Records of the whole pool → the network config one host should have. Pure.
// Mapping (host-realisation §1.6, §1.8, §2.3, §3.3; agent-protocol.md):
//  physical PIF  → bridge network.bridge + port <device>
//  bond master   → bridge network.bridge + bond port <device> with the slaves' NICs
//  VLAN PIF      → the parent realised as above + a fake-bridge port (tag) on the parent's bridge
//  tunnel access → bridge network.bridge with no uplink + one tunnel port per remote host (full mesh)
//  VIF           → port vif<domid>.<device> on the network's (parent) bridge, tagged on VLANs
//  internal net  → bridge network.bridge while a wanted VIF is on it
import type { Rec } from '../idl/meta.js';
import { bondColumns, bondProperties } from './bond.js';
import {
  OWNER_KEY, type BridgeSpec, type HostNetConfig, type IfaceRow, type IpSpec, type Locking,
  type PortSpec, type StrMap, type VifSpec,
} from './model.js';
import { bool, int, isIPv4, isRef, prefixOf, refs, str, strMap, type PoolRecords } from './records.js';
import { isDnsName, isIfName, isIPv6, isMac, isMtu, isUuid, parseIPv4Net, parseIPv6Net, parseUint } from '../common/net-syntax.js';
import { MAX_TUNNEL_KEY, TUNNEL_KEY } from '../idl/checks.js';

export interface CompileOptions {
  /** Bridge datapath_type: '' (kernel) or 'netdev' (userspace). */
  datapathType?: string;
}

/** Port/interface name of a tunnel to a remote host (≤ 15 chars, stable per network and peer). */
export function tunnelPortName(remoteHostUuid: string, networkUuid: string): string {
  const hex = (u: string) => u.replace(/-/g, '').slice(0, 6);
  return `t${hex(remoteHostUuid)}.${hex(networkUuid)}`;
}

export const vifDevName = (domid: number, device: number): string => `vif${domid}.${device}`;

/** MTU of a PIF or a VIF: its other_config:mtu if valid (68..65535), else network.MTU if valid, else 1500. */
export function effectiveMtu(rec: Rec, net: Rec | undefined): number {
  const o = int(strMap(rec.other_config).mtu, NaN);
  if (isMtu(o)) return o;
  const n = int(net?.MTU, 1500);
  return isMtu(n) ? n : 1500;
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

interface Realised { bridge: string; tag?: number; dev: string; mtu: number }

export function compileHostConfig(pool: PoolRecords, hostRef: string, opts: CompileOptions = {}): HostNetConfig {
  const host = pool.host[hostRef];
  const hostUuid = str(host?.uuid);
  const owned = (extra: StrMap = {}): StrMap => ({ ...extra, [OWNER_KEY]: hostUuid });
  const cfg: HostNetConfig = { hostUuid, bridges: [], ports: [], ips: [], vifs: [], vms: [], pifs: [], bonds: [], errors: {} };
  const fail = (ref: string, msg: string) => { if (ref && !cfg.errors[ref]) cfg.errors[ref] = msg; };
  const portNames = new Map<string, string>(); // port or interface name → owner
  const bridgeByName = new Map<string, BridgeSpec>();

  const addPort = (p: PortSpec): boolean => {
    for (const n of new Set([p.name, ...p.interfaces.map((i) => i.name)])) {
      const other = portNames.get(n);
      if (other !== undefined) {
        fail(p.owner, `interface ${n} is already used by ${other}`);
        return false;
      }
    }
    for (const n of new Set([p.name, ...p.interfaces.map((i) => i.name)])) portNames.set(n, p.owner);
    cfg.ports.push(p);
    return true;
  };
  const iface = (name: string, type: string, mtu: number | null, extra: Partial<IfaceRow> = {}): IfaceRow => ({
    name, type, options: {}, mtu_request: mtu, mac: null, external_ids: owned(), other_config: {}, ...extra,
  });
  const port = (name: string, bridge: string, owner: string, role: PortSpec['role'], interfaces: IfaceRow[], extra: Partial<PortSpec> = {}): PortSpec => ({
    name, bridge, owner, role, interfaces, tag: null, fake_bridge: false, protected: false, bond_mode: null, lacp: null,
    bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: owned(), ...extra,
  });
  /** A real bridge with its own internal port; false (and an error) when the name is taken. */
  const ensureBridge = (name: string, owner: string, mtu: number, networkUuid: string, mac: string): boolean => {
    if (!isIfName(name)) { fail(owner, `invalid bridge name ${JSON.stringify(name)}`); return false; }
    if (bridgeByName.has(name)) return true;
    const other_config: StrMap = { 'mac-table-size': '10000' };
    const hwaddr = macOrNull(mac);
    if (hwaddr) other_config.hwaddr = hwaddr;
    const b: BridgeSpec = {
      name, owner, datapath_type: opts.datapathType ?? '', fail_mode: 'standalone', other_config,
      external_ids: owned({ 'xs-network-uuids': networkUuid }),
    };
    if (!addPort(port(name, name, owner, 'bridge', [iface(name, 'internal', mtu)]))) return false;
    bridgeByName.set(name, b);
    cfg.bridges.push(b);
    return true;
  };

  const myPifs = Object.entries(pool.PIF)
    .filter(([, p]) => str(p.host) === hostRef && p.managed !== false)
    .sort(([ra, a], [rb, b]) => str(a.device).localeCompare(str(b.device)) || int(a.VLAN, -1) - int(b.VLAN, -1) || ra.localeCompare(rb));
  const pifOnNet = (netRef: string) => myPifs.find(([, p]) => str(p.network) === netRef)?.[0];

  // Which PIFs to bring up: attached ones, plus (on demand) those carrying a wanted VIF's network.
  const wantedVifs = Object.entries(pool.VIF).filter(([, v]) => {
    const vm = pool.VM[str(v.VM)];
    return bool(v.currently_attached) && vm !== undefined && str(vm.power_state) === 'Running' && str(vm.resident_on) === hostRef;
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
    if (r) cfg.pifs.push({ ref, dev: r.dev, mtu: r.mtu });
    return r;
  };
  const realiseOnce = (ref: string): Realised | null => {
    const pif = pool.PIF[ref];
    if (!pif) return null;
    const net = pool.network[str(pif.network)];
    if (!net) { fail(ref, 'PIF has no network'); return null; }
    const bridge = str(net.bridge);
    const netUuid = str(net.uuid);
    const mtu = effectiveMtu(pif, net);
    const device = str(pif.device);
    const badMtu = mtuProblem(pif, net);
    if (badMtu) fail(ref, badMtu);
    // Names become OVS rows and iproute2 arguments: only Linux interface names (no option, no path).
    if (!isIfName(device)) { fail(ref, `invalid device name ${JSON.stringify(device)}`); return null; }

    const tunnels = refs(pif.tunnel_access_PIF_of);
    if (tunnels.length > 0) return realiseTunnel(ref, pif, tunnels[0], bridge, netUuid, mtu);

    if (isRef(pif.VLAN_master_of)) {
      const vlan = pool.VLAN[str(pif.VLAN_master_of)];
      const parentRef = str(vlan?.tagged_PIF);
      const tag = int(vlan?.tag, int(pif.VLAN, -1));
      if (!vlan || !pool.PIF[parentRef]) { fail(ref, 'VLAN has no tagged PIF'); return null; }
      const parent = realise(parentRef);
      if (!parent) { fail(ref, `parent PIF ${parentRef} could not be realised`); return null; }
      if (parent.tag !== undefined) { fail(ref, 'VLAN on a VLAN is not supported'); return null; }
      if (!isIfName(bridge)) { fail(ref, `invalid bridge name ${JSON.stringify(bridge)}`); return null; }
      if (!Number.isInteger(tag) || tag < 0 || tag > 4094) { fail(ref, `invalid VLAN tag ${JSON.stringify(tag)}`); return null; }
      // A VLAN cannot carry more than its parent's NIC does (§1.12.3).
      const eff = Math.min(mtu, parent.mtu);
      const ok = addPort(port(bridge, parent.bridge, ref, 'fake-bridge',
        [iface(bridge, 'internal', eff, { mac: macOrNull(str(pool.PIF[parentRef].MAC)) })],
        { tag, fake_bridge: true, external_ids: owned({ 'fake-bridge-xs-network-uuids': netUuid }) }));
      return ok ? { bridge: parent.bridge, tag, dev: bridge, mtu: eff } : null;
    }

    const bonds = refs(pif.bond_master_of);
    if (bonds.length > 0) {
      const bond = pool.Bond[bonds[0]];
      const members = myPifs.filter(([, s]) => str(s.bond_slave_of) === bonds[0]).map(([, s]) => str(s.device)).sort();
      if (!bond || members.length === 0) { fail(ref, 'bond has no members'); return null; }
      const badMember = members.find((m) => !isIfName(m));
      if (badMember !== undefined) { fail(ref, `invalid member device name ${JSON.stringify(badMember)}`); return null; }
      if (!ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC))) return null;
      const rejected: string[] = [];
      const cols = members.length > 1 ? bondColumns(bondProperties(str(bond.mode), strMap(bond.properties), strMap(pif.other_config), rejected)) : undefined;
      if (rejected.length) fail(ref, `invalid bond settings ignored: ${rejected.join(', ')}`);
      const ifs = members.map((m) => iface(m, '', mtu, { other_config: { ...(cols?.member_other_config ?? {}) } }));
      const p = port(device, bridge, ref, 'bond', ifs, cols ? {
        bond_mode: cols.bond_mode, lacp: cols.lacp, bond_updelay: cols.bond_updelay, bond_downdelay: cols.bond_downdelay,
        other_config: cols.other_config, mac: macOrNull(str(pif.MAC)),
      } : {});
      if (!addPort(p)) return null;
      cfg.bonds.push({ ref: bonds[0], port: device, members });
      return { bridge, dev: bridge, mtu };
    }

    if (bool(pif.physical)) {
      if (!ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC))) return null;
      if (!addPort(port(device, bridge, ref, 'nic', [iface(device, '', mtu)]))) return null;
      return { bridge, dev: bridge, mtu };
    }
    fail(ref, 'PIF is neither physical, a bond master, a VLAN nor a tunnel access PIF');
    return null;
  };

  const realiseTunnel = (ref: string, pif: Rec, tunnelRef: string, bridge: string, netUuid: string, mtu: number): Realised | null => {
    const tunnel = pool.tunnel[tunnelRef];
    if (!tunnel) { fail(ref, 'tunnel record missing'); return null; }
    const transport = str(tunnel.transport_PIF);
    if (pool.PIF[transport] && !realise(transport)) { fail(ref, `transport PIF ${transport} could not be realised`); return null; }
    if (!ensureBridge(bridge, ref, mtu, netUuid, str(pif.MAC))) return null;
    const netRef = str(pif.network);
    const key = strMap(pool.network[netRef]?.other_config)[TUNNEL_KEY] ?? '';
    const protocol = str(tunnel.protocol) === 'vxlan' ? 'vxlan' : 'gre';
    // No key yet: a host-local network until the controller allocates one.
    if (key === '') return { bridge, dev: bridge, mtu };
    if (parseUint(key, 1, MAX_TUNNEL_KEY) === undefined) { fail(ref, `invalid tunnel key ${JSON.stringify(key)}`); return { bridge, dev: bridge, mtu }; }
    if (!isUuid(netUuid)) { fail(ref, `invalid network uuid ${JSON.stringify(netUuid)}`); return { bridge, dev: bridge, mtu }; }
    const peers = Object.entries(pool.tunnel).flatMap(([, t]) => {
      const access = pool.PIF[str(t.access_PIF)];
      if (!access || str(access.network) !== netRef || str(access.host) === hostRef || !bool(access.currently_attached)) return [];
      const ip = str(pool.PIF[str(t.transport_PIF)]?.IP);
      const remoteHost = str(pool.host[str(access.host)]?.uuid);
      return isIPv4(ip) && isUuid(remoteHost) ? [{ ip, remoteHost }] : [];
    }).sort((a, b) => a.remoteHost.localeCompare(b.remoteHost));
    // A full mesh of three or more hosts is a loop at layer 2: a broadcast entering from one
    // tunnel would be flooded into the others and circulate for ever (no STP on the bridge).
    // Every peer has its own direct tunnel, so nothing needs relaying: tunnel ports are
    // protected (split horizon: NORMAL never forwards from one protected port to another).
    for (const peer of peers) {
      const name = tunnelPortName(peer.remoteHost, netUuid);
      addPort(port(name, bridge, ref, 'tunnel', [iface(name, protocol, null, { options: { remote_ip: peer.ip, key } })],
        { protected: true, external_ids: owned({ 'xcpnet-remote-host': peer.remoteHost, 'xs-network-uuid': netUuid }) }));
    }
    return { bridge, dev: bridge, mtu };
  };

  for (const [ref] of myPifs) {
    if (needed.has(ref) && !slavesOfWantedBonds.has(ref)) realise(ref);
  }

  // IPv4 configuration of attached PIFs, on their bridge device.
  const ipPifs: { ref: string; pif: Rec; dev: string }[] = [];
  for (const [ref, pif] of myPifs) {
    const r = done.get(ref);
    if (!r || !attached.has(ref)) continue;
    const mode = str(pif.ip_configuration_mode);
    const spec: IpSpec = { dev: r.dev, owner: ref, mode: mode === 'Static' ? 'Static' : mode === 'DHCP' ? 'DHCP' : 'None', addrs: [] };
    if (spec.mode === 'Static') {
      const ip = str(pif.IP);
      const prefix = prefixOf(str(pif.netmask));
      if (!isIPv4(ip) || prefix === undefined) { fail(ref, `invalid static IP configuration ${ip}/${str(pif.netmask)}`); continue; }
      spec.addrs = [`${ip}/${prefix}`];
    }
    cfg.ips.push(spec);
    if (spec.mode !== 'None') ipPifs.push({ ref, pif, dev: r.dev });
  }
  // Gateway and DNS: other_config defaultroute/peerdns, else the management PIF, else the first (§1.6).
  const pick = (flag: string) => ipPifs.find((x) => strMap(x.pif.other_config)[flag] === 'true')
    ?? ipPifs.find((x) => bool(x.pif.management)) ?? ipPifs[0];
  const gw = pick('defaultroute');
  if (gw && str(gw.pif.ip_configuration_mode) === 'Static' && isIPv4(str(gw.pif.gateway))) {
    cfg.gateway = { dev: gw.dev, via: str(gw.pif.gateway), owner: gw.ref };
  }
  // A DHCP PIF's gateway and DNS come from its lease (the agent fills them in, see leases.ts).
  if (gw && str(gw.pif.ip_configuration_mode) === 'DHCP') cfg.dhcpGateway = { dev: gw.dev, owner: gw.ref };
  const dns = pick('peerdns');
  const split = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const domains = (pif: Rec) => split(strMap(pif.other_config).domain ?? '').filter(isDnsName);
  if (dns && str(dns.pif.ip_configuration_mode) === 'Static') {
    cfg.dns = {
      servers: split(str(dns.pif.DNS)).filter((x) => isIPv4(x) || isIPv6(x)),
      search: domains(dns.pif), owner: dns.ref,
    };
  }
  if (dns && str(dns.pif.ip_configuration_mode) === 'DHCP') cfg.dhcpDns = { dev: dns.dev, owner: dns.ref, search: domains(dns.pif) };

  // Guests: running VMs resident here, and their wanted interfaces. The control domain is the
  // host itself, never a guest to create.
  for (const [ref, vm] of Object.entries(pool.VM).sort(([a], [b]) => a.localeCompare(b))) {
    if (vm.is_control_domain === true) continue;
    if (str(vm.power_state) === 'Running' && str(vm.resident_on) === hostRef && int(vm.domid, -1) >= 0) {
      // The uuid names the guest's namespace: a path component.
      if (!isUuid(str(vm.uuid))) { fail(ref, `invalid VM uuid ${JSON.stringify(vm.uuid)}`); continue; }
      cfg.vms.push({ ref, uuid: str(vm.uuid), domid: int(vm.domid, -1) });
    }
  }
  for (const [ref, vif] of wantedVifs) {
    const vm = pool.VM[str(vif.VM)];
    const netRef = str(vif.network);
    const net = pool.network[netRef];
    const domid = int(vm.domid, -1);
    const device = int(vif.device, -1);
    if (!net) { fail(ref, 'VIF has no network'); continue; }
    if (domid < 0 || device < 0) { fail(ref, `VM has no domid or VIF no device (domid ${domid}, device ${device})`); continue; }
    // Checked again here: these values become interface names, OVS rows, veth addresses, flows.
    const mac = str(vif.MAC).toLowerCase();
    const ids = { VIF: str(vif.uuid), VM: str(vm.uuid), network: str(net.uuid) };
    const badId = Object.entries(ids).find(([, u]) => !isUuid(u));
    if (badId) { fail(ref, `invalid ${badId[0]} uuid ${JSON.stringify(badId[1])}`); continue; }
    if (!isMac(mac)) { fail(ref, `invalid MAC ${JSON.stringify(vif.MAC)}`); continue; }
    if (!isIfName(vifDevName(domid, device))) { fail(ref, `interface name ${vifDevName(domid, device)} is too long`); continue; }
    const v4 = allowedEntries(vif.ipv4_allowed, 4);
    const v6 = allowedEntries(vif.ipv6_allowed, 6);
    const bad = [...v4.bad, ...v6.bad];
    // Left out, which only narrows what a locked VIF may send.
    if (bad.length) fail(ref, `invalid allowed addresses ignored: ${bad.map((x) => JSON.stringify(x)).join(', ')}`);
    const badMtu = mtuProblem(vif, net);
    if (badMtu) fail(ref, badMtu);
    const spec: VifSpec = {
      ref, uuid: str(vif.uuid), vmRef: str(vif.VM), vmUuid: str(vm.uuid), networkUuid: str(net.uuid), domid, device,
      mac, mtu: effectiveMtu(vif, net),
      locking: effectiveLocking(vif, net),
      ipv4_allowed: v4.ok,
      ipv6_allowed: v6.ok,
      hostDev: vifDevName(domid, device),
    };
    cfg.vifs.push(spec);
    const pifRef = pifOnNet(netRef);
    let where: Realised | null | undefined;
    if (pifRef) {
      where = done.get(pifRef);
      if (!where) { fail(ref, `PIF ${pifRef} of network ${str(net.uuid)} is not realised on this host`); continue; }
    } else {
      if (!ensureBridge(str(net.bridge), ref, spec.mtu, str(net.uuid), '')) { fail(ref, `bridge ${str(net.bridge)} could not be created`); continue; }
      where = { bridge: str(net.bridge), dev: str(net.bridge), mtu: spec.mtu };
    }
    spec.bridge = where.bridge;
    if (where.tag !== undefined) spec.tag = where.tag;
    if (spec.locking === 'disabled') continue; // never bridged (§2.3)
    addPort(port(spec.hostDev, where.bridge, ref, 'vif', [iface(spec.hostDev, '', spec.mtu, {
      external_ids: owned({ 'xs-vif-uuid': spec.uuid, 'xs-network-uuid': spec.networkUuid, 'xs-vm-uuid': spec.vmUuid, 'attached-mac': spec.mac }),
    })], {
      tag: where.tag ?? null,
      external_ids: owned(spec.locking === 'locked'
        ? { 'xcpnet-locking': 'locked', 'xcpnet-ipv4-allowed': spec.ipv4_allowed.join(','), 'xcpnet-ipv6-allowed': spec.ipv6_allowed.join(',') }
        : { 'xcpnet-locking': spec.locking }),
    }));
  }
  return cfg;
}
