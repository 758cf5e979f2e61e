// The fake driver: an in-memory host that realises the contract itself, not any backend's
// plumbing. Its host is a set of bridges in the contract's own terms (uplink, VLAN, tunnels,
// guest ports, addresses) plus NICs with known facts and the guests' links. It refuses what a
// real host would refuse (a missing NIC or guest link, a bridge someone else made), keeps
// identities across passes, and writes nothing when nothing changes. `xcpnet serve` runs it as
// the simulated local host; the scenario suite runs it on every commit.
import { randomUUID } from 'node:crypto';
import type {
  HostDoc, HostDriver, HostState, Nic, ObservedBridge, RealiseResult, StrMap,
} from '../contract.js';
import { fakeMac, fakeNic } from './nics.js';

export { fakeMac } from './nics.js';

export interface FakeHostOptions {
  /** Number of NICs (default 2) or their names. */
  nics?: number | string[];
  /** Seed for deterministic MACs (e.g. the host uuid). */
  seed?: string;
}

type Bridge = Omit<ObservedBridge, 'interfaces'>;

const clone = <T>(x: T): T => structuredClone(x);

export class FakeHost implements HostDriver {
  readonly kind = 'fake' as const;
  private readonly seed: string;
  private readonly nicList: Nic[] = [];
  /** Links that exist outside any bridge: guest interfaces (vifD.N) plugged by the guest driver. */
  private readonly links = new Map<string, { mac: string; mtu: number }>();
  private readonly bridges = new Map<string, Bridge>();
  private defaultRoute?: { dev: string; via: string };
  private readonly listeners = new Set<() => void>();
  /** Write passes performed (a pass that changed something counts one). */
  writes = 0;

  constructor(opts: FakeHostOptions = {}) {
    this.seed = opts.seed ?? 'fake';
    const names = Array.isArray(opts.nics) ? opts.nics : Array.from({ length: opts.nics ?? 2 }, (_, i) => `eth${i}`);
    for (const n of names) this.addNic(n);
  }

  // ---- changes from outside the driver (tests, guests) ----

  /** Hot-adds a NIC (lab `add-nic` equivalent). */
  addNic(name = `eth${this.nicList.length}`): string {
    this.nicList.push(fakeNic(name, this.nicList.length, fakeMac(this.seed, this.nicList.length), 1500));
    this.emit();
    return name;
  }
  /** Changes a NIC's observed facts (a cable pulled, a slower link…). */
  setNic(name: string, facts: Partial<Omit<Nic, 'device'>>): void {
    const n = this.nicList.find((x) => x.device === name);
    if (!n) throw new Error(`no NIC ${name}`);
    Object.assign(n, facts);
    for (const b of this.bridges.values()) for (const m of b.uplink?.members ?? []) if (m.name === name) m.up = n.carrier;
    this.emit();
  }
  addLink(name: string, mac: string, mtu = 1500): void {
    this.links.set(name, { mac, mtu });
    this.emit();
  }
  removeLink(name: string): void {
    this.links.delete(name);
    for (const b of this.bridges.values()) b.vifs = b.vifs.filter((v) => v !== name);
    this.emit();
  }
  /** Takes a guest port off its bridge, as an operator's command would. */
  removePortByHand(name: string): void {
    for (const b of this.bridges.values()) b.vifs = b.vifs.filter((v) => v !== name);
    this.emit();
  }
  /** Removes a bridge, as an operator's command would. */
  removeBridgeByHand(name: string): void {
    this.bridges.delete(name);
    this.emit();
  }
  /** A bridge made by someone else: the driver must leave it alone. */
  addForeign(name: string): void {
    this.bridges.set(name, { name, id: randomUUID(), ours: false, mtu: 1500, mac: null, up: true, addrs: [], tunnels: [], vifs: [] });
  }

  // ---- HostDriver ----

  async realise(doc: HostDoc): Promise<RealiseResult> {
    const errors: StrMap = {};
    const fail = (ref: string, m: string) => { errors[ref] ??= m; };
    const want = new Map<string, Bridge>();
    const nic = (d: string) => this.nicList.find((n) => n.device === d);
    for (const b of doc.bridges) {
      const have = this.bridges.get(b.name);
      if (have && !have.ours) { fail(b.owner, `bridge ${b.name} exists and is not managed by xcpnet`); continue; }
      if (b.vlan && !want.has(b.vlan.parent)) { fail(b.owner, `parent bridge ${b.vlan.parent} is not realised`); continue; }
      const missing = b.uplink?.kind === 'nic' ? [b.uplink.device].filter((d) => !nic(d))
        : b.uplink?.kind === 'bond' ? b.uplink.members.filter((d) => !nic(d)) : [];
      if (missing.length) fail(b.owner, `interface ${missing[0]}: could not open network device (No such device)`);
      const addrs = doc.addresses.find((a) => a.dev === b.name);
      want.set(b.name, {
        name: b.name, id: have?.id ?? randomUUID(), ours: true, mtu: b.mtu, mac: b.mac ?? fakeMac(this.seed, 1000 + want.size), up: true,
        // DHCP: whatever the host has (nothing hands out addresses here).
        addrs: addrs?.mode === 'Static' ? [...addrs.addrs] : addrs?.mode === 'DHCP' ? [...(have?.addrs ?? [])] : [],
        ...(b.vlan ? { vlan: { ...b.vlan } } : {}),
        ...(b.uplink ? {
          uplink: b.uplink.kind === 'nic'
            ? { kind: 'nic' as const, device: b.uplink.device, members: [] }
            : { kind: 'bond' as const, device: b.uplink.device, mode: b.uplink.mode, members: b.uplink.members.map((m) => ({ name: m, up: nic(m)?.carrier ?? false })) },
        } : {}),
        tunnels: b.tunnels.map((t) => ({ name: t.name, protocol: t.protocol, remote: t.remote, key: t.key })),
        vifs: [],
        igmpSnooping: b.igmpSnooping === true,
      });
    }
    for (const v of doc.vifs) {
      if (v.locking === 'disabled' || v.bridge === undefined) continue;
      const b = want.get(v.bridge);
      if (!b) { fail(v.owner, `bridge ${v.bridge} is not realised`); continue; }
      if (!this.links.has(v.name)) { fail(v.owner, `interface ${v.name}: could not open network device (No such device)`); continue; }
      b.vifs.push(v.name);
    }
    const route = doc.gateway && want.has(doc.gateway.dev) ? { dev: doc.gateway.dev, via: doc.gateway.via } : this.defaultRoute;

    const changes = this.diff(want, route);
    if (changes.length > 0) {
      this.writes++;
      for (const [name, b] of [...this.bridges]) if (b.ours) this.bridges.delete(name);
      for (const [name, b] of want) this.bridges.set(name, b);
      if (route) this.defaultRoute = route;
    }
    return { changes, errors, writes: changes.length > 0 ? 1 : 0, state: await this.observe() };
  }

  private diff(want: Map<string, Bridge>, route: { dev: string; via: string } | undefined): string[] {
    const out: string[] = [];
    for (const [name, b] of this.bridges) if (b.ours && !want.has(name)) out.push(`remove bridge ${name}`);
    for (const [name, b] of want) {
      const have = this.bridges.get(name);
      if (!have) { out.push(`create bridge ${name}`); continue; }
      const changed = (Object.keys(b) as (keyof Bridge)[]).filter((k) => JSON.stringify(b[k]) !== JSON.stringify(have[k]));
      if (changed.length) out.push(`update bridge ${name} (${changed.join(',')})`);
    }
    if (route && (route.dev !== this.defaultRoute?.dev || route.via !== this.defaultRoute?.via)) out.push(`default route via ${route.via} dev ${route.dev}`);
    return out;
  }

  async observe(): Promise<HostState> {
    const bridges = [...this.bridges.values()].map((b): ObservedBridge => ({
      ...clone(b),
      interfaces: [...(b.uplink?.kind === 'nic' ? [b.uplink.device] : b.uplink?.members.map((m) => m.name) ?? []), ...b.tunnels.map((t) => t.name), ...b.vifs],
    })).sort((a, b) => a.name.localeCompare(b.name));
    return { bridges, ...(this.defaultRoute ? { defaultRoute: { ...this.defaultRoute } } : {}) };
  }

  async nics(): Promise<Nic[]> {
    return this.nicList.map((n) => ({ ...n }));
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> { this.listeners.clear(); }

  private emit(): void { for (const l of this.listeners) l(); }
}
