// The contract between the agent core and the drivers that realise a host (Open vSwitch, Linux
// bridge, the in-memory fake): a backend-neutral host document in (what the host should be, in
// the spirit of xcp-networkd's own config), a backend-neutral picture of the host out. Each
// driver turns the document into its own plan, applies it, and observes in these terms. The
// agent knows no driver; drivers know no record, no agent and no master. Types only.
import type { BackendName, Nic } from '../protocol/host-agent.js';

export type { BackendName, Nic } from '../protocol/host-agent.js';

export type StrMap = Record<string, string>;

/** xapi's bond modes; each driver maps them (OVS bond_mode/lacp, the bonding driver's modes). */
export type BondMode = 'balance-slb' | 'active-backup' | 'lacp';

/** A bridge's way out: one NIC, or a bond of NICs. */
export type Uplink =
  | { kind: 'nic'; device: string }
  | {
    kind: 'bond';
    /** The bond's own name (`bond0`…), the bond master PIF's device. */
    device: string;
    /** Member NICs, sorted. */
    members: string[];
    mode: BondMode;
    /**
     * xcp-networkd's bond property list (mode, miimon, updelay, downdelay, use_carrier,
     * hashing-algorithm, lacp-*, rebalance-interval…), already checked by the compiler.
     */
    properties: StrMap;
    /** The MAC the bond takes (the master PIF's), when it has one. */
    mac: string | null;
  };

/** A tunnel to one remote host, carrying one network (a cross-server private network). */
export interface Tunnel {
  /** Device/port name: stable per network and peer, at most 15 characters. */
  name: string;
  protocol: 'gre' | 'vxlan';
  /** The peer's transport address (IPv4). */
  remote: string;
  /** The network's key (GRE key / VXLAN VNI), 1..2^24-1. */
  key: number;
  /** The remote host's uuid. */
  remoteHost: string;
}

/**
 * A bridge the host should have: one per network realised here. A bridge with `vlan` carries
 * the traffic of its parent bridge's uplink tagged `tag` (OVS: a fake bridge; Linux: a bridge
 * holding the VLAN device `<uplink>.<tag>`); a bridge with neither uplink nor vlan is internal
 * (single-server private) or a tunnel bridge.
 */
export interface HostBridge {
  name: string;
  /** XenAPI ref the bridge's errors are reported against (its PIF, or the first VIF). */
  owner: string;
  networkUuid: string;
  mtu: number;
  /** MAC of the bridge device (its uplink PIF's), null to let the driver choose. */
  mac: string | null;
  uplink?: Uplink;
  vlan?: { parent: string; tag: number };
  tunnels: Tunnel[];
  /** OVN's integration bridge (`br-int`): its flows are ovn-controller's (fail_mode secure). */
  integration?: boolean;
  /**
   * IGMP snooping (pool.igmp_snooping_enabled, as the bridge's PIF recorded it at its last plug):
   * OVS mcast_snooping_enable, the Linux bridge's mcast_snooping. Absent: off.
   */
  igmpSnooping?: boolean;
}

/**
 * This host as an OVN chassis (pools whose other_config:xcpnet-sdn is ovn): the Open_vSwitch
 * external_ids ovn-controller reads, and whether it should run.
 */
export interface OvnChassis {
  /** system-id: the host's uuid. */
  systemId: string;
  /** ovn-remote: the master's southbound database. */
  remote: string;
  /** ovn-encap-type: from the tunnels' protocols (vxlan → vxlan, gre → geneve). */
  encapTypes: ('geneve' | 'vxlan')[];
  /** ovn-encap-ip: the tunnels' transport PIF address. */
  encapIp: string;
  /** ovn-bridge: the integration bridge, one of the document's bridges. */
  bridge: string;
  /** The pool CA's SHA-256 fingerprint, when the master has published it: a certificate of another CA is renewed. */
  caFingerprint?: string;
}

/**
 * This host as a member of the pool's OVN database cluster (pool.other_config:xcpnet-ovn-cluster),
 * other than the master, which runs its own: its northbound and southbound ovsdb-server.
 */
export interface OvnDbMember {
  /** This member's address (its host's management address). */
  self: string;
  /** The other members' addresses. */
  peers: string[];
  /** The member that makes the cluster (the master); the others join it. */
  creator: boolean;
  /** As OvnChassis.caFingerprint. */
  caFingerprint?: string;
}

export type Locking = 'locked' | 'unlocked' | 'disabled';

/** A guest interface wanted on this host. */
export interface VifPort {
  /** XenAPI ref of the VIF. */
  owner: string;
  /** Host-side device, `vif<domid>.<device>`. */
  name: string;
  /** The bridge of its network (a VLAN bridge for a VLAN network); absent: no bridge here. */
  bridge?: string;
  mac: string;
  mtu: number;
  /** disabled: never attached to a bridge; locked: only the allowed addresses from its MAC pass. */
  locking: Locking;
  ipv4_allowed: string[];
  ipv6_allowed: string[];
  vifUuid: string;
  vmUuid: string;
  networkUuid: string;
  vmDomid: number;
  device: number;
  /** On an OVN network: external_ids:iface-id, the logical port (the VIF's uuid). */
  ifaceId?: string;
  /**
   * The port was made by the hypervisor's own tooling (libvirt's openvswitch virtualport,
   * xenopsd's vif script) and carries this VIF's uuid as external_ids:iface-id or
   * :xs-vif-uuid: the driver takes it over instead of refusing a foreign port of that name.
   */
  adopt?: boolean;
  /**
   * The VM's domain is paused: the port stays, its host-side device is held down, so no frame
   * passes either way (nothing in the guest runs to serve its interface).
   */
  paused?: boolean;
}

export type IpMode = 'None' | 'DHCP' | 'Static';

/** IPv4 configuration of a bridge device (addresses live on bridges, never on an uplink). */
export interface HostAddress {
  dev: string;
  owner: string;
  mode: IpMode;
  /** CIDR strings; only for Static. */
  addrs: string[];
}

/** The whole desired network configuration of one host. Compiled purely from the records. */
export interface HostDoc {
  /** This host's uuid (drivers mark what they make with it). */
  host: string;
  /** Bridges, parents before the VLAN bridges on them. */
  bridges: HostBridge[];
  vifs: VifPort[];
  addresses: HostAddress[];
  gateway?: { dev: string; via: string; owner: string };
  dns?: { servers: string[]; search: string[]; owner: string };
  /** Set when the host is an OVN chassis. */
  ovn?: OvnChassis;
  /** Set when the host is a (non-master) member of the pool's OVN database cluster. */
  ovnDb?: OvnDbMember;
  /** The PIF whose DHCP lease gives the default route / DNS (then `gateway`/`dns` come from it). */
  dhcpGateway?: { dev: string; owner: string };
  dhcpDns?: { dev: string; owner: string; search: string[] };
}

// ---- what a driver observes ----

export interface ObservedUplink {
  kind: 'nic' | 'bond';
  device: string;
  /** For a bond: its members and whether each is up (Bond.links_up). */
  members: { name: string; up: boolean }[];
  /** For a bond: its mode, in xapi's terms. */
  mode?: BondMode;
  /** For an active-backup bond: the member carrying the traffic now (absent when none is). */
  active?: string;
}

/** One bridge as the host has it, in the same terms as HostBridge. */
export interface ObservedBridge {
  name: string;
  /** A stable identity (OVS row uuid, or `8000.<mac>` as brctl prints it). */
  id: string;
  /** Whether this driver made it (and so manages it). */
  ours: boolean;
  /** The bridge device: absent when the kernel has none (yet). */
  mtu: number | null;
  mac: string | null;
  up: boolean;
  /** IPv4 global addresses on the bridge device, CIDR. */
  addrs: string[];
  uplink?: ObservedUplink;
  vlan?: { parent: string; tag: number };
  tunnels: { name: string; protocol: string; remote: string; key: number }[];
  /** Guest ports (vif…) on it. */
  vifs: string[];
  /** IGMP snooping, where the driver reports it. */
  igmpSnooping?: boolean;
  /** Every interface on it, in the layout of `brctl show` (uplink or VLAN device first). */
  interfaces: string[];
}

/** A port the driver did not make that names a guest interface (external_ids iface-id / xs-vif-uuid). */
export interface ForeignGuestPort {
  name: string;
  bridge: string;
  /** The VIF uuid it names. */
  vifUuid: string;
}

export interface HostState {
  bridges: ObservedBridge[];
  defaultRoute?: { dev: string; via: string };
  /** Ports made by others that carry a VIF's uuid (OVS only): candidates for adoption. */
  foreignGuestPorts?: ForeignGuestPort[];
}

export interface RealiseResult {
  /** What was changed, one line each, naming the objects (logs, tests). Empty for a no-op. */
  changes: string[];
  /** Objects that could not be realised: ref → message. */
  errors: StrMap;
  /** Write operations performed (OVSDB transactions, commands run): 0 for a no-op. */
  writes: number;
  /** The host as observed after applying. */
  state: HostState;
}

/** A driver: makes a host match a document, and says what the host is. */
export interface HostDriver {
  readonly kind: BackendName;
  /** Plans against what it observes, applies, and observes again. Changes nothing it did not make. */
  realise(doc: HostDoc): Promise<RealiseResult>;
  observe(): Promise<HostState>;
  /** The host's physical NICs (inventory, PIF_metrics). */
  nics(): Promise<Nic[]>;
  /** Called when the host changes under the driver (drift); returns an unsubscribe. */
  onChange(cb: () => void): () => void;
  /**
   * Kernel links just made, changed or removed on the driver's behalf (a guest's interfaces):
   * its next look reads them afresh instead of waiting for the kernel's notification.
   */
  markKernelDirty?(names: Iterable<string>): void;
  close(): Promise<void>;
}

// ---- guests ----

/** A VM's interface as the guest driver plumbs it. */
export interface GuestVif {
  device: number;
  mac: string;
  mtu: number;
  /** `vif<domid>.<device>`, the host-side interface. */
  hostDev: string;
}

export interface GuestVm {
  uuid: string;
  domid: number;
}

/**
 * Whatever owns VMs' interfaces on a host (netns in the lab, in-memory in the simulator).
 * VMs are identified by a driver key derived from the VM uuid, so that state found after a
 * restart (e.g. a namespace name) can be matched without the driver remembering anything.
 */
export interface GuestDriver {
  keyOf(vmUuid: string): string;
  startVm(vm: GuestVm, vifs: GuestVif[]): Promise<void>;
  plugVif(vm: GuestVm, vif: GuestVif): Promise<void>;
  unplugVif(key: string, vif: Pick<GuestVif, 'device' | 'hostDev'>): Promise<void>;
  stopVm(key: string): Promise<void>;
  /** Running VMs the driver finds: key → domid and plugged devices. */
  list(): Promise<Map<string, { domid: number; devices: number[] }>>;
  /** The global addresses a guest has on each of its interfaces (by VIF device), when the driver can see them. */
  addresses?(key: string): Promise<GuestAddresses[]>;
}

export interface GuestAddresses { device: number; v4: string[]; v6: string[] }

/**
 * Pure: a host state's bridges in the layout of `brctl show` (the report's `bridges`); the id is
 * brctl's (priority 8000 and the bridge's MAC) when the bridge has a device.
 */
export function bridgeListings(s: HostState): { name: string; id: string; stp: boolean; interfaces: string[] }[] {
  const id = (b: ObservedBridge) => (b.mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(b.mac) ? `8000.${b.mac.replace(/:/g, '')}` : b.id);
  return s.bridges.map((b) => ({ name: b.name, id: id(b), stp: false, interfaces: [...b.interfaces] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Asks the master to sign this host's OVN certificate request (PEM); resolves with the
 * certificate, then the pool CA's (PEM): host.sign_ovn_certificate over the host credential.
 */
export type OvnSigner = (csr: string) => Promise<string>;
