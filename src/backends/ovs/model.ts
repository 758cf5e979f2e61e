// The Open vSwitch driver's vocabulary: the rows it wants (compiled from a host document), the
// rows and kernel links it observes, and the actions that turn one into the other. Plain data,
// no I/O. OVS columns are kept already decoded: `null` = optional column unset.
import type { HostAddress, Nic, StrMap } from '../contract.js';
import type { ObsLink } from '../linux/kernel.js';

export type { ObsLink } from '../linux/kernel.js';

export type { StrMap } from '../contract.js';

/** The marker every Bridge/Port/Interface the agent creates carries; rows without it are foreign. */
export const OWNER_KEY = 'xcpnet-owner';

/** Interface external_ids keys by which others name the VIF of a port: libvirt / OVN's, xenopsd's. */
export const GUEST_ID_KEYS = ['iface-id', 'xs-vif-uuid'] as const;

/** The VIF uuid a port's interfaces name (iface-id first), or undefined. */
export function guestIdOf(p: { interfaces: { external_ids: StrMap }[] }): string | undefined {
  for (const k of GUEST_ID_KEYS) for (const i of p.interfaces) { const v = i.external_ids[k]; if (v) return v; }
  return undefined;
}

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
  mcast_snooping_enable: boolean;
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
  /** A paused VM's port: its device is held down (not an OVSDB column). */
  down?: boolean;
}

export interface BridgeSpec extends BridgeRow {
  owner: string;
}

/** The rows one host should have, and its addresses, route and locked ports. */
export interface OvsConfig {
  hostUuid: string;
  bridges: BridgeSpec[];
  /** Every port the driver owns, including each bridge's own internal port. */
  ports: PortSpec[];
  ips: HostAddress[];
  /** Default route: device and gateway, owned by one PIF. */
  gateway?: { dev: string; via: string; owner: string };
  /** VIF ports whose guest may send only from its MAC and addresses. */
  locks: LockSpec[];
  /** Objects that cannot be realised as asked (e.g. a VIF on a VLAN of a missing parent). */
  errors: StrMap;
  /** VIF ports to take over from the hypervisor's tooling: port name → the VIF uuid it must carry. */
  adopt: Map<string, string>;
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
  /** The MAC of the bond member OVS sends through now (active-backup), when there is one. */
  bond_active_slave?: string;
  interfaces: ObsIface[];
}

export interface ObsBridge extends BridgeRow {
  uuid: string;
  /** Port names. */
  ports: string[];
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
  | { kind: 'link-down'; dev: string; owner: string }
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
    case 'link-down': return `set ${a.dev} down`;
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

export interface ObserveOptions {
  /**
   * false: the kernel part (links, addresses, routes) of the previous observation may be
   * reused, because nothing done since can have changed it (default true: read it again).
   */
  kernel?: boolean;
  /**
   * Links the caller needs: one the kernel view does not hold is asked for afresh (it may have
   * been made a moment ago, before the kernel's notification of it arrived).
   */
  expected?: string[];
}

/** What holds the rows and links: OVS + Linux, or the in-memory switch of the tests. */
export interface OvsSwitch {
  /** '' (kernel) or 'netdev' (userspace); desired bridges are compiled with it. */
  readonly datapathType: string;
  observe(opts?: ObserveOptions): Promise<ObservedState>;
  apply(actions: Action[]): Promise<ApplyResult>;
  nics(): Promise<Nic[]>;
  /**
   * Makes the locking rules of VIF ports match (idempotent; `locked` = only the listed
   * addresses from the VIF's MAC pass). Optional: the in-memory switch has no flow table.
   */
  applyLocking?(locked: LockSpec[]): Promise<StrMap>;
  /** Links changed by the caller (or on its behalf): the next observation reads them afresh. Optional: the in-memory switch is always exact. */
  markKernelDirty?(names: Iterable<string>): void;
  /** Called when the switch state changes under the driver (drift); returns an unsubscribe. */
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
