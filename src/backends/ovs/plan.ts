// Desired host config × observed state → the minimal ordered list of actions. Pure.
// Rules: only rows carrying our ownership marker are changed or removed; a desired state equal
// to the observed one yields no action at all; a row whose identity changed (bridge, interface
// set or type) is removed and re-added, everything else is updated column by column.
import {
  guestIdOf, OWNER_KEY, type Action, type BridgeRow, type OvsConfig, type IfaceRow, type ObsBridge, type ObservedState,
  type ObsIface, type ObsPort, type PortRow, type PortSpec, type StrMap,
} from './model.js';

const BRIDGE_COLS = ['datapath_type', 'fail_mode', 'mcast_snooping_enable', 'other_config', 'external_ids'] as const;
const PORT_COLS = ['tag', 'fake_bridge', 'protected', 'bond_mode', 'lacp', 'bond_updelay', 'bond_downdelay', 'mac', 'other_config', 'external_ids'] as const;
const IFACE_COLS = ['options', 'mtu_request', 'mac', 'external_ids', 'other_config'] as const;

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a as StrMap), kb = Object.keys(b as StrMap);
    return ka.length === kb.length && ka.every((k) => (a as StrMap)[k] === (b as StrMap)[k]);
  }
  return false;
}

/** external_ids keys ovn-controller keeps on the integration bridge and its ports (ovn-nb-cfg…): theirs. */
const withoutOvnKeys = (m: unknown): unknown =>
  (m && typeof m === 'object' ? Object.fromEntries(Object.entries(m as StrMap).filter(([k]) => !k.startsWith('ovn-'))) : m);

function diff<T extends object>(want: T, have: T, cols: readonly (keyof T)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const c of cols) {
    const h = c === 'external_ids' ? withoutOvnKeys(have[c]) : have[c];
    if (!sameValue(want[c], h)) out[c] = want[c];
  }
  return out;
}

const nonEmpty = (o: object) => Object.keys(o).length > 0;

/** Who owns an observed row, judged by its external_ids. */
export const ownedBy = (hostUuid: string, row: { external_ids: StrMap }) => row.external_ids[OWNER_KEY] === hostUuid;

/**
 * Ours to manage: made by us, or a guest port the hypervisor's tooling made for a VIF we are told
 * to adopt (its interfaces name that VIF). Updating it then writes our marker on it.
 */
function managed(d: OvsConfig, p: ObsPort): boolean {
  if (ownedBy(d.hostUuid, p)) return true;
  const vif = d.adopt.get(p.name);
  return vif !== undefined && guestIdOf(p)?.toLowerCase() === vif.toLowerCase();
}

/** A port must be rebuilt (not updated) when its bridge, interface names or types changed. */
function needsRebuild(want: PortSpec, have: ObsPort): boolean {
  if (want.bridge !== have.bridge || want.fake_bridge !== have.fake_bridge) return true;
  if (want.interfaces.length !== have.interfaces.length) return true;
  const byName = new Map(have.interfaces.map((i) => [i.name, i]));
  return want.interfaces.some((i) => byName.get(i.name)?.type !== i.type);
}

/** Objects that cannot be realised because a foreign row holds the name they need: ref → message. */
export function findConflicts(d: OvsConfig, o: ObservedState): StrMap {
  const out: StrMap = {};
  const ifaceOwner = observedIfaces(o);
  for (const b of d.bridges) {
    const have = o.bridges.get(b.name);
    if (have && !ownedBy(d.hostUuid, have)) out[b.owner] ??= `bridge ${b.name} exists and is not managed by xcpnet`;
  }
  for (const p of d.ports) {
    const br = o.bridges.get(p.bridge);
    if (br && !ownedBy(d.hostUuid, br)) out[p.owner] ??= `bridge ${p.bridge} exists and is not managed by xcpnet`;
    for (const n of new Set([p.name, ...p.interfaces.map((i) => i.name)])) {
      const holder = o.ports.get(n) ?? ifaceOwner.get(n);
      if (holder && !managed(d, holder)) out[p.owner] ??= `port ${n} exists and is not managed by xcpnet`;
    }
  }
  return out;
}

function observedIfaces(o: ObservedState): Map<string, ObsPort> {
  const m = new Map<string, ObsPort>();
  for (const p of o.ports.values()) for (const i of p.interfaces) m.set(i.name, p);
  return m;
}

export function planChanges(d: OvsConfig, o: ObservedState): Action[] {
  const mine = (row: { external_ids: StrMap }) => ownedBy(d.hostUuid, row);
  const conflicts = findConflicts(d, o);
  const wantBridges = new Map(d.bridges.map((b) => [b.name, b]));
  const wantPorts = new Map(d.ports.map((p) => [p.name, p]));

  const delBridges: Action[] = [], delPorts: Action[] = [], addBridges: Action[] = [], updBridges: Action[] = [];
  const addPorts: Action[] = [], updPorts: Action[] = [], updIfaces: Action[] = [], links: Action[] = [];
  const addrDel: Action[] = [], addrAdd: Action[] = [], routes: Action[] = [], moves: Action[] = [];

  // Bridges to remove: ours and no longer wanted. One holding foreign ports is kept (its
  // foreign ports would be garbage-collected with it); our ports on it are removed below.
  const goneBridges = new Set<string>();
  for (const b of o.bridges.values()) {
    if (!mine(b) || wantBridges.has(b.name)) continue;
    const foreign = b.ports.some((n) => { const p = o.ports.get(n); return p !== undefined && !mine(p); });
    if (foreign) continue;
    goneBridges.add(b.name);
    delBridges.push({ kind: 'del-bridge', name: b.name, uuid: b.uuid });
  }

  // Ports to remove: ours and unwanted, or needing a rebuild. Ports on removed bridges go with them.
  const gonePorts = new Set<string>();
  for (const p of o.ports.values()) {
    if (goneBridges.has(p.bridge)) { gonePorts.add(p.name); continue; }
    if (!managed(d, p)) continue;
    const want = wantPorts.get(p.name);
    if (want && !conflicts[want.owner] && !needsRebuild(want, p)) continue;
    if (want && conflicts[want.owner]) continue; // leave it until the conflict is resolved
    gonePorts.add(p.name);
    delPorts.push({ kind: 'del-port', name: p.name, uuid: p.uuid, bridge: p.bridge });
  }

  const presentBridge = (name: string): ObsBridge | undefined => (goneBridges.has(name) ? undefined : o.bridges.get(name));
  const newBridges = new Set<string>();
  for (const b of d.bridges) {
    if (conflicts[b.owner]) continue;
    const have = presentBridge(b.name);
    if (!have) {
      const own = wantPorts.get(b.name)!;
      addBridges.push({ kind: 'add-bridge', bridge: b, port: own });
      newBridges.add(b.name);
      continue;
    }
    const set = diff<BridgeRow>(b, have, BRIDGE_COLS);
    if (nonEmpty(set)) updBridges.push({ kind: 'update-bridge', name: b.name, uuid: have.uuid, owner: b.owner, set });
  }

  const linkExists = (n: string) => o.links.has(n);
  const wantUp = (dev: string, owner: string, created: boolean) => {
    const l = o.links.get(dev);
    if (l ? !l.up : created) links.push({ kind: 'link-up', dev, owner });
  };
  for (const p of d.ports) {
    if (conflicts[p.owner]) continue;
    const bridgeOk = newBridges.has(p.bridge) || (presentBridge(p.bridge) !== undefined && mine(presentBridge(p.bridge)!));
    if (!bridgeOk) continue;
    const have = gonePorts.has(p.name) ? undefined : o.ports.get(p.name);
    const created = !have;
    if (!have) {
      if (!(p.role === 'bridge' && newBridges.has(p.name))) addPorts.push({ kind: 'add-port', port: p });
    } else {
      const set = diff<PortRow>(p, have, PORT_COLS);
      if (nonEmpty(set)) updPorts.push({ kind: 'update-port', name: p.name, uuid: have.uuid, owner: p.owner, set });
      const byName = new Map<string, ObsIface>(have.interfaces.map((i) => [i.name, i]));
      for (const i of p.interfaces) {
        const hi = byName.get(i.name)!;
        const iset = diff<IfaceRow>(i, hi, IFACE_COLS);
        if (nonEmpty(iset)) updIfaces.push({ kind: 'update-iface', name: i.name, uuid: hi.uuid, owner: p.owner, set: iset });
      }
    }
    for (const i of p.interfaces) {
      // netdevs only: tunnel interfaces have none; VIF/NIC links that do not exist cannot be raised.
      if (i.type === 'internal') wantUp(i.name, p.owner, created);
      else if (i.type === '' && linkExists(i.name)) {
        if (p.down) { if (o.links.get(i.name)?.up) links.push({ kind: 'link-down', dev: i.name, owner: p.owner }); }
        else wantUp(i.name, p.owner, false);
      }
      // A NIC (or bond member) the bridge takes over keeps no address: what it holds moves to
      // the bridge device, in one step, so the host's address never stops answering.
      if ((p.role === 'nic' || p.role === 'bond') && (o.links.get(i.name)?.addrs.length ?? 0) > 0) {
        moves.push({ kind: 'move-l3', from: i.name, to: p.bridge, owner: p.owner });
      }
    }
  }

  for (const ip of d.ips) {
    // DHCP: the lease's address once there is one (the agent fills addrs); until then whatever
    // the bridge holds stays (e.g. the address moved from the NIC it took over).
    if ((ip.mode === 'DHCP' && ip.addrs.length === 0) || conflicts[ip.owner]) continue;
    const have = new Set(o.links.get(ip.dev)?.addrs ?? []);
    const want = new Set(ip.addrs);
    for (const a of have) if (!want.has(a)) addrDel.push({ kind: 'addr-del', dev: ip.dev, cidr: a, owner: ip.owner });
    for (const a of want) if (!have.has(a)) addrAdd.push({ kind: 'addr-add', dev: ip.dev, cidr: a, owner: ip.owner });
  }
  const gw = d.gateway;
  // Removing an address of the gateway's device takes the kernel's default route with it: set
  // it again after the address work even when it is the one observed.
  const gwAddrGone = gw !== undefined && addrDel.some((a) => a.kind === 'addr-del' && a.dev === gw.dev);
  if (gw && !conflicts[gw.owner] && (gwAddrGone || o.defaultRoute?.dev !== gw.dev || o.defaultRoute?.via !== gw.via)) {
    routes.push({ kind: 'route-default', dev: gw.dev, via: gw.via, owner: gw.owner });
  }

  return [...delPorts, ...delBridges, ...addBridges, ...updBridges, ...addPorts, ...updPorts, ...updIfaces,
    ...links, ...moves, ...addrDel, ...addrAdd, ...routes];
}

/** Failures ovs-vswitchd reports on our interfaces after applying (Interface.error / ofport -1), by object. */
export function realisationErrors(d: OvsConfig, o: ObservedState): StrMap {
  const out: StrMap = {};
  for (const p of d.ports) {
    const have = o.ports.get(p.name);
    if (!have || !managed(d, have)) continue;
    for (const i of have.interfaces) {
      if (i.error || i.ofport === -1) out[p.owner] ??= `interface ${i.name}: ${i.error ?? 'could not be created'}`;
    }
  }
  return out;
}
