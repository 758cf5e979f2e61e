// An in-memory Open vSwitch host: NICs eth0..eth{N-1}, a switch holding bridges/ports/interfaces
// with stable uuids, kernel links with addresses, and a default route. It implements OvsSwitch
// as OVS+Linux do (same observed shape), so the OVS driver's plan/apply cycle runs without root
// (planner tests, and the scenario suite on every commit).
import { randomUUID } from 'node:crypto';
import type { Nic } from '../contract.js';
import { fakeMac, fakeNic } from '../fake/nics.js';
import {
  actionOwner, type Action, type ApplyResult, type IfaceRow, type OvsSwitch,
  type ObsIface, type ObsLink, type ObservedState, type ObsPort, type PortSpec, type StrMap,
} from './model.js';

export interface MemorySwitchOptions {
  /** Number of NICs (default 2) or their names. */
  nics?: number | string[];
  /** Seed for deterministic MACs (e.g. the host uuid). */
  seed?: string;
}

const clone = <T>(x: T): T => structuredClone(x);

export class MemorySwitch implements OvsSwitch {
  readonly datapathType = '';
  private readonly seed: string;
  private readonly state: ObservedState = { bridges: new Map(), ports: new Map(), links: new Map() };
  private readonly nicNames: string[] = [];
  private readonly listeners = new Set<() => void>();
  /** OVSDB-like write transactions performed (tests count them). */
  transactions = 0;

  constructor(opts: MemorySwitchOptions = {}) {
    this.seed = opts.seed ?? 'fake';
    const names = Array.isArray(opts.nics) ? opts.nics : Array.from({ length: opts.nics ?? 2 }, (_, i) => `eth${i}`);
    for (const n of names) this.addNic(n);
  }

  /** Hot-adds a NIC (lab `add-nic` equivalent). */
  addNic(name = `eth${this.nicNames.length}`): string {
    this.nicNames.push(name);
    this.state.links.set(name, { name, up: false, mtu: 1500, mac: fakeMac(this.seed, this.nicNames.length - 1), addrs: [] });
    return name;
  }

  // ---- test/guest hooks (changes from outside the agent) ----
  addLink(name: string, mac: string, mtu = 1500): void {
    this.state.links.set(name, { name, up: false, mtu, mac, addrs: [] });
    this.refreshErrors();
    this.emit();
  }
  /** Addresses put on a link from outside (the distribution's, before the agent took the NIC). */
  setAddrs(name: string, addrs: string[], defaultVia?: string): void {
    this.link(name).addrs = [...addrs];
    if (defaultVia) this.state.defaultRoute = { dev: name, via: defaultVia };
    this.emit();
  }
  removeLink(name: string): void {
    this.state.links.delete(name);
    this.emit();
  }
  /** Like `ovs-vsctl del-port NAME`. */
  removePortByHand(name: string): void {
    const p = this.state.ports.get(name);
    if (!p) return;
    this.unlinkPort(p);
    this.emit();
  }
  /** Like `ovs-vsctl del-br NAME`. */
  removeBridgeByHand(name: string): void {
    if (this.state.bridges.has(name)) this.dropBridge(name);
    this.emit();
  }
  /** Inserts a bridge or port not owned by anyone (a row the agent must leave alone). */
  addForeign(bridge: string, port?: string): void {
    if (!this.state.bridges.has(bridge)) {
      this.state.bridges.set(bridge, { uuid: randomUUID(), name: bridge, datapath_type: '', fail_mode: null, mcast_snooping_enable: false, other_config: {}, external_ids: {}, ports: [] });
    }
    if (port) {
      const p: ObsPort = {
        uuid: randomUUID(), name: port, bridge, tag: null, fake_bridge: false, protected: false, bond_mode: null, lacp: null, bond_updelay: 0,
        bond_downdelay: 0, mac: null, other_config: {}, external_ids: {}, interfaces: [this.newIface({ name: port, type: 'internal', options: {}, mtu_request: null, mac: null, external_ids: {}, other_config: {} })],
      };
      this.state.ports.set(port, p);
      this.state.bridges.get(bridge)!.ports.push(port);
    }
  }

  // ---- HostBackend ----
  async observe(): Promise<ObservedState> {
    return clone(this.state);
  }

  async apply(actions: Action[]): Promise<ApplyResult> {
    const errors: StrMap = {};
    let ovs = false;
    for (const a of actions) {
      try {
        if (this.applyOne(a)) ovs = true;
      } catch (e) {
        const owner = actionOwner(a);
        if (owner) errors[owner] ??= (e as Error).message;
      }
    }
    if (ovs) this.transactions++;
    this.refreshErrors();
    return { errors, transactions: ovs ? 1 : 0 };
  }

  async nics(): Promise<Nic[]> {
    return this.nicNames.filter((n) => this.state.links.has(n)).map((n) => {
      const l = this.state.links.get(n)!;
      return fakeNic(n, this.nicNames.indexOf(n), l.mac, l.mtu);
    });
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> { this.listeners.clear(); }

  // ---- internals ----
  private emit(): void { for (const l of this.listeners) l(); }

  private newIface(row: IfaceRow): ObsIface {
    return { ...clone(row), uuid: randomUUID(), ofport: null, error: null, mtu: null, link_state: null };
  }

  /** Interfaces get ofport/mtu/error as vswitchd would after cur_cfg. */
  private refreshErrors(): void {
    let ofport = 1;
    for (const p of this.state.ports.values()) {
      for (const i of p.interfaces) {
        const link = this.state.links.get(i.name);
        const netdev = i.type === '' || i.type === 'internal';
        if (netdev && !link) { i.ofport = -1; i.error = `could not open network device ${i.name} (No such device)`; i.mtu = null; continue; }
        i.ofport = ofport++;
        i.error = null;
        if (link && i.mtu_request !== null) link.mtu = i.mtu_request;
        i.mtu = link ? link.mtu : null;
        i.link_state = link ? (link.up ? 'up' : 'down') : 'up';
      }
    }
  }

  private unlinkPort(p: ObsPort): void {
    this.state.ports.delete(p.name);
    const b = this.state.bridges.get(p.bridge);
    if (b) b.ports = b.ports.filter((n) => n !== p.name);
    for (const i of p.interfaces) if (i.type === 'internal') this.state.links.delete(i.name);
  }

  private dropBridge(name: string): void {
    const b = this.state.bridges.get(name)!;
    for (const n of b.ports) { const p = this.state.ports.get(n); if (p) this.unlinkPort(p); }
    this.state.bridges.delete(name);
  }

  private insertPort(spec: PortSpec): void {
    const b = this.state.bridges.get(spec.bridge);
    if (!b) throw new Error(`bridge ${spec.bridge} does not exist (port ${spec.name})`);
    const taken = [spec.name, ...spec.interfaces.map((i) => i.name)].find((n) =>
      this.state.ports.has(n) || [...this.state.ports.values()].some((p) => p.interfaces.some((i) => i.name === n)));
    if (taken) throw new Error(`constraint violation: ${taken} already exists (port ${spec.name})`);
    const { bridge, owner, role, interfaces, ...row } = spec;
    void owner; void role;
    this.state.ports.set(spec.name, {
      ...clone(row), uuid: randomUUID(), bridge, external_ids: { ...row.external_ids }, interfaces: interfaces.map((i) => this.newIface(i)),
    });
    b.ports.push(spec.name);
    for (const i of interfaces) {
      if (i.type === 'internal') this.state.links.set(i.name, { name: i.name, up: false, mtu: i.mtu_request ?? 1500, mac: i.mac ?? fakeMac(this.seed, 1000 + this.state.links.size), addrs: [] });
    }
  }

  /** Applies one action; true when it was a switch (OVSDB) write. */
  private applyOne(a: Action): boolean {
    const s = this.state;
    switch (a.kind) {
      case 'add-bridge': {
        if (s.bridges.has(a.bridge.name)) throw new Error(`constraint violation: bridge ${a.bridge.name} exists`);
        const { owner, ...row } = a.bridge;
        void owner;
        s.bridges.set(a.bridge.name, { ...clone(row), uuid: randomUUID(), ports: [] });
        this.insertPort(a.port);
        return true;
      }
      case 'update-bridge': Object.assign(s.bridges.get(a.name)!, clone(a.set)); return true;
      case 'del-bridge': this.dropBridge(a.name); return true;
      case 'add-port': this.insertPort(a.port); return true;
      case 'update-port': Object.assign(s.ports.get(a.name)!, clone(a.set)); return true;
      case 'update-iface': {
        for (const p of s.ports.values()) for (const i of p.interfaces) if (i.name === a.name) Object.assign(i, clone(a.set));
        return true;
      }
      case 'del-port': { const p = s.ports.get(a.name); if (p) this.unlinkPort(p); return true; }
      case 'link-up': case 'link-down': {
        const l = s.links.get(a.dev);
        if (!l) throw new Error(`link ${a.dev} does not exist`);
        l.up = a.kind === 'link-up';
        return false;
      }
      case 'addr-add': { const l = this.link(a.dev); if (!l.addrs.includes(a.cidr)) l.addrs.push(a.cidr); return false; }
      case 'addr-del': { const l = this.link(a.dev); l.addrs = l.addrs.filter((x) => x !== a.cidr); return false; }
      case 'route-default': this.link(a.dev); s.defaultRoute = { dev: a.dev, via: a.via }; return false;
      case 'move-l3': {
        const from = this.link(a.from), to = this.link(a.to);
        to.up = true;
        to.addrs = [...new Set([...to.addrs, ...from.addrs])];
        from.addrs = [];
        if (s.defaultRoute?.dev === a.from) s.defaultRoute = { dev: a.to, via: s.defaultRoute.via };
        return false;
      }
    }
  }

  private link(dev: string): ObsLink {
    const l = this.state.links.get(dev);
    if (!l) throw new Error(`device ${dev} does not exist`);
    return l;
  }
}
