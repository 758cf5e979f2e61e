// The Linux-bridge driver's view of a host: the kernel's links as `ip -json -details` shows them,
// and the operations (each one iproute2 command) that turn what is into what the document asks.
// Plain data and pure functions, no I/O.
import type { BondMode, HostState, ObservedBridge, StrMap } from '../contract.js';

/** The marker (ifalias) on every device the driver creates; devices without it are foreign. */
export const markerOf = (host: string): string => `xcpnet:${host}`;

/** A kernel link, with what the driver compares. */
export interface KLink {
  name: string;
  /** linkinfo kind: bridge, bond, vlan, vxlan, gretap, veth…; undefined for plain NICs. */
  kind?: string;
  master?: string;
  /** Administratively up (UP flag). */
  up: boolean;
  /** Carrier (LOWER_UP flag). */
  carrier: boolean;
  mtu: number;
  mac: string;
  alias: string;
  /** IPv4 global addresses, CIDR. */
  addrs: string[];
  /** Lower device of a VLAN (`link`). */
  lower?: string;
  /** VLAN id, VXLAN VNI or GRE key. */
  id?: number;
  /** Tunnel remote address. */
  remote?: string;
  /** Bond mode as the kernel names it. */
  bondMode?: string;
  /** For a bond: the member the bonding driver sends through now (active-backup). */
  bondActive?: string;
  /** A bridge port that is isolated (split horizon). */
  isolated?: boolean;
  /** A bridge's multicast (IGMP/MLD) snooping. */
  mcastSnooping?: boolean;
}

export interface KernelState {
  links: Map<string, KLink>;
  defaultRoute?: { dev: string; via: string };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * A GRE key as iproute2's JSON gives it: a dotted quad ("0.0.0.77", the 32-bit key in network
 * order, as `ip link` prints it), or a number.
 */
export function greKey(v: unknown): number | undefined {
  if (typeof v !== 'string') return num(v);
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]! : undefined;
}

/** Pure: one record of `ip -json -details addr show` → KLink. Frozen: the kernel watch shares it between looks. */
export function parseKLink(l: Record<string, unknown>): KLink {
  const info = (l.linkinfo ?? {}) as { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
  const data = info.info_data ?? {};
  const flags = (l.flags as string[] | undefined) ?? [];
  const ai = (l.addr_info as { family: string; local: string; prefixlen: number; scope: string }[] | undefined) ?? [];
  const link: KLink = {
    name: String(l.ifname), up: flags.includes('UP'), carrier: flags.includes('LOWER_UP'), mtu: Number(l.mtu),
    mac: String(l.address ?? '').toLowerCase(), alias: typeof l.ifalias === 'string' ? l.ifalias : '',
    addrs: ai.filter((a) => a.family === 'inet' && a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
  };
  if (info.info_kind) link.kind = info.info_kind;
  if (typeof l.master === 'string') link.master = l.master;
  if (typeof l.link === 'string') link.lower = l.link;
  const id = num(data.id) ?? greKey(data.ikey) ?? greKey(data.okey);
  if (id !== undefined) link.id = id;
  const remote = data.remote ?? data.remote6;
  if (typeof remote === 'string') link.remote = remote;
  if (typeof data.mode === 'string' && info.info_kind === 'bond') link.bondMode = data.mode;
  if (typeof data.active_slave === 'string' && info.info_kind === 'bond') link.bondActive = data.active_slave;
  if (typeof info.info_slave_data?.isolated === 'boolean') link.isolated = info.info_slave_data.isolated;
  if (info.info_kind === 'bridge' && num(data.mcast_snooping) !== undefined) link.mcastSnooping = data.mcast_snooping === 1;
  Object.freeze(link.addrs);
  return Object.freeze(link);
}

/**
 * Pure: the links the operations may have changed, so the next look reads them again: each
 * operation's own, a new master (whose MTU follows its ports) or lower device, and what leaves
 * a removed or released master (its ports, the old master).
 */
export function linksTouched(ops: Op[], k: KernelState): string[] {
  const portsOf = (master: string) => [...k.links.values()].filter((l) => l.master === master).map((l) => l.name);
  return ops.flatMap((o): string[] => {
    switch (o.op) {
      case 'master': return [o.name, o.master, ...(k.links.get(o.name)?.master !== undefined ? [k.links.get(o.name)!.master!] : [])];
      case 'nomaster': return [o.name, ...(k.links.get(o.name)?.master !== undefined ? [k.links.get(o.name)!.master!] : [])];
      case 'del': return [o.name, ...portsOf(o.name)];
      case 'add-vlan': return [o.name, o.lower];
      case 'move-l3': return [o.name, o.to];
      default: return [o.name];
    }
  });
}

/** The kernel bonding driver's settings for a bond's property list (XenServer's bridge backend). */
export interface BondSettings { mode: string; miimon: number; updelay: number; downdelay: number; xmitHashPolicy?: string; lacpRate?: 'fast' | 'slow' }

const uintOr = (v: string | undefined, d: number): number => (v !== undefined && /^\d+$/.test(v) ? Number(v) : d);

/**
 * Pure. lacp → 802.3ad, as xcp-networkd's bridge backend does; active-backup as is; balance-slb
 * is a mode of XenServer's own kernel, not of mainline Linux: balance-tlb is the mainline mode
 * that, like it, balances what leaves by source and needs nothing from the switch.
 */
export function bondSettings(props: StrMap): BondSettings {
  const mode = props.mode === 'lacp' ? '802.3ad' : props.mode === 'active-backup' ? 'active-backup' : 'balance-tlb';
  const miimon = uintOr(props.miimon, 100);
  // The bonding driver wants delays that are multiples of miimon.
  const round = (x: number) => (miimon > 0 ? Math.round(x / miimon) * miimon : 0);
  const s: BondSettings = { mode, miimon, updelay: round(uintOr(props.updelay, 31000)), downdelay: round(uintOr(props.downdelay, 200)) };
  if (mode === '802.3ad') {
    s.xmitHashPolicy = props['hashing-algorithm'] === 'src_mac' ? 'layer2' : 'layer3+4';
    s.lacpRate = props['lacp-time'] === 'fast' ? 'fast' : 'slow';
  }
  return s;
}

export function bondModeOf(kernelMode: string | undefined): BondMode {
  return kernelMode === '802.3ad' ? 'lacp' : kernelMode === 'active-backup' ? 'active-backup' : 'balance-slb';
}

/** One change, each one iproute2 command (bridge/cmd.ts turns it into checked argv). */
export type Op =
  | { op: 'add-bridge'; name: string }
  | ({ op: 'add-bond'; name: string } & BondSettings)
  | { op: 'add-vlan'; name: string; lower: string; tag: number }
  | { op: 'add-tunnel'; name: string; protocol: 'vxlan' | 'gre'; key: number; remote: string }
  | { op: 'del'; name: string }
  | { op: 'mark'; name: string; alias: string }
  | { op: 'mtu'; name: string; mtu: number }
  | { op: 'mac'; name: string; mac: string }
  | { op: 'master'; name: string; master: string }
  | { op: 'nomaster'; name: string }
  | { op: 'down'; name: string }
  | { op: 'up'; name: string }
  | { op: 'isolated'; name: string; on: boolean }
  | { op: 'mcast-snooping'; name: string; on: boolean }
  | { op: 'addr-add'; name: string; cidr: string }
  | { op: 'addr-del'; name: string; cidr: string }
  | { op: 'route-default'; name: string; via: string }
  /** What the NIC `from` holds (addresses, routes, neighbours) moves to `to` in one step (linux/l3.ts). */
  | { op: 'move-l3'; name: string; to: string };

export type OwnedOp = Op & { owner: string };

export function describeOp(o: Op): string {
  switch (o.op) {
    case 'add-bridge': return `create bridge ${o.name}`;
    case 'add-bond': return `create bond ${o.name} (${o.mode})`;
    case 'add-vlan': return `create VLAN device ${o.name} (${o.lower} tag ${o.tag})`;
    case 'add-tunnel': return `create ${o.protocol} device ${o.name} to ${o.remote} key ${o.key}`;
    case 'del': return `remove ${o.name}`;
    case 'mark': return `mark ${o.name}`;
    case 'mtu': return `set ${o.name} mtu ${o.mtu}`;
    case 'mac': return `set ${o.name} address ${o.mac}`;
    case 'master': return `add ${o.name} to ${o.master}`;
    case 'nomaster': return `take ${o.name} off its bridge`;
    case 'down': return `set ${o.name} down`;
    case 'up': return `set ${o.name} up`;
    case 'isolated': return `set ${o.name} isolated ${o.on ? 'on' : 'off'}`;
    case 'mcast-snooping': return `turn IGMP snooping ${o.on ? 'on' : 'off'} on ${o.name}`;
    case 'addr-add': return `add ${o.cidr} to ${o.name}`;
    case 'addr-del': return `remove ${o.cidr} from ${o.name}`;
    case 'route-default': return `default route via ${o.via} dev ${o.name}`;
    case 'move-l3': return `move the addresses and routes of ${o.name} to ${o.to}`;
  }
}

/** `brctl show`'s bridge id: priority 8000 and the bridge's MAC. */
export const bridgeId = (mac: string): string => `8000.${mac.replace(/:/g, '')}`;

const isVifName = (n: string) => /^vif\d+\.\d+$/.test(n);

/** Pure: the kernel's bridges in the contract's terms. */
export function hostState(host: string, k: KernelState): HostState {
  const links = [...k.links.values()];
  const on = (master: string) => links.filter((l) => l.master === master).sort((a, b) => a.name.localeCompare(b.name));
  const bridges: ObservedBridge[] = [];
  for (const b of links.filter((l) => l.kind === 'bridge')) {
    const ports = on(b.name);
    const ob: ObservedBridge = {
      name: b.name, id: bridgeId(b.mac), ours: b.alias === markerOf(host), mtu: b.mtu, mac: b.mac, up: b.up, addrs: [...b.addrs],
      tunnels: [], vifs: [], interfaces: [],
    };
    for (const p of ports) {
      if (p.kind === 'vlan' && p.lower !== undefined && p.id !== undefined) {
        // The parent is the bridge whose uplink (a NIC or a bond) carries the VLAN device.
        const lower = k.links.get(p.lower);
        if (lower?.master) ob.vlan = { parent: lower.master, tag: p.id };
      } else if (p.kind === 'bond') {
        const members = on(p.name).map((m) => ({ name: m.name, up: m.carrier }));
        const active = members.find((m) => m.name === p.bondActive)?.name;
        ob.uplink = { kind: 'bond', device: p.name, mode: bondModeOf(p.bondMode), members, ...(active !== undefined ? { active } : {}) };
      } else if (p.kind === 'vxlan' || p.kind === 'gretap') {
        ob.tunnels.push({ name: p.name, protocol: p.kind === 'vxlan' ? 'vxlan' : 'gre', remote: p.remote ?? '', key: p.id ?? 0 });
      } else if (isVifName(p.name)) {
        ob.vifs.push(p.name);
      } else if (!ob.uplink) {
        ob.uplink = { kind: 'nic', device: p.name, members: [] };
      }
    }
    // Uplink (or VLAN device) first, then the rest, as brctl lists a XenServer bridge.
    const first = ports.filter((p) => p.name === ob.uplink?.device || p.kind === 'vlan');
    ob.interfaces = [...first, ...ports.filter((p) => !first.includes(p))].map((p) => p.name);
    bridges.push(ob);
  }
  bridges.sort((a, b) => a.name.localeCompare(b.name));
  return { bridges, ...(k.defaultRoute ? { defaultRoute: { ...k.defaultRoute } } : {}) };
}
