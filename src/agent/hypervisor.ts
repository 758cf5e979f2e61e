// The guest driver for real hypervisors (docs/guests.md). The hypervisor makes each guest
// device (Xen netback's `vif<domid>.<n>`, a QEMU/KVM tap, libvirt's `vnet<N>`); this module
// binds it to a VIF of the records when the hotplug entry point names it (`xcpnet vif-hotplug`,
// over the agent's root-only socket) or when a port made by the hypervisor's own tooling carries
// the VIF's uuid in OVSDB (external_ids iface-id / xs-vif-uuid), and forgets it when the device
// goes. The agent's loop then:
//  - shapes the compiled host config (shape): a bound VIF's port is the hypervisor's device;
//    a VIF of a hypervisor-run VM without a device is an error (nothing here can make one);
//  - reports the bindings (report): the master makes those VIFs attached and their VMs Running
//    here with the hypervisor's domid, halts VMs the hypervisor stopped, and shows devices that
//    match no VIF on the host (never bridged);
//  - tells the module what a pass realised (afterPass): adoption, devices gone, and the answer
//    to a waiting hotplug command.
// VMs started through the API on a lab host stay with the lab's netns driver (`inner`).
import type { ForeignGuestPort, VifPort } from '../backends/contract.js';
import type { GuestsReport } from '../protocol/host-agent.js';
import type { HotplugReply, HotplugRequest, VifSelector } from '../protocol/hotplug.js';
import type { Desired } from './desired.js';
import type { ReconcileResult } from './reconcile.js';
import { int, str, type PoolRecords } from './records.js';

/** A hypervisor device bound to a VIF. */
export interface Binding {
  device: string;
  vifUuid: string;
  vmUuid: string;
  /** The hypervisor's domain id, -1 when it gave none. */
  domid: number;
  /** Taken over from a port the hypervisor's tooling made in OVSDB. */
  adopted: boolean;
}

/** What the module keeps across agent restarts (the devices outlive the agent). */
export interface HypervisorState { bindings: Binding[]; stopped: string[] }

export interface HypervisorStore {
  load(): HypervisorState | undefined;
  save(s: HypervisorState): void;
}

export interface HypervisorOptions {
  /** The host's network devices now (names): a bound device that is gone was unplugged. */
  links: () => Promise<Set<string>>;
  /** Whether VMs started through the API have a driver of their own here (the lab's netns). */
  hasInnerDriver: boolean;
  store?: HypervisorStore;
  log?: (m: string) => void;
  /** How long a hotplug command waits for its device to be bridged (default 30 s). */
  attachTimeoutMs?: number;
}

/** What the module needs from the agent's loop. */
export interface AgentView {
  /** The replica of the records (undefined before the first sync). */
  records(): PoolRecords | undefined;
  hostRef(): string;
  /** Runs a full pass soon (bindings changed). */
  kick(): void;
  /** The hypervisor made, changed or removed these devices: the next pass reads them afresh. */
  markKernelDirty?(devices: string[]): void;
}

/** Devices that match no VIF are kept (and shown) up to this many; the oldest go first. */
const MAX_UNKNOWN = 64;

export const NO_DEVICE = 'the hypervisor has no device for this VIF (never plugged by it, or removed)';

interface Waiter { device: string; vifUuid: string; done: (r: HotplugReply) => void; timer: NodeJS.Timeout }

/** Pure: the VIF a selector names in the records: [ref, record] or why none. */
export function findVif(pool: PoolRecords, sel: VifSelector): { ref: string; uuid: string; vmUuid: string } | { error: string } {
  const vifs = Object.entries(pool.VIF);
  let found: [string, (typeof vifs)[number][1]][];
  let by: string;
  if (sel.vif !== undefined) {
    found = vifs.filter(([, v]) => str(v.uuid).toLowerCase() === sel.vif);
    by = `uuid ${sel.vif}`;
  } else if (sel.vm !== undefined) {
    const vms = Object.entries(pool.VM).filter(([, vm]) => str(vm.uuid).toLowerCase() === sel.vm!.toLowerCase() || str(vm.name_label) === sel.vm);
    if (vms.length > 1) return { error: `${vms.length} VMs are named ${JSON.stringify(sel.vm)}: give the VM's uuid` };
    const vmRef = vms[0]?.[0];
    found = vifs.filter(([, v]) => vmRef !== undefined && str(v.VM) === vmRef && int(v.device, -1) === sel.vmDevice);
    by = `VM ${JSON.stringify(sel.vm)} device ${sel.vmDevice}`;
  } else {
    found = vifs.filter(([, v]) => str(v.MAC).toLowerCase() === sel.mac);
    by = `MAC ${sel.mac}`;
  }
  if (found.length === 0) return { error: `no VIF with ${by}` };
  if (found.length > 1) return { error: `${found.length} VIFs have ${by}: name the VIF by uuid or by VM and device` };
  const [ref, vif] = found[0]!;
  // Every other way given must agree: a hypervisor's metadata that contradicts itself binds nothing.
  if (sel.mac !== undefined && str(vif.MAC).toLowerCase() !== sel.mac) return { error: `VIF ${str(vif.uuid)} has MAC ${str(vif.MAC)}, not ${sel.mac}` };
  const vm = pool.VM[str(vif.VM)];
  if (!vm) return { error: `VIF ${str(vif.uuid)} has no VM` };
  if (sel.vm !== undefined && str(vm.uuid).toLowerCase() !== sel.vm.toLowerCase() && str(vm.name_label) !== sel.vm) {
    return { error: `VIF ${str(vif.uuid)} belongs to VM ${str(vm.uuid)}, not ${JSON.stringify(sel.vm)}` };
  }
  if (vm.is_control_domain === true || vm.is_a_template === true) return { error: `VIF ${str(vif.uuid)} belongs to a control domain or a template` };
  return { ref, uuid: str(vif.uuid), vmUuid: str(vm.uuid) };
}

export class HypervisorGuests {
  private readonly bindings = new Map<string, Binding>(); // by device
  private readonly stopped = new Set<string>(); // VM uuids the hypervisor stopped, until the records say so
  private readonly unknown = new Set<string>();
  private readonly unbound = new Set<string>(); // foreign ports already logged as naming no VIF
  private readonly waiters = new Set<Waiter>();
  private agent: AgentView | undefined;
  private readonly log: (m: string) => void;

  constructor(private readonly opts: HypervisorOptions) {
    this.log = opts.log ?? (() => {});
    const saved = opts.store?.load();
    for (const b of saved?.bindings ?? []) this.bindings.set(b.device, b);
    for (const vm of saved?.stopped ?? []) this.stopped.add(vm);
    if (this.bindings.size) this.log(`hypervisor devices bound before the restart: ${[...this.bindings.keys()].join(', ')}`);
  }

  attach(agent: AgentView): void { this.agent = agent; }

  private save(): void {
    try { this.opts.store?.save({ bindings: [...this.bindings.values()], stopped: [...this.stopped] }); }
    catch (e) { this.log(`hypervisor device bindings not saved: ${(e as Error).message}`); }
  }

  private changed(): void { this.save(); this.agent?.kick(); }

  private boundVms(): Set<string> { return new Set([...this.bindings.values()].map((b) => b.vmUuid)); }

  /** A VM whose interfaces the hypervisor makes (not the lab's netns driver). */
  private isHypervisorVm(vmUuid: string, bound = this.boundVms()): boolean {
    return !this.opts.hasInnerDriver || bound.has(vmUuid) || this.stopped.has(vmUuid);
  }

  /** The compiled config with hypervisor devices in place of the VIF ports the records name. */
  shape(d: Desired): Desired {
    const bound = this.boundVms();
    const byVif = new Map([...this.bindings.values()].map((b) => [b.vifUuid, b]));
    const errors = { ...d.errors };
    const vifs: VifPort[] = [];
    for (const v of d.doc.vifs) {
      if (!this.isHypervisorVm(v.vmUuid, bound)) { vifs.push(v); continue; }
      const b = byVif.get(v.vifUuid);
      if (b) vifs.push({ ...v, name: b.device, adopt: b.adopted || undefined });
      else if (!this.stopped.has(v.vmUuid)) errors[v.owner] ??= NO_DEVICE;
    }
    for (const v of vifs) if (v.adopt === undefined) delete v.adopt;
    return { ...d, vms: d.vms.filter((vm) => !this.isHypervisorVm(vm.uuid, bound)), doc: { ...d.doc, vifs }, errors };
  }

  /** What the master hears about the hypervisor's guests here. */
  report(): GuestsReport {
    const pool = this.agent?.records();
    const vifRef = new Map(Object.entries(pool?.VIF ?? {}).map(([ref, v]) => [str(v.uuid).toLowerCase(), ref]));
    const vmRef = new Map(Object.entries(pool?.VM ?? {}).map(([ref, v]) => [str(v.uuid).toLowerCase(), ref]));
    const attached: GuestsReport['attached'] = {};
    for (const b of this.bindings.values()) {
      const ref = vifRef.get(b.vifUuid);
      if (ref) attached[ref] = { device: b.device, domid: b.domid };
    }
    const stopped = [...this.stopped].map((u) => vmRef.get(u)).filter((r): r is string => r !== undefined).sort();
    return { attached, stopped, unknown: [...this.unknown].sort() };
  }

  /** Lists a device as matching no VIF; false when it already was. */
  private addUnknown(device: string, why: string): boolean {
    if (this.unknown.has(device)) return false;
    this.log(`hypervisor device ${device} matches no VIF (${why}): not bridged, shown on the host as unknown`);
    this.unknown.add(device);
    while (this.unknown.size > MAX_UNKNOWN) this.unknown.delete(this.unknown.values().next().value!);
    return true;
  }

  private bind(b: Binding): void {
    for (const [dev, old] of this.bindings) if (old.vifUuid === b.vifUuid && dev !== b.device) this.bindings.delete(dev);
    this.bindings.set(b.device, b);
    this.agent?.markKernelDirty?.([b.device]);
    this.unknown.delete(b.device);
    this.stopped.delete(b.vmUuid);
    this.log(`hypervisor device ${b.device} bound to VIF ${b.vifUuid} of VM ${b.vmUuid}${b.domid >= 0 ? ` (domid ${b.domid})` : ''}${b.adopted ? ', adopted from OVSDB' : ''}`);
  }

  /** Drops a device's binding; the VM is stopped when it was its last device. */
  private unbind(device: string, why: string): boolean {
    const b = this.bindings.get(device);
    this.unknown.delete(device);
    if (!b) return false;
    this.bindings.delete(device);
    this.agent?.markKernelDirty?.([device]);
    this.log(`hypervisor device ${device} (VIF ${b.vifUuid}) ${why}`);
    if (!this.boundVms().has(b.vmUuid)) this.stopped.add(b.vmUuid);
    return true;
  }

  /** One request of the hotplug command; resolves with its answer (bounded in time). */
  async handle(req: HotplugRequest): Promise<HotplugReply> {
    const pool = this.agent?.records();
    if (!pool) return { ok: false, error: 'the agent has not reached the master yet: no VIF is known; try again' };
    switch (req.op) {
      case 'add': {
        if (!(await this.opts.links()).has(req.device)) return { ok: false, error: `no network device ${req.device} on this host` };
        const found = findVif(pool, req.find);
        if ('error' in found) {
          this.addUnknown(req.device, found.error);
          this.changed();
          return { ok: false, error: `${found.error}: ${req.device} is not bridged (reported on the host as an unknown guest device)` };
        }
        this.bind({ device: req.device, vifUuid: found.uuid, vmUuid: found.vmUuid, domid: req.domid, adopted: false });
        const answer = new Promise<HotplugReply>((resolve) => {
          const w: Waiter = {
            device: req.device, vifUuid: found.uuid, done: (r) => { clearTimeout(w.timer); this.waiters.delete(w); resolve(r); },
            timer: setTimeout(() => w.done({ ok: false, error: `VIF ${found.uuid}: ${req.device} not bridged within ${(this.opts.attachTimeoutMs ?? 30_000) / 1000} s (the binding stays; see the agent's log)` }),
              this.opts.attachTimeoutMs ?? 30_000),
          };
          this.waiters.add(w);
        });
        this.changed();
        return answer;
      }
      case 'remove': {
        const was = this.unbind(req.device, 'removed by the hypervisor');
        this.changed();
        return { ok: true, message: was ? `${req.device} detached` : `${req.device} was not attached` };
      }
      case 'stopped': {
        const vm = Object.values(pool.VM).find((v) => str(v.uuid).toLowerCase() === req.vm.toLowerCase() || str(v.name_label) === req.vm);
        if (!vm) return { ok: false, error: `no VM ${JSON.stringify(req.vm)}` };
        const uuid = str(vm.uuid).toLowerCase();
        for (const [dev, b] of this.bindings) if (b.vmUuid === uuid) this.unbind(dev, 'gone with its domain');
        this.stopped.add(uuid);
        this.changed();
        return { ok: true, message: `VM ${uuid} stopped` };
      }
    }
  }

  /**
   * After a pass: forget devices that are gone, adopt ports the hypervisor's tooling made, let
   * the master's records end a stop, and answer the hotplug commands whose device is realised.
   */
  async afterPass(d: Desired, r: ReconcileResult): Promise<void> {
    let dirty = false;
    const links = await this.opts.links();
    for (const [dev] of this.bindings) if (!links.has(dev)) dirty = this.unbind(dev, 'is gone') || dirty;
    for (const dev of this.unknown) if (!links.has(dev)) { this.unknown.delete(dev); dirty = true; }
    const pool = this.agent?.records();
    if (pool) {
      dirty = this.adopt(pool, r.state.foreignGuestPorts ?? [], links) || dirty;
      // A stop ends once the records show the VM no longer running here.
      const here = this.agent!.hostRef();
      for (const u of this.stopped) {
        const vm = Object.values(pool.VM).find((v) => str(v.uuid).toLowerCase() === u);
        if (!vm || str(vm.power_state) !== 'Running' || str(vm.resident_on) !== here) { this.stopped.delete(u); dirty = true; }
      }
    }
    for (const w of this.waiters) {
      const b = this.bindings.get(w.device);
      if (!b || b.vifUuid !== w.vifUuid) { w.done({ ok: false, error: `${w.device} went away before it was bridged` }); continue; }
      const v = d.doc.vifs.find((x) => x.vifUuid === w.vifUuid && x.name === w.device);
      if (!v) continue; // the master has not made it attached yet
      const err = r.errors[v.owner];
      if (err) { w.done({ ok: false, error: `VIF ${w.vifUuid}: ${err}` }); continue; }
      const onBridge = v.bridge === undefined || v.locking === 'disabled' || r.state.bridges.some((br) => br.interfaces.includes(w.device));
      if (onBridge) w.done({ ok: true, message: `${w.device} attached to VIF ${w.vifUuid}${v.bridge ? ` on ${v.bridge}` : ''}` });
    }
    if (dirty) this.changed();
  }

  /** Binds ports others made in OVSDB that name a VIF; true when a binding or an unknown device was added. */
  private adopt(pool: PoolRecords, ports: ForeignGuestPort[], links: Set<string>): boolean {
    let added = false;
    const present = new Set(ports.map((p) => p.name));
    for (const name of this.unbound) if (!present.has(name)) this.unbound.delete(name);
    for (const p of ports) {
      const have = this.bindings.get(p.name);
      if (have?.vifUuid === p.vifUuid.toLowerCase() || this.unbound.has(p.name)) continue;
      if (!links.has(p.name)) { this.unbound.add(p.name); this.log(`port ${p.name} on ${p.bridge} names VIF ${p.vifUuid} but has no network device: not adopted`); continue; }
      const found = /^[0-9a-f-]{36}$/i.test(p.vifUuid) ? findVif(pool, { vif: p.vifUuid.toLowerCase() }) : { error: `not a VIF uuid: ${JSON.stringify(p.vifUuid)}` };
      // Looked up again at each pass: the VIF may be created after its port.
      if ('error' in found) { added = this.addUnknown(p.name, `port on ${p.bridge}: ${found.error}`) || added; continue; }
      this.bind({ device: p.name, vifUuid: found.uuid, vmUuid: found.vmUuid, domid: -1, adopted: true });
      added = true;
    }
    return added;
  }

  /** Ends every waiting hotplug command (the agent stops). */
  close(): void {
    for (const w of this.waiters) w.done({ ok: false, error: 'the agent is stopping' });
  }
}
