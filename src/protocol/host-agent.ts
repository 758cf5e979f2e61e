// The master ↔ host agent protocol, declared once and imported by both ends (the master never
// imports the agent, nor the agent the master). The agent is a XenAPI client: it follows the
// classes below with event.from and reports with host.report_network_state(host, generation,
// report). Everything here is a type, a constant or a pure check: no I/O.
//
// A field added to a type here is a compile error on the other side until it is handled: the
// agent builds a complete HostReport, the master's checks (REPORT_CHECKS, NIC_CHECKS below) are
// exhaustive records over the keys, and so is the master's mapping of a NIC onto PIF_metrics.

import { isIPv4, isIPv6 } from '../common/net-syntax.js';

/** The classes a host agent follows with event.from; the master waits on writes to these. */
export const AGENT_CLASSES = ['pool', 'host', 'PIF', 'network', 'VIF', 'VM', 'Bond', 'VLAN', 'tunnel'] as const;
export type AgentClass = (typeof AGENT_CLASSES)[number];

/** An agent reports at least this often, changed or not: its heartbeat. */
export const AGENT_HEARTBEAT_MS = 30_000;
/** The master marks a host's host_metrics.live false after this long without a report. */
export const HOST_LIVE_TIMEOUT_MS = 3 * AGENT_HEARTBEAT_MS + 10_000;

/** The hidden extension message an agent reports with. */
export const REPORT_METHOD = 'host.report_network_state';

/** What realises a host's switching (xapi's host.software_version:network_backend), or the simulator. */
export const BACKENDS = ['openvswitch', 'bridge', 'fake'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const DUPLEX = ['full', 'half', 'unknown'] as const;
export type Duplex = (typeof DUPLEX)[number];

/** A physical NIC as the agent observes it (inventory: PIF.scan, PIF.introduce, PIF_metrics). */
export interface Nic {
  device: string;
  /** Its stable position (xenbr<position>), from the host's NIC order. */
  position?: number;
  MAC: string;
  MTU: number;
  carrier: boolean;
  /** Mbit/s; 0 when unknown. */
  speed: number;
  duplex: Duplex;
  vendor_id: string;
  vendor_name: string;
  device_id: string;
  device_name: string;
  pci_bus_path: string;
  driver: string;
}

/** Measured values of a PIF the agent realised (MTU after plug; addresses learnt by DHCP). */
export interface PifState { MTU: number; IP?: string; netmask?: string }

export interface BondState {
  links_up: number;
  /** Active-backup: the device name of the member carrying the traffic now; absent when none is. */
  active_member?: string;
}

/** One bridge in the layout of `brctl show` (host.get_bridges, `xcpnet bridges`). */
export interface BridgeListing { name: string; id: string; stp: boolean; interfaces: string[] }

export interface HostReport {
  backend: BackendName;
  nics: Nic[];
  /** Objects the agent failed to realise at this generation: ref → message. */
  errors: Record<string, string>;
  PIFs: Record<string, PifState>;
  Bonds: Record<string, BondState>;
  bridges: BridgeListing[];
  /**
   * While the host's Open vSwitch is down: the host's PIFs and VIFs that are wanted but not
   * realised for now (ref → why), sent with the generation last realised. The master fails the
   * calls waiting on them at once, as for `errors`, and leaves their currently_attached alone:
   * the wish stands, and the agent repairs when the switch is back.
   */
  unrealised?: Record<string, string>;
  /**
   * Guests a hypervisor runs on this host (its devices attached by the hotplug entry point or
   * adopted from OVSDB; docs/guests.md). Absent: the agent has no hypervisor guests to tell of.
   */
  guests?: GuestsReport;
  /**
   * A management change the agent applied, could not confirm (it did not reach the master from
   * it) and rolled back: the PIFs it concerned and why. The master fails the calls waiting on them.
   */
  rollback?: Rollback;
  /**
   * The addresses the guests running here have, VM ref → VM_guest_metrics.networks as xapi keys
   * it (`<device>/ip`, `<device>/ipv4/<n>`, `<device>/ipv6/<n>`): what a guest agent would tell.
   * Absent: the guest driver cannot look inside its guests.
   */
  guest_networks?: Record<string, Record<string, string>>;
}

/** A VIF whose device the hypervisor made and the agent bound to it. */
export interface HypervisorVif {
  /** The host-side device (`vif5.0`, `tap0`, `vnet3`). */
  device: string;
  /** The domain id the hypervisor gave (Xen's, libvirt's), or -1 when it gave none (QEMU's script=). */
  domid: number;
}

export interface GuestsReport {
  /**
   * Every VIF the hypervisor has a device for here, VIF ref → its device. The master makes them
   * currently_attached and their VMs Running here (with that domid when one is given).
   */
  attached: Record<string, HypervisorVif>;
  /** VMs the hypervisor said have stopped here (refs): the master halts them. */
  stopped: string[];
  /**
   * Devices the hypervisor made that match no VIF: not bridged by the agent, shown on the
   * host as other_config:xcpnet-unknown-guest-devices.
   */
  unknown: string[];
}

export interface Rollback { PIFs: string[]; reason: string }

export function emptyReport(backend: BackendName): HostReport {
  return { backend, nics: [], errors: {}, PIFs: {}, Bonds: {}, bridges: [] };
}

// ---- checks (the master's side: a report is input like any other) ----

/** Bounds on a report, so one agent cannot make the master hold or write without limit. */
export const REPORT_LIMITS = { nics: 1024, entries: 65536, bridges: 4096, interfaces: 65536, text: 1024, unknownDevices: 64, guestAddresses: 256 } as const;

export class ReportError extends Error {
  constructor(readonly field: string, readonly value: unknown) {
    super(`invalid report field ${field}`);
    this.name = 'ReportError';
  }
}

type Check<T> = (v: unknown, at: string) => T;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text: Check<string> = (v, at) => {
  if (typeof v !== 'string' || v.length > REPORT_LIMITS.text) throw new ReportError(at, v);
  return v;
};
const uint = (max: number): Check<number> => (v, at) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new ReportError(at, v);
  return v;
};
const boolean: Check<boolean> = (v, at) => {
  if (typeof v !== 'boolean') throw new ReportError(at, v);
  return v;
};
function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return (v, at) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new ReportError(at, v);
    return v as T;
  };
}
function list<T>(item: Check<T>, max: number): Check<T[]> {
  return (v, at) => {
    if (!Array.isArray(v) || v.length > max) throw new ReportError(at, v);
    return v.map((x, i) => item(x, `${at}[${i}]`));
  };
}
function dict<T>(item: Check<T>): Check<Record<string, T>> {
  return (v, at) => {
    if (!isObj(v)) throw new ReportError(at, v);
    const entries = Object.entries(v);
    if (entries.length > REPORT_LIMITS.entries) throw new ReportError(at, `${entries.length} entries`);
    const out: Record<string, T> = {};
    for (const [k, x] of entries) out[text(k, at)] = item(x, `${at}.${k}`);
    return out;
  };
}
/** A struct: every key of T has its check (a new field of T is a compile error here). */
function struct<T>(checks: { [K in keyof T]-?: Check<T[K]> }, optional: readonly (keyof T)[] = []): Check<T> {
  return (v, at) => {
    if (!isObj(v)) throw new ReportError(at, v);
    const out = {} as T;
    for (const k of Object.keys(checks) as (keyof T & string)[]) {
      if (v[k] === undefined && optional.includes(k)) continue;
      out[k] = checks[k](v[k], `${at}.${k}`);
    }
    return out;
  };
}
const optional = <T>(c: Check<T>): Check<T> => c; // the key is listed in struct()'s optional list

export const NIC_CHECKS: { [K in keyof Nic]-?: Check<Nic[K]> } = {
  device: text, position: optional(uint(REPORT_LIMITS.nics)), MAC: text, MTU: uint(65535), carrier: boolean, speed: uint(2 ** 31 - 1), duplex: oneOf(DUPLEX),
  vendor_id: text, vendor_name: text, device_id: text, device_name: text, pci_bus_path: text, driver: text,
};

const bridgeListing = struct<BridgeListing>({
  name: text, id: text, stp: boolean, interfaces: list(text, REPORT_LIMITS.interfaces),
});

/** A Linux interface name as a hypervisor makes one (at most 15 bytes of a plain alphabet). */
export const isGuestDeviceName = (s: string): boolean => /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,14}$/.test(s);

const deviceName: Check<string> = (v, at) => {
  if (typeof v !== 'string' || !isGuestDeviceName(v)) throw new ReportError(at, v);
  return v;
};
const domid: Check<number> = (v, at) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v > 2 ** 31 - 1) throw new ReportError(at, v);
  return v;
};

const guestsReport = struct<GuestsReport>({
  attached: dict(struct<HypervisorVif>({ device: deviceName, domid })),
  stopped: list(text, REPORT_LIMITS.entries),
  unknown: list(deviceName, REPORT_LIMITS.unknownDevices),
});

/** A key of VM_guest_metrics.networks: the guest interface's device, then the address's place. */
export const GUEST_NETWORK_KEY = /^\d{1,5}\/(?:ip|ipv4\/\d{1,4}|ipv6\/\d{1,4})$/;
const guestNetworks: Check<Record<string, string>> = (v, at) => {
  const d = dict(text)(v, at);
  const entries = Object.entries(d);
  if (entries.length > REPORT_LIMITS.guestAddresses) throw new ReportError(at, `${entries.length} entries`);
  for (const [k, a] of entries) if (!GUEST_NETWORK_KEY.test(k) || !(isIPv4(a) || isIPv6(a))) throw new ReportError(`${at}.${k}`, a);
  return d;
};

export const REPORT_CHECKS: { [K in keyof HostReport]-?: Check<HostReport[K]> } = {
  backend: oneOf(BACKENDS),
  nics: list(struct<Nic>(NIC_CHECKS, ['position']), REPORT_LIMITS.nics),
  errors: dict(text),
  PIFs: dict(struct<PifState>({ MTU: uint(65535), IP: optional(text), netmask: optional(text) }, ['IP', 'netmask'])),
  Bonds: dict(struct<BondState>({ links_up: uint(REPORT_LIMITS.nics), active_member: optional(deviceName) }, ['active_member'])),
  bridges: list(bridgeListing, REPORT_LIMITS.bridges),
  unrealised: optional(dict(text)),
  guests: optional(guestsReport),
  rollback: optional(struct<Rollback>({ PIFs: list(text, REPORT_LIMITS.entries), reason: text })),
  guest_networks: optional(dict(guestNetworks)),
};

/** The report a wire value holds, or a ReportError naming the first field that is wrong. */
export function parseReport(v: unknown): HostReport {
  return struct<HostReport>(REPORT_CHECKS, ['unrealised', 'guests', 'rollback', 'guest_networks'])(v, 'state');
}
