// The agent's vocabulary: the desired host config (compiled from records), the observed
// state (from a backend), and the actions that turn one into the other. Plain data, no I/O.
// OVS columns are kept in a neutral, already-decoded form: `null` = optional column unset.

export type StrMap = Record<string, string>;

/** The marker every Bridge/Port/Interface the agent creates carries; rows without it are foreign. */
export const OWNER_KEY = 'xcpnet-owner';

/** The Interface columns the agent manages. */
export interface IfaceRow {
  name: string;
  type: string;                 // '' = system NIC/veth, 'internal', 'vxlan', 'gre'
  options: StrMap;
  mtu_request: number | null;
  mac: string | null;           // only meaningful on internal interfaces
  external_ids: StrMap;
  other_config: StrMap;
}

/** The Port columns the agent manages. */
export interface PortRow {
  name: string;
  tag: number | null;
  fake_bridge: boolean;
  /** Split horizon: NORMAL never forwards between two protected ports (tunnel mesh). */
  protected: boolean;
  bond_mode: string | null;
  lacp: string | null;
  bond_updelay: number;
  bond_downdelay: number;
  mac: string | null;
  other_config: StrMap;
  external_ids: StrMap;
}

/** The Bridge columns the agent manages. */
export interface BridgeRow {
  name: string;
  datapath_type: string;
  fail_mode: string | null;
  other_config: StrMap;
  external_ids: StrMap;
}

export type PortRole = 'bridge' | 'fake-bridge' | 'nic' | 'bond' | 'vif' | 'tunnel';

export interface PortSpec extends PortRow {
  /** The real (parent) bridge the port sits on. */
  bridge: string;
  /** XenAPI ref of the object this port realises; errors are reported against it. */
  owner: string;
  role: PortRole;
  interfaces: IfaceRow[];
}

export interface BridgeSpec extends BridgeRow {
  owner: string;
}

export type IpMode = 'None' | 'DHCP' | 'Static';

/** IPv4 configuration of a bridge device (addresses live on the bridge, never on the uplink). */
export interface IpSpec {
  dev: string;
  owner: string;
  mode: IpMode;
  /** CIDR strings: Static's, or the DHCP lease's (filled by the agent from its DHCP client). */
  addrs: string[];
}

export type Locking = 'locked' | 'unlocked' | 'disabled';

/** A guest interface wanted on this host. */
export interface VifSpec {
  ref: string;
  uuid: string;
  vmRef: string;
  vmUuid: string;
  networkUuid: string;
  domid: number;
  device: number;
  mac: string;
  mtu: number;
  locking: Locking;
  ipv4_allowed: string[];
  ipv6_allowed: string[];
  /** `vif<domid>.<device>`. */
  hostDev: string;
  /** Bridge (real) the port goes on and VLAN tag, absent when the network has no bridge here. */
  bridge?: string;
  tag?: number;
}

export interface PifReport {
  ref: string;
  /** The kernel/OVS device whose MTU is the PIF's effective MTU (its bridge or fake bridge). */
  dev: string;
  mtu: number;
}

export interface HostNetConfig {
  hostUuid: string;
  bridges: BridgeSpec[];
  /** Every port the agent owns, including each bridge's own internal port. */
  ports: PortSpec[];
  ips: IpSpec[];
  /** Default route: device and gateway, owned by one PIF. */
  gateway?: { dev: string; via: string; owner: string };
  dns?: { servers: string[]; search: string[]; owner: string };
  /** The PIF whose DHCP lease gives the default route / DNS (then `gateway`/`dns` come from it). */
  dhcpGateway?: { dev: string; owner: string };
  dhcpDns?: { dev: string; owner: string; search: string[] };
  vifs: VifSpec[];
  /** VMs running on this host (guest driver state), with their domid. */
  vms: { ref: string; uuid: string; domid: number }[];
  pifs: PifReport[];
  bonds: { ref: string; port: string; members: string[] }[];
  /** Objects that cannot be realised as recorded (compile-time), ref → message. */
  errors: StrMap;
}

// ---- observed ----

export interface ObsIface extends IfaceRow {
  uuid: string;
  ofport: number | null;
  error: string | null;
  mtu: number | null;
  link_state: string | null;
}

export interface ObsPort extends PortRow {
  uuid: string;
  /** Name of the bridge whose `ports` holds it ('' if none). */
  bridge: string;
  interfaces: ObsIface[];
}

export interface ObsBridge extends BridgeRow {
  uuid: string;
  /** Port names. */
  ports: string[];
}

export interface ObsLink {
  name: string;
  up: boolean;
  mtu: number;
  mac: string;
  /** IPv4 global addresses, CIDR. */
  addrs: string[];
}

export interface ObservedState {
  bridges: Map<string, ObsBridge>;
  ports: Map<string, ObsPort>;
  /** Kernel view of the host namespace (absent links are simply missing). */
  links: Map<string, ObsLink>;
  defaultRoute?: { dev: string; via: string };
}

export function emptyObserved(): ObservedState {
  return { bridges: new Map(), ports: new Map(), links: new Map() };
}

// ---- actions ----

export type Action =
  | { kind: 'add-bridge'; bridge: BridgeSpec; port: PortSpec }
  | { kind: 'update-bridge'; name: string; uuid: string; owner: string; set: Partial<BridgeRow> }
  | { kind: 'del-bridge'; name: string; uuid: string }
  | { kind: 'add-port'; port: PortSpec }
  | { kind: 'update-port'; name: string; uuid: string; owner: string; set: Partial<PortRow> }
  | { kind: 'update-iface'; name: string; uuid: string; owner: string; set: Partial<IfaceRow> }
  | { kind: 'del-port'; name: string; uuid: string; bridge: string }
  | { kind: 'link-up'; dev: string; owner: string }
  | { kind: 'addr-add'; dev: string; cidr: string; owner: string }
  | { kind: 'addr-del'; dev: string; cidr: string; owner: string }
  | { kind: 'route-default'; dev: string; via: string; owner: string }
  /** What NIC `from` holds (addresses, routes, neighbours) moves onto `to`, the bridge taking it over. */
  | { kind: 'move-l3'; from: string; to: string; owner: string };

export type OvsAction = Extract<Action, { kind: 'add-bridge' | 'update-bridge' | 'del-bridge' | 'add-port' | 'update-port' | 'update-iface' | 'del-port' }>;

export function isOvsAction(a: Action): a is OvsAction {
  return a.kind.endsWith('-bridge') || a.kind.endsWith('-port') || a.kind === 'update-iface';
}

/** The object an action's failure is reported against ('' when none). */
export function actionOwner(a: Action): string {
  switch (a.kind) {
    case 'add-bridge': return a.bridge.owner;
    case 'add-port': return a.port.owner;
    case 'del-bridge': case 'del-port': return '';
    default: return a.owner;
  }
}

/** A short human description naming the object, for logs and error messages. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'add-bridge': return `create bridge ${a.bridge.name}`;
    case 'update-bridge': return `update bridge ${a.name} (${Object.keys(a.set).join(',')})`;
    case 'del-bridge': return `remove bridge ${a.name}`;
    case 'add-port': return `add port ${a.port.name} to ${a.port.bridge}`;
    case 'update-port': return `update port ${a.name} (${Object.keys(a.set).join(',')})`;
    case 'update-iface': return `update interface ${a.name} (${Object.keys(a.set).join(',')})`;
    case 'del-port': return `remove port ${a.name} from ${a.bridge}`;
    case 'link-up': return `set ${a.dev} up`;
    case 'addr-add': return `add ${a.cidr} to ${a.dev}`;
    case 'addr-del': return `remove ${a.cidr} from ${a.dev}`;
    case 'route-default': return `default route via ${a.via} dev ${a.dev}`;
    case 'move-l3': return `move the addresses, routes and neighbours of ${a.from} to ${a.to}`;
  }
}

export interface ApplyResult {
  /** Object ref → message, for objects whose realisation failed. */
  errors: StrMap;
  /** OVSDB write transactions performed (0 for an empty plan). */
  transactions: number;
}

/** A NIC as the backend sees it (agent-protocol `nics`). */
export interface NicInfo {
  device: string;
  /** Its stable position (xenbr<position>), from the host's NIC order. */
  position?: number;
  MAC: string;
  MTU: number;
  carrier: boolean;
  speed: number;
  duplex: string;
  vendor_id: string;
  vendor_name: string;
  device_id: string;
  device_name: string;
  pci_bus_path: string;
  driver: string;
}

export interface BridgeInfo {
  name: string;
  id: string;
  stp: boolean;
  interfaces: string[];
}

/**
 * Pure: the bridges as `xcpnet bridges` lists them (report `bridges`): each real bridge with
 * its untagged ports' interfaces, and each fake bridge with the interfaces tagged like it.
 */
export function bridgeInfos(o: Pick<ObservedState, 'bridges' | 'ports'>): BridgeInfo[] {
  const out: BridgeInfo[] = [];
  for (const b of o.bridges.values()) {
    const ps = b.ports.map((n) => o.ports.get(n)).filter((p): p is ObsPort => p !== undefined);
    out.push({ name: b.name, id: b.uuid, stp: false, interfaces: ps.filter((p) => p.tag === null && p.name !== b.name).flatMap((p) => p.interfaces.map((i) => i.name)) });
    for (const f of ps.filter((p) => p.fake_bridge)) {
      out.push({ name: f.name, id: f.uuid, stp: false, interfaces: ps.filter((p) => p.tag === f.tag && !p.fake_bridge).flatMap((p) => p.interfaces.map((i) => i.name)) });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export interface ObserveOptions {
  /**
   * false: the kernel part (links, addresses, routes) of the previous observation may be
   * reused, because nothing done since can have changed it (default true: read it again).
   */
  kernel?: boolean;
}

/** What realises the switch side on a host: OVS+Linux, or the in-memory fake. */
export interface HostBackend {
  readonly kind: 'openvswitch' | 'fake';
  /** '' (kernel) or 'netdev' (userspace); desired bridges are compiled with it. */
  readonly datapathType: string;
  observe(opts?: ObserveOptions): Promise<ObservedState>;
  apply(actions: Action[]): Promise<ApplyResult>;
  nics(): Promise<NicInfo[]>;
  /** Members of a bond port currently enabled. */
  bondLinksUp(port: string, members: string[]): Promise<number>;
  bridges(): Promise<BridgeInfo[]>;
  /**
   * Makes the locking rules of VIF ports match (idempotent; `locked` = only the listed
   * addresses from the VIF's MAC pass, §2.4). Optional: the fake host has no flow table.
   */
  applyLocking?(locked: LockSpec[]): Promise<StrMap>;
  /** Called when the switch state changes under the agent (drift); returns an unsubscribe. */
  onChange(cb: () => void): () => void;
  close(): Promise<void>;
}

/** A locked VIF port: what its guest may send. */
export interface LockSpec {
  owner: string;
  port: string;
  bridge: string;
  mac: string;
  ipv4: string[];
  ipv6: string[];
}

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
}
