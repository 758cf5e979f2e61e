// Where the master learns what is real on each host. Agents report with
// host.report_network_state (docs/design/agent-protocol.md); calls that mean "make it real
// now" wait here until the host's agent has realised their generation.

import { ApiError } from '../common/api-error.js';
import type { Store, Tx } from '../db/store.js';
import type { Rec, Value } from '../idl/meta.js';
// The classes a host agent follows with event.from: the agent's own list, not a copy of it.
import { POOL_CLASSES } from '../agent/records.js';

export interface Nic {
  device: string;
  /** Its stable position on the host (the agent's NIC order): xenbr<position>. */
  position?: number;
  MAC: string;
  MTU: number;
  carrier?: boolean;
  speed?: number;
  duplex?: boolean;
  vendor_id?: string;
  vendor_name?: string;
  device_id?: string;
  device_name?: string;
  pci_bus_path?: string;
  driver?: string;
}

export interface HostReport {
  backend?: string;
  nics?: Nic[];
  errors?: Record<string, string>;
  PIFs?: Record<string, { MTU?: number; IP?: string; netmask?: string }>;
  Bonds?: Record<string, { links_up?: number }>;
  bridges?: Value[];
  /** A management change the agent rolled back (it could not reach the master from it). */
  rollback?: { PIFs?: string[]; reason?: string };
}

interface Waiter { gen: number; objects: string[]; resolve: () => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }

interface HostState { realised: number; lastReport: number; report: HostReport; waiters: Set<Waiter> }

export class RealisationHub {
  private readonly hosts = new Map<string, HostState>();
  /** How long a call waits for an agent before giving up. */
  timeoutMs = 30_000;

  constructor(private readonly store: Store) {}

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) this.hosts.set(host, s = { realised: -1, lastReport: 0, report: {}, waiters: new Set() });
    return s;
  }

  /** True once an agent has reported for the host. */
  hasAgent(host: string): boolean { return this.state(host).lastReport > 0; }
  lastReport(host: string): HostReport | undefined { return this.hosts.get(host)?.report; }
  nics(host: string): Nic[] | undefined { return this.hosts.get(host)?.report.nics; }

  /**
   * Resolves once `host`'s agent has realised the last write to the classes it follows (a later
   * write elsewhere, a login say, would never reach it), or fails:
   * an error the agent reports for one of `objects`, or a timeout (HOST_OFFLINE when no
   * agent ever reported, DEVICE_ATTACH_TIMEOUT otherwise).
   */
  wait(host: string, objects: string[] = [], gen = this.store.lastGenerationOf(POOL_CLASSES), timeoutMs = this.timeoutMs): Promise<void> {
    const s = this.state(host);
    if (s.realised >= gen) return this.failIfErrors(s.report, objects);
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        gen, objects, resolve, reject,
        timer: setTimeout(() => {
          s.waiters.delete(w);
          if (!this.hasAgent(host)) reject(new ApiError('HOST_OFFLINE', [host]));
          else {
            const obj = objects[0] ?? host;
            reject(new ApiError('DEVICE_ATTACH_TIMEOUT', [this.store.classOf(obj) ?? 'host', obj]));
          }
        }, timeoutMs),
      };
      w.timer.unref();
      s.waiters.add(w);
    });
  }

  private failIfErrors(report: HostReport, objects: string[]): Promise<void> {
    // A rolled-back management change fails the calls that made it, naming its PIF.
    const rolledBack = objects.find((o) => report.rollback?.PIFs?.includes(o));
    if (rolledBack) return Promise.reject(new ApiError('PIF_CONFIGURATION_ERROR', [rolledBack, String(report.rollback?.reason ?? 'management change rolled back')]));
    for (const o of objects) {
      const msg = report.errors?.[o];
      if (msg === undefined) continue;
      const cls = this.store.classOf(o);
      return Promise.reject(cls === 'PIF' ? new ApiError('PIF_CONFIGURATION_ERROR', [o, msg]) : new ApiError('INTERNAL_ERROR', [msg]));
    }
    return Promise.resolve();
  }

  /** An agent's report: record measurements, clear what failed, wake the waiting calls. */
  report(host: string, gen: number, report: HostReport): void {
    const s = this.state(host);
    s.report = report;
    s.lastReport = Date.now();
    if (gen > s.realised) s.realised = gen;
    this.store.transact((tx) => this.applyMeasurements(tx, host, report));
    for (const w of [...s.waiters]) {
      if (w.gen > s.realised) continue;
      s.waiters.delete(w);
      clearTimeout(w.timer);
      this.failIfErrors(report, w.objects).then(w.resolve, w.reject);
    }
  }

  private applyMeasurements(tx: Tx, host: string, report: HostReport): void {
    const setIfChanged = (cls: string, ref: string, patch: Rec) => {
      const cur = tx.find(cls, ref);
      if (!cur) return;
      const diff = Object.entries(patch).filter(([k, v]) => JSON.stringify(cur[k]) !== JSON.stringify(v));
      if (diff.length) tx.update(cls, ref, Object.fromEntries(diff));
    };
    for (const ref of Object.keys(report.errors ?? {})) {
      const cls = tx.classOf(ref);
      if (cls === 'PIF' || cls === 'VIF') setIfChanged(cls, ref, { currently_attached: false });
    }
    for (const [ref, m] of Object.entries(report.PIFs ?? {})) {
      const patch: Rec = {};
      if (typeof m.MTU === 'number') patch.MTU = m.MTU;
      if (typeof m.IP === 'string') patch.IP = m.IP;
      if (typeof m.netmask === 'string') patch.netmask = m.netmask;
      setIfChanged('PIF', ref, patch);
    }
    for (const [ref, b] of Object.entries(report.Bonds ?? {})) {
      if (typeof b.links_up === 'number') setIfChanged('Bond', ref, { links_up: b.links_up });
    }
    const nics = new Map((report.nics ?? []).map((n) => [n.device, n]));
    for (const [, pif] of tx.all('PIF')) {
      if (pif.host !== host || !pif.physical) continue;
      const nic = nics.get(pif.device as string);
      const metrics = pif.metrics as string;
      if (!nic || !tx.find('PIF_metrics', metrics)) continue;
      setIfChanged('PIF_metrics', metrics, {
        carrier: !!nic.carrier, speed: nic.speed ?? 0, duplex: !!nic.duplex,
        vendor_id: nic.vendor_id ?? '', vendor_name: nic.vendor_name ?? '', device_id: nic.device_id ?? '',
        device_name: nic.device_name ?? '', pci_bus_path: nic.pci_bus_path ?? '',
      });
    }
    if (report.backend) {
      const h = tx.find('host', host);
      const sv = (h?.software_version ?? {}) as Record<string, Value>;
      const backend = report.backend === 'fake' ? 'openvswitch' : report.backend;
      if (h && sv.network_backend !== backend) tx.update('host', host, { software_version: { ...sv, network_backend: backend } });
    }
  }
}
