// The topology of a pool as a graph: XenAPI records (as event.from gives them) and, for a lab,
// its physical wiring, in; nodes and edges with labels and states out. Pure: no I/O, no DOM, so
// the browser view bundles it and the tests run it in node.
//
// What is drawn, left to right: the lab's upstream and switch, cables, each host's NICs
// (carrier, speed), bonds (mode, primary and active member, links up), VLAN PIFs (tag on parent) and tunnel
// access PIFs (protocol, key, status), the pool's networks (bridge, name, MTU), and each VM
// (power state, host, guest addresses) holding its VIFs (device, MAC, locking). Tunnels between
// hosts join the access PIFs of one network on two hosts.

/** A record as a XenAPI client sees it (field names verbatim). */
export type Rec = Record<string, unknown>;

/** The classes the view reads, by the lower-case names event.from uses. */
export const TOPOLOGY_CLASSES = ['host', 'pif', 'pif_metrics', 'bond', 'vlan', 'tunnel', 'network', 'vif', 'vm'] as const;
export type TopologyClass = typeof TOPOLOGY_CLASSES[number];
export type Records = Record<TopologyClass, Map<string, Rec>>;

export function emptyRecords(): Records {
  return Object.fromEntries(TOPOLOGY_CLASSES.map((c) => [c, new Map<string, Rec>()])) as Records;
}

/** One event of event.from: add/mod carry the record's snapshot; del has none. */
export interface TopologyEvent { class: string; operation: string; ref: string; snapshot?: unknown }

/** Applies events to the records; returns whether any of the view's classes changed. */
export function applyEvents(records: Records, events: readonly TopologyEvent[]): boolean {
  let changed = false;
  for (const ev of events) {
    const table = records[String(ev.class).toLowerCase() as TopologyClass];
    if (!table || typeof ev.ref !== 'string') continue;
    if (ev.operation === 'del') changed = table.delete(ev.ref) || changed;
    else if (isObject(ev.snapshot)) { table.set(ev.ref, ev.snapshot); changed = true; }
  }
  return changed;
}

// ---- the lab's physical layer ----

/** What a lab publishes about the wiring no XenAPI record holds: its switch, cables and upstream. */
export interface LabWiring {
  version: 1;
  lab: string;
  switch: { name: string };
  upstream: { name: string; port: string; gateways: { vlan: number; address: string }[] };
  /** One per host NIC: which switch port its cable reaches, and whether the cable is in. */
  cables: { host: string; device: string; port: string; state: 'up' | 'down' }[];
}

const NAME = /^[A-Za-z0-9_.:/@-]{1,64}$/;
const ADDRESS = /^[0-9A-Fa-f.:]{2,45}\/\d{1,3}$/;
/** Far beyond a lab's 99 hosts × 99 NICs; the wiring is read whole, so it is bounded. */
export const MAX_CABLES = 10_000;

/** The wiring as published, checked field by field; throws on anything else. */
export function parseWiring(value: unknown): LabWiring {
  const fail = (what: string): never => { throw new Error(`lab wiring: ${what}`); };
  const name = (v: unknown, what: string): string => (typeof v === 'string' && NAME.test(v) ? v : fail(`bad ${what}`));
  if (!isObject(value) || value.version !== 1) fail('not version 1');
  const v = value as Rec;
  const sw = isObject(v.switch) ? v.switch : fail('no switch');
  const up = isObject(v.upstream) ? v.upstream : fail('no upstream');
  const gateways = Array.isArray(up.gateways) && up.gateways.length <= 4096 ? up.gateways : fail('bad upstream gateways');
  const cables = Array.isArray(v.cables) && v.cables.length <= MAX_CABLES ? v.cables : fail('bad cables');
  return {
    version: 1,
    lab: name(v.lab, 'lab name'),
    switch: { name: name(sw.name, 'switch name') },
    upstream: {
      name: name(up.name, 'upstream name'), port: name(up.port, 'upstream port'),
      gateways: gateways.map((g: unknown) => {
        if (!isObject(g) || !Number.isInteger(g.vlan) || (g.vlan as number) < 0 || (g.vlan as number) > 4094) return fail('bad gateway VLAN');
        if (typeof g.address !== 'string' || !ADDRESS.test(g.address)) return fail('bad gateway address');
        return { vlan: g.vlan as number, address: g.address };
      }),
    },
    cables: cables.map((c: unknown) => {
      if (!isObject(c) || (c.state !== 'up' && c.state !== 'down')) return fail('bad cable state');
      return { host: name(c.host, 'cable host'), device: name(c.device, 'cable device'), port: name(c.port, 'cable port'), state: c.state };
    }),
  };
}

// ---- the graph ----

export type NodeKind = 'upstream' | 'switch' | 'host' | 'nic' | 'bond' | 'vlan' | 'tunnel' | 'network' | 'vm' | 'vif';
export type EdgeKind = 'trunk' | 'cable' | 'member' | 'tag' | 'transport' | 'uplink' | 'vif' | 'tunnel';
/** ok: up, running, attached; down: no carrier, cable out, halted, unplugged; idle: neither (no record of it yet). */
export type State = 'ok' | 'down' | 'idle';

export interface TopologyNode {
  id: string;
  kind: NodeKind;
  /** The compound node this one is drawn in (a host, a VM). */
  parent?: string;
  /** Lines shown on the node. */
  label: string;
  state: State;
  /** Name/value pairs shown when the node is selected. */
  details: [string, string][];
}

export interface TopologyEdge {
  id: string;
  kind: EdgeKind;
  source: string;
  target: string;
  label: string;
  state: State;
  /** A bond member edge: the member the bond sends through now (Bond.active_member). */
  active?: boolean;
}

export interface Topology { nodes: TopologyNode[]; edges: TopologyEdge[] }

/** The network.other_config key where the pool's tunnel controller keeps a network's tunnel key. */
export const TUNNEL_KEY = 'xcpnet-tunnel-key';
const NULL_REF = 'OpaqueRef:NULL';

export function buildTopology(records: Records, wiring?: LabWiring): Topology {
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  const node = (n: TopologyNode) => nodes.push(n);
  const edge = (e: TopologyEdge) => edges.push(e);
  const get = (cls: TopologyClass, ref: unknown): Rec | undefined => (typeof ref === 'string' ? records[cls].get(ref) : undefined);
  const pifName = (ref: unknown): string => str(get('pif', ref)?.device) || '?';
  const hosts = sorted(records.host, (h) => str(h.name_label));

  // The lab: upstream → switch → cables to each host's NICs.
  const cableOf = new Map<string, LabWiring['cables'][number]>();
  if (wiring) {
    const sw = `lab:switch`;
    node({ id: 'lab:upstream', kind: 'upstream', label: lines(wiring.upstream.name, ...wiring.upstream.gateways.map((g) => `VLAN ${g.vlan}${g.vlan === 1 ? ' (native)' : ''} ${g.address}`)),
      state: 'ok', details: [['lab', wiring.lab], ['switch port', wiring.upstream.port], ...wiring.upstream.gateways.map((g): [string, string] => [`gateway VLAN ${g.vlan}`, g.address])] });
    node({ id: sw, kind: 'switch', label: lines(wiring.switch.name, `lab ${wiring.lab} switch`), state: 'ok',
      details: [['lab', wiring.lab], ['ports', '802.1Q trunks, native VLAN 1']] });
    edge({ id: 'lab:trunk', kind: 'trunk', source: 'lab:upstream', target: sw, label: `trunk ${wiring.upstream.port}`, state: 'ok' });
    for (const c of wiring.cables) cableOf.set(`${c.host}/${c.device}`, c);
  }

  for (const [hostRef, h] of hosts) {
    const hostId = `host:${hostRef}`;
    const hostName = str(h.name_label);
    const backend = str(strMap(h.software_version).network_backend);
    node({ id: hostId, kind: 'host', label: lines(hostName, str(h.address), backend), state: 'ok',
      details: [['host', hostName], ['uuid', str(h.uuid)], ['address', str(h.address)], ['network backend', backend]] });
    const pifs = sorted(records.pif, (p) => `${str(p.device)} ${String(num(p.VLAN)).padStart(5, '0')}`).filter(([, p]) => p.host === hostRef);
    for (const [ref, p] of pifs) {
      const id = `pif:${ref}`;
      const device = str(p.device);
      const attached = p.currently_attached === true;
      const mtu = `MTU ${num(p.MTU)}`;
      const mgmt = p.management === true ? `management ${str(p.IP)}`.trim() : '';
      const bondRef = list(p.bond_master_of)[0];
      const vlan = get('vlan', p.VLAN_master_of);
      const tunnelRef = list(p.tunnel_access_PIF_of)[0];
      const common: [string, string][] = [['PIF uuid', str(p.uuid)], ['device', device], ['attached', yesNo(attached)], ['MTU', String(num(p.MTU))]];
      if (mgmt) common.push(['management', str(p.IP)]);
      if (bondRef !== undefined) {
        const b = get('bond', bondRef) ?? {};
        const members = list(b.slaves).map(pifName).sort();
        const up = num(b.links_up);
        // The member the host's agent reports carrying the traffic (NULL: none, or not reported).
        const active = get('pif', b.active_member) ? pifName(b.active_member) : '';
        node({ id, kind: 'bond', parent: hostId, state: attached && up > 0 ? 'ok' : 'down',
          label: lines(device, `bond ${str(b.mode)}`, `primary ${pifName(b.primary_slave)}`, active && `active ${active}`, `${up}/${members.length} links up`, mgmt),
          details: [...common, ['bond mode', str(b.mode)], ['members', members.join(', ')], ['primary member', pifName(b.primary_slave)],
            ['active member', active || 'none'], ['links up', String(up)]] });
        for (const m of list(b.slaves)) {
          if (!get('pif', m)) continue;
          const marks = [...(m === b.primary_slave ? ['primary'] : []), ...(m === b.active_member ? ['active'] : [])];
          edge({ id: `member:${m}`, kind: 'member', source: `pif:${m}`, target: id, label: marks.length ? `member (${marks.join(', ')})` : 'member',
            state: carrierOf(records, get('pif', m)!) ? 'ok' : 'down', ...(m === b.active_member ? { active: true } : {}) });
        }
      } else if (vlan) {
        const tag = num(vlan.tag);
        const parent = str(get('pif', vlan.tagged_PIF)?.device) || '?';
        node({ id, kind: 'vlan', parent: hostId, state: attached ? 'ok' : 'down',
          label: lines(`VLAN ${tag}`, `on ${parent}`, mtu, mgmt),
          details: [...common, ['VLAN tag', String(tag)], ['parent', parent]] });
        if (get('pif', vlan.tagged_PIF)) edge({ id: `tag:${ref}`, kind: 'tag', source: `pif:${str(vlan.tagged_PIF)}`, target: id, label: `tag ${tag}`, state: attached ? 'ok' : 'down' });
      } else if (tunnelRef !== undefined) {
        const t = get('tunnel', tunnelRef) ?? {};
        const key = str(strMap(get('network', p.network)?.other_config)[TUNNEL_KEY]) || 'none yet';
        const active = strMap(t.status).active === 'true';
        node({ id, kind: 'tunnel', parent: hostId, state: active ? 'ok' : 'down',
          label: lines(device, `${str(t.protocol)} key ${key}`, active ? 'active' : 'inactive'),
          details: [...common, ['tunnel protocol', str(t.protocol)], ['tunnel key', key], ['status', active ? 'active' : 'inactive'], ['transport', pifName(t.transport_PIF)]] });
        if (get('pif', t.transport_PIF)) edge({ id: `transport:${ref}`, kind: 'transport', source: `pif:${str(t.transport_PIF)}`, target: id, label: 'transport', state: active ? 'ok' : 'down' });
      } else if (p.physical === true) {
        const m = get('pif_metrics', p.metrics);
        const carrier = m?.carrier === true;
        const speed = num(m?.speed);
        node({ id, kind: 'nic', parent: hostId, state: carrier ? 'ok' : 'down',
          label: lines(device, carrier ? `carrier up${speed > 0 ? ` · ${speed} Mbit/s` : ''}` : 'no carrier', mgmt),
          details: [...common, ['MAC', str(p.MAC)], ['carrier', yesNo(carrier)], ['speed', speed > 0 ? `${speed} Mbit/s` : 'unknown'], ['duplex', m?.duplex === true ? 'full' : 'unknown']] });
        const cable = cableOf.get(`${hostName}/${device}`);
        if (cable) {
          edge({ id: `cable:${hostName}/${device}`, kind: 'cable', source: 'lab:switch', target: id,
            label: `${cable.port}${cable.state === 'down' ? ' (pulled)' : ''}`, state: cable.state === 'up' ? 'ok' : 'down' });
        }
      } else continue;
      // Bond members carry no network of their own: their bond does.
      if (p.bond_slave_of !== undefined && p.bond_slave_of !== NULL_REF && get('bond', p.bond_slave_of)) continue;
      if (get('network', p.network)) {
        edge({ id: `uplink:${ref}`, kind: 'uplink', source: id, target: `net:${str(p.network)}`, label: '', state: attached ? 'ok' : 'down' });
      }
    }
  }

  // Networks: one bridge name on every host, as on XCP.
  for (const [ref, n] of sorted(records.network, (x) => str(x.bridge))) {
    const vlans = [...new Set(list(n.PIFs).map((p) => get('pif', p)).filter((p): p is Rec => !!p && num(p.VLAN) >= 0)
      .map((p) => `VLAN ${num(p.VLAN)} on ${str(p.device)}`))].sort();
    const key = strMap(n.other_config)[TUNNEL_KEY];
    node({ id: `net:${ref}`, kind: 'network', state: 'ok',
      label: lines(str(n.bridge), str(n.name_label), ...vlans, `MTU ${num(n.MTU)}`),
      details: [['network', str(n.name_label)], ['uuid', str(n.uuid)], ['bridge', str(n.bridge)], ['MTU', String(num(n.MTU))],
        ['VLAN', vlans.join(', ') || 'none'], ['default locking', str(n.default_locking_mode)], ...(key ? [['tunnel key', key] as [string, string]] : [])] });
  }

  // Tunnels between hosts: the access PIFs of one network, pairwise.
  const accessByNet = new Map<string, [string, Rec][]>();
  for (const [ref, t] of sorted(records.tunnel, (t) => str(t.access_PIF))) {
    const access = get('pif', t.access_PIF);
    if (!access) continue;
    const net = str(access.network);
    accessByNet.set(net, [...(accessByNet.get(net) ?? []), [ref, t]]);
  }
  for (const [net, ends] of accessByNet) {
    const key = strMap(get('network', net)?.other_config)[TUNNEL_KEY] ?? '';
    for (let i = 0; i < ends.length; i++) {
      for (let j = i + 1; j < ends.length; j++) {
        const [a, ta] = ends[i]!;
        const [b, tb] = ends[j]!;
        const active = strMap(ta.status).active === 'true' && strMap(tb.status).active === 'true';
        edge({ id: `tunnel:${a}:${b}`, kind: 'tunnel', source: `pif:${str(ta.access_PIF)}`, target: `pif:${str(tb.access_PIF)}`,
          label: lines(`${str(ta.protocol)} key ${key || 'none yet'}`, active ? 'active' : 'inactive'), state: active ? 'ok' : 'down' });
      }
    }
  }

  // VMs and their VIFs (a host's control domain is the host itself).
  for (const [ref, vm] of sorted(records.vm, (v) => str(v.name_label))) {
    if (vm.is_control_domain === true || vm.is_a_template === true) continue;
    const id = `vm:${ref}`;
    const running = vm.power_state === 'Running';
    const on = str(get('host', vm.resident_on)?.name_label);
    const vifs = sorted(records.vif, (v) => str(v.device).padStart(4, '0')).filter(([, v]) => v.VM === ref);
    const addresses = vifs.flatMap(([, v]) => [...list(v.ipv4_addresses), ...list(v.ipv6_addresses)]);
    node({ id, kind: 'vm', state: running ? 'ok' : 'down',
      label: lines(str(vm.name_label), `${str(vm.power_state)}${on ? ` on ${on}` : ''}`, ...addresses),
      details: [['VM', str(vm.name_label)], ['uuid', str(vm.uuid)], ['power state', str(vm.power_state)], ['host', on || 'none'],
        ['guest addresses', addresses.join(', ') || 'none reported']] });
    for (const [vifRef, v] of vifs) {
      const vid = `vif:${vifRef}`;
      const attached = v.currently_attached === true;
      const locking = lockingOf(v, get('network', v.network));
      node({ id: vid, kind: 'vif', parent: id, state: attached ? 'ok' : 'down',
        label: lines(`eth${str(v.device)} ${str(v.MAC)}`, locking),
        details: [['VIF uuid', str(v.uuid)], ['device', str(v.device)], ['MAC', str(v.MAC)], ['locking', locking],
          ['attached', yesNo(attached)], ['network', str(get('network', v.network)?.name_label)]] });
      if (get('network', v.network)) {
        edge({ id: `vifnet:${vifRef}`, kind: 'vif', source: `net:${str(v.network)}`, target: vid, label: attached ? '' : 'unplugged', state: attached ? 'ok' : 'down' });
      }
    }
  }
  return { nodes, edges };
}

/** The VIF's effective locking, as a line: the network's default when the VIF says network_default. */
function lockingOf(v: Rec, net: Rec | undefined): string {
  const mode = str(v.locking_mode);
  if (mode === 'locked') {
    const allowed = [...list(v.ipv4_allowed), ...list(v.ipv6_allowed)];
    return `locked${allowed.length ? ` to ${allowed.join(', ')}` : ' (no address allowed)'}`;
  }
  if (mode === 'network_default') return `${str(net?.default_locking_mode) || 'unlocked'} (network default)`;
  return mode;
}

function carrierOf(records: Records, pif: Rec): boolean {
  return records.pif_metrics.get(str(pif.metrics))?.carrier === true;
}

function isObject(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}
function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
function strMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}
function lines(...l: string[]): string {
  return l.filter((x) => x !== '').join('\n');
}
/** A table's entries sorted by a key, then by ref, so the graph's order never depends on arrival. */
function sorted(table: Map<string, Rec>, key: (r: Rec) => string): [string, Rec][] {
  return [...table].sort(([ra, a], [rb, b]) => key(a).localeCompare(key(b)) || ra.localeCompare(rb));
}
