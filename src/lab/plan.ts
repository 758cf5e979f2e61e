// The lab plan: every name, cable and address of a lab, computed from {name, hosts, nics}
// without any I/O. The rest of src/lab only realises what this file decides.
import { createHash } from 'node:crypto';

/** The lab switch: its Open vSwitch bridge, in a namespace of its own. */
export const SWITCH_BRIDGE = 'sw0';
export const switchNs = (prefix: string): string => `${prefix}sw`;

export interface LabOptions {
  name: string;
  hosts: number;
  nics: number;
}

/** A subnet of the lab. Documentation ranges only (RFC 5737): they never leave the lab. */
export interface Subnet {
  /** 802.1Q VLAN on the switch; 1 is the trunks' native (untagged) VLAN. */
  vlan: number;
  cidr: string;
  prefixLen: number;
  /** The upstream gateway's address on this subnet. */
  gateway: string;
}

/** A host-facing or upstream-facing switch port: an 802.1Q trunk with native VLAN 1. */
export interface SwitchPort {
  /** Switch-side veth end, also the OVS port name on `sw0`. */
  port: string;
  /** Where the other end of the cable is. */
  peerNs: string;
  peerDevice: string;
  /** OVS Port columns: native-untagged with tag 1, `trunks` empty = every VLAN. */
  vlanMode: 'native-untagged';
  tag: number;
}

export interface NicPlan {
  device: string;
  /** Name the host end has while it is created, before being renamed to `device`. */
  tmpName: string;
  cable: SwitchPort;
}

export interface HostPlan {
  index: number;
  name: string;
  ns: string;
  mgmtIp: string;
  nics: NicPlan[];
}

export interface UpstreamPlan {
  ns: string;
  /** Upstream's trunk device (its OVS bridge uplink) and its bridge. */
  uplink: string;
  tmpName: string;
  bridge: string;
  cable: SwitchPort;
  /** One interface per subnet: the bridge's own port for VLAN 1, internal ports for the others. */
  ifaces: { device: string; vlan: number; address: string; prefixLen: number }[];
}

export interface LabPlan {
  name: string;
  prefix: string;
  switch: { ns: string; bridge: string };
  upstream: UpstreamPlan;
  hosts: HostPlan[];
  subnets: { mgmt: Subnet; vlan10: Subnet; vlan20: Subnet };
}

export const MAX_HOSTS = 99;
export const MAX_NICS = 99;
const IFNAMSIZ = 15;

export const SUBNETS = {
  mgmt: { vlan: 1, cidr: '192.0.2.0/24', prefixLen: 24, gateway: '192.0.2.1' },
  vlan10: { vlan: 10, cidr: '198.51.100.0/24', prefixLen: 24, gateway: '198.51.100.1' },
  vlan20: { vlan: 20, cidr: '203.0.113.0/24', prefixLen: 24, gateway: '203.0.113.1' },
} as const satisfies Record<string, Subnet>;

/** Lab names: short lowercase words, so that they can appear in file names and prefixes. */
export function assertLabName(name: string): void {
  if (!/^[a-z][a-z0-9]{0,31}$/.test(name)) {
    throw new Error(`lab name must be 1-32 lowercase letters or digits, starting with a letter: ${JSON.stringify(name)}`);
  }
}

/**
 * The lab's unique prefix, carried by every namespace, link and process it makes.
 * `xl<name>-` when short enough for interface names (`<prefix>h99e99x` must fit in 15
 * characters); longer names use `xl<digit><4 chars>-` from a hash of the name.
 */
export function labPrefix(name: string): string {
  assertLabName(name);
  if (name.length <= 5) return `xl${name}-`;
  // A digit first: short names start with a letter, so the two kinds never collide.
  const n = BigInt('0x' + createHash('sha256').update(name).digest('hex').slice(0, 12));
  return `xl${n % 10n}${(n / 10n).toString(36).padStart(4, '0').slice(-4)}-`;
}

export function hostName(index: number): string {
  return `host${index}`;
}

/** `host3` → 3; undefined for anything else. */
export function parseHostName(name: string): number | undefined {
  const m = /^host([1-9][0-9]?)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function hostNs(prefix: string, index: number): string {
  return `${prefix}host${index}`;
}

/** Management address of host i on the native VLAN: 192.0.2.(10+i). */
export function hostMgmtIp(index: number): string {
  return `192.0.2.${10 + index}`;
}

/** The cable of NIC `eth<nic>` of host `host<index>`. */
export function nicPlan(prefix: string, index: number, nic: number): NicPlan {
  const port = `${prefix}h${index}e${nic}`;
  const plan: NicPlan = {
    device: `eth${nic}`,
    tmpName: `${port}x`,
    cable: { port, peerNs: hostNs(prefix, index), peerDevice: `eth${nic}`, vlanMode: 'native-untagged', tag: 1 },
  };
  for (const n of [plan.tmpName, port]) assertIfName(n);
  return plan;
}

export function assertIfName(name: string): void {
  if (name.length > IFNAMSIZ) throw new Error(`interface name too long (>${IFNAMSIZ}): ${name}`);
}

export function compileLabPlan(opts: LabOptions): LabPlan {
  const prefix = labPrefix(opts.name);
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new Error(`--hosts must be an integer in 1..${MAX_HOSTS}`);
  }
  if (!Number.isInteger(opts.nics) || opts.nics < 1 || opts.nics > MAX_NICS) {
    throw new Error(`--nics must be an integer in 1..${MAX_NICS}`);
  }
  const hosts: HostPlan[] = [];
  for (let i = 1; i <= opts.hosts; i++) {
    const nics: NicPlan[] = [];
    for (let j = 0; j < opts.nics; j++) nics.push(nicPlan(prefix, i, j));
    hosts.push({ index: i, name: hostName(i), ns: hostNs(prefix, i), mgmtIp: hostMgmtIp(i), nics });
  }
  const upNs = `${prefix}up`;
  const upstream: UpstreamPlan = {
    ns: upNs,
    uplink: 'eth0',
    tmpName: `${prefix}upx`,
    bridge: 'up0',
    cable: { port: `${prefix}up`, peerNs: upNs, peerDevice: 'eth0', vlanMode: 'native-untagged', tag: 1 },
    ifaces: [
      { device: 'up0', vlan: 1, address: SUBNETS.mgmt.gateway, prefixLen: 24 },
      { device: 'vlan10', vlan: 10, address: SUBNETS.vlan10.gateway, prefixLen: 24 },
      { device: 'vlan20', vlan: 20, address: SUBNETS.vlan20.gateway, prefixLen: 24 },
    ],
  };
  return {
    name: opts.name,
    prefix,
    switch: { ns: switchNs(prefix), bridge: SWITCH_BRIDGE },
    upstream,
    hosts,
    subnets: SUBNETS,
  };
}

/** Every switch port of the plan (upstream first, then hosts in order). */
export function switchPorts(plan: LabPlan): SwitchPort[] {
  return [plan.upstream.cable, ...plan.hosts.flatMap((h) => h.nics.map((n) => n.cable))];
}

/** The OVS Port settings of a switch port: a trunk of every VLAN whose native VLAN goes untagged. */
export function switchPortColumns(p: SwitchPort): string[] {
  return [`vlan_mode=${p.vlanMode}`, `tag=${p.tag}`];
}

/** True when a name belongs to the lab with this prefix (namespaces, links). */
export function hasLabPrefix(prefix: string, name: string): boolean {
  return name.startsWith(prefix);
}
