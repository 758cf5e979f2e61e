// The Open vSwitch driver: a host document → OVS rows (rows.ts) → the minimal plan against
// the rows observed (plan.ts) → one OVSDB transaction and iproute2 for addresses and routes
// (through an OvsSwitch: the real one, switch.ts, or the in-memory one of the tests) → the
// host observed again, in the contract's terms.
import type { BondMode, HostDoc, HostDriver, HostState, Nic, ObservedBridge, RealiseResult, StrMap } from '../contract.js';
import { describeAction, guestIdOf, OWNER_KEY, type Action, type ObservedState, type ObsPort, type OvsConfig, type OvsSwitch } from './model.js';
import { findConflicts, planChanges, realisationErrors } from './plan.js';
import { ovsRows } from './rows.js';
import type { OvnChassisRunner } from './ovn-chassis.js';
import type { OvnDbMemberRunner } from './ovn-db-member.js';

export class OvsDriver implements HostDriver {
  readonly kind = 'openvswitch' as const;
  /** The uuid of the host whose rows are ours (set by the first document). */
  private host = '';

  /** `chassis`: this host's OVN side (absent: the in-memory switch of the tests). */
  constructor(readonly sw: OvsSwitch, host = '', private readonly chassis?: OvnChassisRunner, private readonly dbMember?: OvnDbMemberRunner) { this.host = host; }

  async realise(doc: HostDoc): Promise<RealiseResult> {
    this.host = doc.host;
    const cfg = ovsRows(doc, this.sw.datapathType);
    const errors: StrMap = { ...cfg.errors };
    const fail = (ref: string, m: string) => { if (ref) errors[ref] ??= m; };
    // No longer a chassis: ovn-controller leaves first, taking its ports off br-int while the
    // bridge is whole, so that this pass can remove the bridge.
    if (this.chassis && !doc.ovn) await this.chassis.apply(undefined);
    let observed = await this.sw.observe({ expected: expectedLinks(cfg) });
    for (const [ref, m] of Object.entries(findConflicts(cfg, observed))) fail(ref, m);
    const actions = planChanges(cfg, observed);
    let writes = 0;
    if (actions.length > 0) {
      const r = await this.sw.apply(actions);
      writes = r.transactions;
      for (const [ref, m] of Object.entries(r.errors)) fail(ref, m);
      this.sw.markKernelDirty?.(linksTouched(actions, observed));
      observed = await this.sw.observe({ kernel: actions.some((a) => touchesKernel(a, observed)) });
    }
    for (const [ref, m] of Object.entries(realisationErrors(cfg, observed))) fail(ref, m);
    // After the integration bridge exists: ovn-controller would otherwise make its own.
    if (this.chassis && doc.ovn) {
      const e = await this.chassis.apply(doc.ovn);
      const owner = doc.bridges.find((b) => b.integration)?.owner;
      if (e && owner) fail(owner, e);
    }
    if (this.dbMember) {
      const e = await this.dbMember.apply(doc.ovnDb);
      const owner = doc.bridges.find((b) => b.integration)?.owner;
      if (e && owner) fail(owner, e);
      else if (e) process.stderr.write(`${e}\n`);
    }
    if (this.sw.applyLocking) {
      // Every locked VIF whose port exists gets its rules, even one with an error: an error must
      // never leave a locked port open (a port that was not made has no OpenFlow number: skipped).
      for (const [ref, m] of Object.entries(await this.sw.applyLocking(cfg.locks))) fail(ref, m);
    }
    return { changes: actions.map(describeAction), errors, writes, state: hostState(this.host, observed) };
  }

  async observe(): Promise<HostState> { return hostState(this.host, await this.sw.observe()); }
  markKernelDirty(names: Iterable<string>): void { this.sw.markKernelDirty?.(names); }
  nics(): Promise<Nic[]> { return this.sw.nics(); }
  onChange(cb: () => void): () => void { return this.sw.onChange(cb); }
  close(): Promise<void> { this.chassis?.close(); this.dbMember?.close(); return this.sw.close(); }
}

/** Pure: the kernel links the config's ports are (netdevs: internal and system interfaces; tunnels have none). */
export function expectedLinks(cfg: OvsConfig): string[] {
  return cfg.ports.flatMap((p) => p.interfaces.filter((i) => i.type === '' || i.type === 'internal').map((i) => i.name));
}

/**
 * Pure: the kernel links the actions may have changed (made, removed, enslaved to or released
 * from the datapath, raised, addressed), so the next look reads them again. A removed bridge
 * or port takes its interfaces with it, as the observation before applying knows them.
 */
export function linksTouched(actions: Action[], before: ObservedState): string[] {
  const ifacesOf = (port: string) => before.ports.get(port)?.interfaces.map((i) => i.name) ?? [];
  return actions.flatMap((a): string[] => {
    switch (a.kind) {
      case 'add-bridge': return [a.bridge.name, ...a.port.interfaces.map((i) => i.name)];
      case 'add-port': return [a.port.name, ...a.port.interfaces.map((i) => i.name)];
      case 'del-bridge': return [a.name, ...(before.bridges.get(a.name)?.ports ?? []).flatMap((p) => [p, ...ifacesOf(p)])];
      case 'del-port': case 'update-port': return [a.name, ...ifacesOf(a.name)];
      case 'update-bridge': case 'update-iface': return [a.name];
      case 'move-l3': return [a.from, a.to];
      default: return [a.dev];
    }
  });
}

/**
 * Pure: can this action change the part of the kernel view a pass reads after applying (the
 * bridges' own devices: their MTU, addresses; routes)? Ports whose interfaces are not internal
 * (VIFs, NICs, bond members, tunnels) cannot; bridges, internal interfaces and the iproute2
 * actions can. When no action can, the view read before applying is reused, not read again.
 */
export function touchesKernel(a: Action, before: ObservedState): boolean {
  const internal = (types: string[]) => types.some((t) => t === 'internal');
  switch (a.kind) {
    case 'add-port': return internal(a.port.interfaces.map((i) => i.type));
    case 'update-port': case 'del-port': {
      const p = before.ports.get(a.name);
      return !p || internal(p.interfaces.map((i) => i.type));
    }
    case 'update-iface': {
      const i = [...before.ports.values()].flatMap((p) => p.interfaces).find((x) => x.name === a.name);
      return !i || i.type === 'internal';
    }
    default: return true;
  }
}

const isVif = (p: ObsPort) => p.interfaces.some((i) => i.external_ids['xs-vif-uuid'] !== undefined);
const isTunnel = (p: ObsPort) => p.interfaces.some((i) => i.type === 'gre' || i.type === 'vxlan');

function bondModeOf(p: ObsPort): BondMode {
  if (p.lacp === 'active' || p.lacp === 'passive') return 'lacp';
  return p.bond_mode === 'active-backup' ? 'active-backup' : 'balance-slb';
}

/** Pure: OVS rows and kernel links → the host in the contract's terms. */
export function hostState(host: string, o: ObservedState): HostState {
  const out: ObservedBridge[] = [];
  const device = (name: string, own: ObsPort | undefined) => {
    const l = o.links.get(name);
    const i = own?.interfaces.find((x) => x.name === name);
    return { mtu: l?.mtu ?? i?.mtu ?? null, mac: l?.mac ?? null, up: l?.up ?? false, addrs: [...(l?.addrs ?? [])] };
  };
  for (const b of o.bridges.values()) {
    const ports = b.ports.map((n) => o.ports.get(n)).filter((p): p is ObsPort => p !== undefined);
    const members = (tag: number | null) => ports.filter((p) => p.tag === tag && !p.fake_bridge && p.name !== b.name);
    const br: ObservedBridge = {
      name: b.name, id: b.uuid, ours: b.external_ids[OWNER_KEY] === host, ...device(b.name, o.ports.get(b.name)),
      tunnels: [], vifs: [], interfaces: members(null).flatMap((p) => p.interfaces.map((i) => i.name)),
    };
    for (const p of members(null)) {
      if (isVif(p)) br.vifs.push(p.name);
      else if (isTunnel(p)) {
        const i = p.interfaces[0]!;
        br.tunnels.push({ name: p.name, protocol: i.type, remote: i.options.remote_ip ?? '', key: Number(i.options.key ?? 0) });
      } else if (!br.uplink && (p.interfaces.length > 1 || p.bond_mode !== null)) {
        // OVS names the active member by its MAC; the kernel link of that name carries it.
        const activeMac = p.bond_active_slave?.toLowerCase();
        const active = activeMac === undefined ? undefined : p.interfaces.find((i) => o.links.get(i.name)?.mac === activeMac)?.name;
        br.uplink = {
          kind: 'bond', device: p.name, mode: bondModeOf(p),
          members: p.interfaces.map((i) => ({ name: i.name, up: i.link_state === 'up' })),
          ...(active !== undefined ? { active } : {}),
        };
      } else if (!br.uplink && p.interfaces.length === 1 && p.interfaces[0]!.type === '') {
        br.uplink = { kind: 'nic', device: p.name, members: [] };
      }
    }
    out.push(br);
    for (const f of ports.filter((p) => p.fake_bridge && p.tag !== null)) {
      const tagged = members(f.tag);
      out.push({
        name: f.name, id: f.uuid, ours: f.external_ids[OWNER_KEY] === host, ...device(f.name, f),
        vlan: { parent: b.name, tag: f.tag! }, tunnels: [], vifs: tagged.filter(isVif).map((p) => p.name),
        interfaces: tagged.flatMap((p) => p.interfaces.map((i) => i.name)),
      });
    }
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  // Guest ports others made (libvirt, xenopsd's script, an operator's ovs-vsctl) naming a VIF.
  const foreignGuestPorts = [...o.ports.values()].filter((p) => p.external_ids[OWNER_KEY] !== host)
    .flatMap((p) => { const vifUuid = guestIdOf(p); return vifUuid ? [{ name: p.name, bridge: p.bridge, vifUuid }] : []; })
    .sort((a, b) => a.name.localeCompare(b.name));
  return { bridges: out, ...(o.defaultRoute ? { defaultRoute: { ...o.defaultRoute } } : {}), ...(foreignGuestPorts.length ? { foreignGuestPorts } : {}) };
}
