// A host document × the kernel's links → the ordered iproute2 operations that realise it as
// XenServer's bridge backend does: a Linux bridge per network; its NIC, or a bond of NICs (the
// kernel bonding driver), as uplink; a VLAN as the device `<uplink>.<tag>` in a bridge of its
// own; a cross-server private network as one VXLAN (or GRE) device per peer, isolated from the
// other tunnels (split horizon); guest interfaces `vif<domid>.<device>` as bridge ports. Pure.
// Only devices carrying the marker are changed or removed; NICs and guest interfaces are only
// enslaved, released, raised and sized. Nothing to change gives no operation at all.
import type { HostBridge, HostDoc, StrMap } from '../contract.js';
import { isIfName } from '../../common/net-syntax.js';
import { bondSettings, markerOf, type KernelState, type KLink, type OwnedOp } from './model.js';

/** What a wanted device must be; a device of that name that is something else is re-created. */
type Want =
  | { kind: 'bridge' }
  | { kind: 'bond'; mode: string }
  | { kind: 'vlan'; lower: string; tag: number }
  | { kind: 'vxlan' | 'gretap'; key: number; remote: string };

function matches(l: KLink, w: Want): boolean {
  switch (w.kind) {
    case 'bridge': return l.kind === 'bridge';
    case 'bond': return l.kind === 'bond' && l.bondMode === w.mode;
    case 'vlan': return l.kind === 'vlan' && l.lower === w.lower && l.id === w.tag;
    default: return l.kind === w.kind && l.id === w.key && l.remote === w.remote;
  }
}

export interface BridgePlan { ops: OwnedOp[]; errors: StrMap }

/**
 * Pure: the links the plan looks for: bridges, their uplinks (NIC, bond and members), VLAN
 * devices, tunnels, and the VIFs put into a bridge. The driver asks the kernel afresh for each
 * one its view lacks (a guest's device may have been made a moment ago, before the kernel's
 * notification of it). A VLAN device name too long to exist is left out (the plan refuses it).
 */
export function expectedLinks(doc: HostDoc): string[] {
  const uplinkDev = new Map<string, string>();
  const names: string[] = [];
  for (const b of doc.bridges) {
    names.push(b.name, ...b.tunnels.map((t) => t.name));
    const u = b.uplink;
    if (b.vlan) {
      const lower = uplinkDev.get(b.vlan.parent);
      if (lower !== undefined) names.push(`${lower}.${b.vlan.tag}`);
    } else if (u?.kind === 'nic') {
      names.push(u.device);
      uplinkDev.set(b.name, u.device);
    } else if (u) {
      // A bond of one NIC is that NIC (as planned below).
      const dev = u.members.length === 1 ? u.members[0]! : u.device;
      names.push(...(u.members.length === 1 ? [] : [u.device]), ...u.members);
      uplinkDev.set(b.name, dev);
    }
  }
  for (const v of doc.vifs) if (v.bridge !== undefined && v.locking !== 'disabled') names.push(v.name);
  return names.filter(isIfName);
}

export function planBridge(doc: HostDoc, k: KernelState): BridgePlan {
  const mark = markerOf(doc.host);
  const ours = (l: KLink | undefined) => l?.alias === mark;
  const errors: StrMap = {};
  const fail = (ref: string, m: string) => { errors[ref] ??= m; };
  const del: OwnedOp[] = [], release: OwnedOp[] = [], create: OwnedOp[] = [], attrs: OwnedOp[] = [];
  const enslave: OwnedOp[] = [], up: OwnedOp[] = [], moves: OwnedOp[] = [], addrs: OwnedOp[] = [], routes: OwnedOp[] = [];

  /** Devices the driver makes, by name → what they must be and who wants them. */
  const made = new Map<string, { want: Want; owner: string }>();
  /** Every device that must be on a master: name → master, owner, mtu. */
  const slaves = new Map<string, { master: string; owner: string; mtu: number; down?: boolean }>();
  const mtus = new Map<string, { mtu: number; owner: string }>();
  const macs = new Map<string, { mac: string; owner: string }>();
  // A new bridge snoops by default (the kernel's): every bridge is set as the document says.
  const snoop = new Map<string, { on: boolean; owner: string }>();
  const isolated = new Set<string>();
  const uplinkDev = new Map<string, string>(); // bridge → the device VLANs sit on
  const takenNics = new Map<string, string>(); // NIC (or bond member) → the bridge it ends up under
  const skip = new Set<string>(); // bridges blocked by a foreign device

  for (const b of doc.bridges) {
    const have = k.links.get(b.name);
    if (have && !ours(have)) { fail(b.owner, `${b.name} exists and is not managed by xcpnet`); skip.add(b.name); continue; }
    made.set(b.name, { want: { kind: 'bridge' }, owner: b.owner });
    mtus.set(b.name, { mtu: b.mtu, owner: b.owner });
    if (b.mac) macs.set(b.name, { mac: b.mac, owner: b.owner });
    snoop.set(b.name, { on: b.igmpSnooping === true, owner: b.owner });
    realiseUplink(b);
    for (const t of b.tunnels) {
      const kind = t.protocol === 'vxlan' ? 'vxlan' : 'gretap';
      if (!claimMade(t.name, { kind, key: t.key, remote: t.remote }, b.owner)) continue;
      slaves.set(t.name, { master: b.name, owner: b.owner, mtu: b.mtu });
      isolated.add(t.name);
    }
  }

  function claimMade(name: string, want: Want, owner: string): boolean {
    const have = k.links.get(name);
    if (have && !ours(have)) { fail(owner, `${name} exists and is not managed by xcpnet`); return false; }
    made.set(name, { want, owner });
    return true;
  }

  function realiseUplink(b: HostBridge): void {
    if (b.vlan) {
      const lower = uplinkDev.get(b.vlan.parent);
      if (lower === undefined) { fail(b.owner, `parent bridge ${b.vlan.parent} has no uplink for VLAN ${b.vlan.tag}`); return; }
      const name = `${lower}.${b.vlan.tag}`;
      if (name.length > 15) { fail(b.owner, `VLAN device name ${name} is too long`); return; }
      if (!claimMade(name, { kind: 'vlan', lower, tag: b.vlan.tag }, b.owner)) return;
      slaves.set(name, { master: b.name, owner: b.owner, mtu: b.mtu });
      return;
    }
    const u = b.uplink;
    if (!u) return;
    if (u.kind === 'nic') {
      takenNics.set(u.device, b.name);
      slaves.set(u.device, { master: b.name, owner: b.owner, mtu: b.mtu });
      uplinkDev.set(b.name, u.device);
      return;
    }
    // A bond of one NIC is that NIC (xcp-networkd does the same).
    if (u.members.length === 1) {
      takenNics.set(u.members[0]!, b.name);
      slaves.set(u.members[0]!, { master: b.name, owner: b.owner, mtu: b.mtu });
      uplinkDev.set(b.name, u.members[0]!);
      return;
    }
    const s = bondSettings(u.properties);
    if (!claimMade(u.device, { kind: 'bond', mode: s.mode }, b.owner)) return;
    slaves.set(u.device, { master: b.name, owner: b.owner, mtu: b.mtu });
    if (u.mac) macs.set(u.device, { mac: u.mac, owner: b.owner });
    for (const m of u.members) { takenNics.set(m, b.name); slaves.set(m, { master: u.device, owner: b.owner, mtu: b.mtu }); }
    uplinkDev.set(b.name, u.device);
  }

  for (const v of doc.vifs) {
    if (v.bridge === undefined || skip.has(v.bridge)) continue;
    if (v.locking === 'disabled') continue;
    slaves.set(v.name, { master: v.bridge, owner: v.owner, mtu: v.mtu, ...(v.paused ? { down: true } : {}) });
  }

  // Our devices no longer wanted (or wanted as something else) go first; their ports fall off.
  const gone = new Set<string>();
  for (const l of k.links.values()) {
    if (!ours(l)) continue;
    const w = made.get(l.name);
    if (w && matches(l, w.want)) continue;
    gone.add(l.name);
    del.push({ op: 'del', name: l.name, owner: w?.owner ?? '' });
  }
  const present = (n: string) => k.links.has(n) && !gone.has(n);
  // Ports of our bridges and bonds that must leave them (a NIC back to itself, a VIF elsewhere).
  for (const l of k.links.values()) {
    if (!l.master || gone.has(l.name) || gone.has(l.master) || !ours(k.links.get(l.master))) continue;
    if (slaves.get(l.name)?.master !== l.master && !made.has(l.name)) release.push({ op: 'nomaster', name: l.name, owner: '' });
  }

  for (const [name, { want, owner }] of made) {
    if (present(name)) continue;
    switch (want.kind) {
      case 'bridge': create.push({ op: 'add-bridge', name, owner }); break;
      case 'bond': {
        const b = doc.bridges.find((x) => x.uplink?.device === name)!;
        create.push({ op: 'add-bond', name, owner, ...bondSettings(b.uplink!.kind === 'bond' ? b.uplink!.properties : {}) });
        break;
      }
      case 'vlan': create.push({ op: 'add-vlan', name, lower: want.lower, tag: want.tag, owner }); break;
      default: create.push({ op: 'add-tunnel', name, protocol: want.kind === 'vxlan' ? 'vxlan' : 'gre', key: want.key, remote: want.remote, owner });
    }
    create.push({ op: 'mark', name, alias: mark, owner });
  }

  const exists = (n: string) => present(n) || made.has(n);
  for (const [name, s] of slaves) {
    const l = gone.has(name) ? undefined : k.links.get(name);
    if (!exists(name)) { fail(s.owner, `interface ${name} does not exist`); continue; }
    const master = k.links.get(s.master);
    if (master && !made.has(s.master)) { fail(s.owner, `${s.master} is not managed by xcpnet`); continue; }
    if (l?.master && l.master !== s.master && !ours(k.links.get(l.master)) && !gone.has(l.master)) {
      fail(s.owner, `interface ${name} is already in ${l.master}`);
      continue;
    }
    const intoBond = k.links.get(s.master)?.kind === 'bond' || made.get(s.master)?.want.kind === 'bond';
    // A bond's members take the bond's MTU from the bonding driver.
    if (!intoBond && l?.mtu !== s.mtu) attrs.push({ op: 'mtu', name, mtu: s.mtu, owner: s.owner });
    if (l?.master !== s.master || gone.has(s.master)) {
      // The bonding driver takes only members that are down.
      if (intoBond) enslave.push({ op: 'down', name, owner: s.owner });
      enslave.push({ op: 'master', name, master: s.master, owner: s.owner });
    }
    if (isolated.has(name) && l?.isolated !== true) enslave.push({ op: 'isolated', name, on: true, owner: s.owner });
    // A paused VM's device is held down (its port stays); every other member is up.
    if (s.down) { if (l?.up !== false) up.push({ op: 'down', name, owner: s.owner }); }
    else if (!l?.up || l.master !== s.master) up.push({ op: 'up', name, owner: s.owner });
    // A NIC the bridge takes over keeps no address: what it holds moves to the bridge in one
    // step once the NIC is in it, so the host's address stops answering only between the two.
    const top = takenNics.get(name);
    if (top !== undefined && (l?.addrs.length ?? 0) > 0) moves.push({ op: 'move-l3', name, to: top, owner: s.owner });
  }
  for (const [name, m] of mtus) {
    const l = present(name) ? k.links.get(name) : undefined;
    if (l?.mtu !== m.mtu) attrs.push({ op: 'mtu', name, mtu: m.mtu, owner: m.owner });
    if (!l?.up) up.push({ op: 'up', name, owner: m.owner });
  }
  for (const [name, m] of macs) {
    const l = present(name) ? k.links.get(name) : undefined;
    if (l?.mac !== m.mac) attrs.push({ op: 'mac', name, mac: m.mac, owner: m.owner });
  }
  for (const [name, m] of snoop) {
    if (skip.has(name)) continue;
    // A bridge made now snoops (the kernel's default) until told; one whose state the kernel
    // did not say is left as it is.
    const l = present(name) ? k.links.get(name) : undefined;
    if (l ? l.mcastSnooping !== undefined && l.mcastSnooping !== m.on : true) attrs.push({ op: 'mcast-snooping', name, on: m.on, owner: m.owner });
  }

  for (const a of doc.addresses) {
    // DHCP: the lease's address once there is one (the agent fills addrs); until then whatever
    // the bridge holds stays.
    if ((a.mode === 'DHCP' && a.addrs.length === 0) || skip.has(a.dev)) continue;
    const movedHere = moves.flatMap((o) => (o.op === 'move-l3' && o.to === a.dev ? k.links.get(o.name)?.addrs ?? [] : []));
    const have = new Set([...(present(a.dev) ? k.links.get(a.dev)!.addrs : []), ...movedHere]);
    const want = new Set(a.addrs);
    for (const c of have) if (!want.has(c)) addrs.push({ op: 'addr-del', name: a.dev, cidr: c, owner: a.owner });
    for (const c of want) if (!have.has(c)) addrs.push({ op: 'addr-add', name: a.dev, cidr: c, owner: a.owner });
  }
  const gw = doc.gateway;
  // Removing an address also removes the routes through it: the default route is put back then.
  const readdressed = addrs.some((o) => o.op === 'addr-del' && o.name === gw?.dev);
  if (gw && !skip.has(gw.dev) && (readdressed || k.defaultRoute?.dev !== gw.dev || k.defaultRoute?.via !== gw.via)) {
    routes.push({ op: 'route-default', name: gw.dev, via: gw.via, owner: gw.owner });
  }
  // Enslaving sets a port's MTU limits: bridges are sized after their ports.
  const ordered = [...attrs.filter((o) => !mtus.has(o.name)), ...attrs.filter((o) => mtus.has(o.name))];
  // A NIC in the bridge no longer answers for its addresses: they move right after (the move
  // brings the bridge up itself).
  return { ops: [...del, ...release, ...create, ...enslave, ...moves, ...ordered, ...up, ...addrs, ...routes], errors };
}
