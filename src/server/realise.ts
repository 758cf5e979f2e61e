// Where the master learns what is real on each host. Agents report with
// host.report_network_state (docs/design/agent-protocol.md); calls that mean "make it real
// now" wait here until the host's agent has realised their generation.

import { ApiError } from '../common/api-error.js';
import { SYSTEM_CLOCK, type Clock } from '../common/clock.js';
import type { Store, Tx } from '../db/store.js';
import { NULL_REF, type Rec, type Value } from '../idl/meta.js';
import { AGENT_CLASSES, HOST_LIVE_TIMEOUT_MS, type HostReport, type Nic } from '../protocol/host-agent.js';
import { setHostLive } from './impl/host-metrics.js';
import { setGuestNetworks } from './impl/guest-metrics.js';
import { applyGuestsReport } from './impl/guest-devices.js';

export type { HostReport, Nic } from '../protocol/host-agent.js';

/**
 * A NIC's PIF_metrics fields, key by key of the protocol's Nic (a field added to Nic does not
 * compile until it is mapped here, or marked as not a metric with null and a reason).
 */
const NIC_METRICS: { [K in keyof Nic]-?: ((n: Nic) => Rec) | null } = {
  device: null, // names the PIF
  position: null, // names the NIC's bridge (xenbr<position>), written by PIF.scan
  MAC: null, // PIF.MAC, written by PIF.scan
  MTU: null, // PIF.MTU, written by PIF.scan and the PIFs report
  driver: null, // xapi has no field for it
  carrier: (n) => ({ carrier: n.carrier }),
  speed: (n) => ({ speed: n.speed }),
  // PIF_metrics.duplex is a bool: true for a full-duplex link; half and unknown are false.
  duplex: (n) => ({ duplex: n.duplex === 'full' }),
  vendor_id: (n) => ({ vendor_id: n.vendor_id }),
  vendor_name: (n) => ({ vendor_name: n.vendor_name }),
  device_id: (n) => ({ device_id: n.device_id }),
  device_name: (n) => ({ device_name: n.device_name }),
  pci_bus_path: (n) => ({ pci_bus_path: n.pci_bus_path }),
};

/** Pure: the PIF_metrics fields a NIC's observed facts give. */
export function nicMetrics(n: Nic): Rec {
  const out: Rec = {};
  for (const f of Object.values(NIC_METRICS)) if (f) Object.assign(out, f(n));
  return out;
}

/** Pure: two versions of a record with the same value in every field. */
function sameFields(a: Rec, b: Rec): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k] && JSON.stringify(a[k]) !== JSON.stringify(b[k])) return false;
  return true;
}

interface Waiter { gen: number; objects: string[]; resolve: () => void; reject: (e: unknown) => void; cancelTimer: () => void }

interface HostState { realised: number; lastReport: number | undefined; report: HostReport | undefined; waiters: Set<Waiter>; cancelDeadline?: () => void }

export class RealisationHub {
  private readonly hosts = new Map<string, HostState>();
  /** How long a call waits for an agent before giving up. */
  timeoutMs = 30_000;

  /**
   * The last generation that changed what agents follow. A write that changes nothing (a touch:
   * PIF.scan, event.inject) bumps the generation too, but only the agent of a touched host
   * record answers it (its "fresh look"); the others see nothing to answer, so their waits
   * must not count it.
   */
  private lastChange: number;
  private readonly lastTouch = new Map<string, number>();

  constructor(private readonly store: Store, private readonly clock: Clock = SYSTEM_CLOCK) {
    this.lastChange = store.lastGenerationOf(AGENT_CLASSES);
    const followed = new Set<string>(AGENT_CLASSES);
    store.onCommit((gen, changes) => {
      for (const c of changes) {
        if (!followed.has(c.cls)) continue;
        if (c.kind === 'mod' && c.before && c.after && sameFields(c.before, c.after)) {
          if (c.cls === 'host') this.lastTouch.set(c.ref, gen);
        } else {
          this.lastChange = gen;
          if (c.cls === 'host' && c.kind === 'del') this.lastTouch.delete(c.ref);
        }
      }
    });
  }

  /** The generation `host`'s agent answers: the last change, or the last touch of its own record. */
  generationFor(host: string): number {
    return Math.max(this.lastChange, this.lastTouch.get(host) ?? 0);
  }

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) this.hosts.set(host, s = { realised: -1, lastReport: undefined, report: undefined, waiters: new Set() });
    return s;
  }

  /** True once an agent has reported for the host. */
  hasAgent(host: string): boolean { return this.state(host).lastReport !== undefined; }
  lastReport(host: string): HostReport | undefined { return this.hosts.get(host)?.report; }
  nics(host: string): Nic[] | undefined { return this.hosts.get(host)?.report?.nics; }

  /**
   * Resolves once `host`'s agent has realised the last change to the classes it follows (a later
   * write elsewhere, a login say, or a touch of another host, would never reach it), or fails:
   * an error the agent reports for one of `objects`, or a timeout (HOST_OFFLINE when no
   * agent ever reported, DEVICE_ATTACH_TIMEOUT otherwise).
   */
  wait(host: string, objects: string[] = [], gen = this.generationFor(host), timeoutMs = this.timeoutMs): Promise<void> {
    const s = this.state(host);
    if (s.realised >= gen) return this.failIfErrors(s.report, objects);
    const down = this.failIfUnrealised(s.report, objects);
    if (down) return down;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        gen, objects, resolve, reject,
        cancelTimer: this.clock.after(timeoutMs, () => {
          s.waiters.delete(w);
          if (!this.hasAgent(host)) reject(new ApiError('HOST_OFFLINE', [host]));
          else {
            const obj = objects[0] ?? host;
            reject(new ApiError('DEVICE_ATTACH_TIMEOUT', [this.store.classOf(obj) ?? 'host', obj]));
          }
        }),
      };
      s.waiters.add(w);
    });
  }

  private failIfErrors(report: HostReport | undefined, objects: string[]): Promise<void> {
    // A rolled-back management change fails the calls that made it, naming its PIF.
    const rolledBack = objects.find((o) => report?.rollback?.PIFs.includes(o));
    if (rolledBack) return Promise.reject(new ApiError('PIF_CONFIGURATION_ERROR', [rolledBack, report?.rollback?.reason ?? 'management change rolled back']));
    return this.failIfUnrealised(report, objects, report?.errors) ?? this.failIfUnrealised(report, objects) ?? Promise.resolve();
  }

  /** A rejection for the first of `objects` listed in `which` (default: the report's unrealised). */
  private failIfUnrealised(report: HostReport | undefined, objects: string[], which = report?.unrealised): Promise<void> | undefined {
    for (const o of objects) {
      const msg = which?.[o];
      if (typeof msg !== 'string') continue;
      const cls = this.store.classOf(o);
      return Promise.reject(cls === 'PIF' ? new ApiError('PIF_CONFIGURATION_ERROR', [o, msg]) : new ApiError('INTERNAL_ERROR', [msg]));
    }
    return undefined;
  }

  /** An agent's report: record measurements, clear what failed, wake the waiting calls. */
  report(host: string, gen: number, report: HostReport): void {
    const s = this.state(host);
    s.report = report;
    s.lastReport = this.clock.now();
    if (gen > s.realised) s.realised = gen;
    this.store.transact((tx) => this.applyMeasurements(tx, host, report));
    // host_metrics is no class an agent follows: an agent up to date before this write still is.
    const before = this.store.generation;
    this.store.transact((tx) => setHostLive(tx, host, true));
    if (s.realised >= before) s.realised = Math.max(s.realised, this.store.generation);
    // The heartbeat: without a report for this long, the host is no longer live.
    s.cancelDeadline?.();
    s.cancelDeadline = this.clock.after(HOST_LIVE_TIMEOUT_MS, () => {
      s.cancelDeadline = undefined;
      try { this.store.transact((tx) => setHostLive(tx, host, false)); } catch { /* the store is closed */ }
    });
    for (const w of [...s.waiters]) {
      const down = this.failIfUnrealised(report, w.objects);
      if (w.gen > s.realised && !down) continue;
      s.waiters.delete(w);
      w.cancelTimer();
      (down ?? this.failIfErrors(report, w.objects)).then(w.resolve, w.reject);
    }
  }

  private applyMeasurements(tx: Tx, host: string, report: HostReport): void {
    const setIfChanged = (cls: string, ref: string, patch: Rec) => {
      const cur = tx.find(cls, ref);
      if (!cur) return;
      const diff = Object.entries(patch).filter(([k, v]) => JSON.stringify(cur[k]) !== JSON.stringify(v));
      if (diff.length) tx.update(cls, ref, Object.fromEntries(diff));
    };
    // Every member of the report, handled or knowingly ignored (a new member does not compile
    // until it has an entry here). Only objects of the reporting host are written.
    const ofHost = (cls: string, ref: string): boolean => {
      const r = tx.find(cls, ref);
      if (!r) return false;
      if (cls === 'PIF') return r.host === host;
      if (cls === 'Bond') return tx.find('PIF', String(r.master))?.host === host;
      if (cls === 'VIF') return tx.find('VM', String(r.VM))?.resident_on === host;
      return false;
    };
    const handlers: { [K in keyof HostReport]-?: (v: HostReport[K]) => void } = {
      // A failed plug leaves its PIF or VIF unplugged, as in xapi. Never the management PIF: it
      // carries the host's link to the master, and unplugging it takes its bridge out of the
      // host's desired state, so one slow or failed switch write would make the agent cut its
      // own host off (only host.management_reconfigure/management_disable move it). The error
      // still fails the waiting calls, and the agent tries again on its next pass.
      errors: (errors) => {
        for (const ref of Object.keys(errors)) {
          const cls = tx.classOf(ref);
          if (cls === 'PIF' && tx.find('PIF', ref)?.management === true) continue;
          if ((cls === 'PIF' || cls === 'VIF') && ofHost(cls, ref)) setIfChanged(cls, ref, { currently_attached: false });
        }
      },
      PIFs: (pifs) => {
        for (const [ref, m] of Object.entries(pifs)) {
          if (tx.classOf(ref) !== 'PIF' || !ofHost('PIF', ref)) continue;
          const patch: Rec = { MTU: m.MTU };
          if (m.IP !== undefined) patch.IP = m.IP;
          if (m.netmask !== undefined) patch.netmask = m.netmask;
          setIfChanged('PIF', ref, patch);
        }
      },
      Bonds: (bonds) => {
        for (const [ref, b] of Object.entries(bonds)) {
          if (tx.classOf(ref) !== 'Bond' || !ofHost('Bond', ref)) continue;
          // The agent names the active member by device; only a member of this bond is taken.
          const active = b.active_member === undefined ? undefined
            : tx.get('Bond', ref).slaves.find((m) => tx.find('PIF', m)?.device === b.active_member);
          setIfChanged('Bond', ref, { links_up: b.links_up, active_member: active ?? NULL_REF });
        }
      },
      nics: (list) => {
        const nics = new Map(list.map((n) => [n.device, n]));
        for (const ref of tx.lookup('PIF', 'host', host)) {
          const pif = tx.get('PIF', ref);
          if (!pif.physical) continue;
          const nic = nics.get(pif.device);
          const metrics = pif.metrics;
          if (!nic || !tx.find('PIF_metrics', metrics)) continue;
          setIfChanged('PIF_metrics', metrics, nicMetrics(nic));
        }
      },
      backend: (name) => {
        const h = tx.find('host', host);
        const sv = (h?.software_version ?? {}) as Record<string, Value>;
        // The simulator stands for an Open vSwitch host.
        const backend = name === 'fake' ? 'openvswitch' : name;
        if (h && sv.network_backend !== backend) tx.update('host', host, { software_version: { ...sv, network_backend: backend } });
      },
      bridges: () => { /* kept with the report for host.get_bridges; nothing in the database */ },
      // Kept with the report: waiting calls fail on it; currently_attached (the wish) stays.
      unrealised: () => {},
      // The hypervisor's word on its guests (impl/guest-devices.ts); absent: nothing to say.
      guests: (g) => { if (g) applyGuestsReport(tx, host, g); },
      // Kept with the report: the calls that made the change fail on it (failIfErrors); the
      // caller puts its records back.
      rollback: () => {},
      // What the guests running here have (a guest agent's word): VM_guest_metrics.networks.
      guest_networks: (nets) => {
        for (const [vm, networks] of Object.entries(nets ?? {})) {
          if (tx.classOf(vm) === 'VM' && tx.find('VM', vm)?.resident_on === host) setGuestNetworks(tx, vm, networks);
        }
      },
    };
    for (const k of Object.keys(handlers) as (keyof HostReport)[]) (handlers[k] as (v: unknown) => void)(report[k]);
  }
}
