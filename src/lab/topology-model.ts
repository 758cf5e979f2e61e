// The pool's network topology as one model, pure: facts in (the records, and what the hosts
// really have: their switch, NICs, guests, the lab's switch ports) → hosts, NICs, bonds, bridges
// with their networks, VLANs, tunnels and VIFs. `xcpnet bridges`, `xcpnet lab graph` and
// `xcpnet explain` all read it; facts.ts gathers the facts (the only I/O).

export type Rec = Record<string, unknown>;
export const NULL_REF = 'OpaqueRef:NULL';

/** The records read, by class, ref → record (as get_all_records returns them). */
export interface Records {
  host: Record<string, Rec>;
  network: Record<string, Rec>;
  PIF: Record<string, Rec>;
  PIF_metrics: Record<string, Rec>;
  VLAN: Record<string, Rec>;
  Bond: Record<string, Rec>;
  tunnel: Record<string, Rec>;
  VIF: Record<string, Rec>;
  VM: Record<string, Rec>;
  /** The pool (what carries its tunnels: other_config:xcpnet-sdn); absent in older fact sets. */
  pool?: Record<string, Rec>;
}

/** One interface of an Open vSwitch port, as its OVSDB has it. */
export interface OvsInterface { name: string; type: string; mac?: string; linkUp?: boolean; remote?: string; key?: string }
export interface OvsPort { name: string; tag?: number; bondMode?: string; bondActiveMac?: string; interfaces: OvsInterface[] }
export interface OvsBridge { name: string; ports: OvsPort[] }

/** What one host really has (a lab host: its own OVSDB and links). */
export interface ObservedHost {
  /** NIC device → carrier. */
  nics: Record<string, { carrier: boolean }>;
  /** Bridges of its Open vSwitch (absent on the bridge backend). */
  ovs?: OvsBridge[];
}

/** A lab switch port facing a host NIC. */
export interface SwitchPortFact { port: string; up: boolean; vlanMode: string; tag: number | null; trunks: number[] }

/** What a guest has on one of its interfaces (eth<device>). */
export interface GuestIface { device: string; mac: string; ipv4: string[]; mtu?: number }

export interface Facts {
  records: Records;
  /** host name-label → what it has; absent when the hosts cannot be looked at. */
  observed?: Record<string, ObservedHost>;
  /** `host/ethN` → the lab switch port its cable reaches. */
  switchPorts?: Record<string, SwitchPortFact>;
  /** VM uuid → its interfaces as seen inside the guest. */
  guests?: Record<string, GuestIface[]>;
  /** The lab switch (name, namespace, database) when in a lab. */
  labSwitch?: { bridge: string; dbSocket: string };
}

// ---- small readers ----

export const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
export const isRef = (v: unknown): v is string => typeof v === 'string' && v.startsWith('OpaqueRef:') && v !== NULL_REF;
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name, 'en', { numeric: true });

export function hostName(f: Facts, ref: string): string {
  return str(f.records.host[ref]?.name_label) || ref;
}

/** A VM's host-side device for one of its VIFs: vif<domid>.<device>, as on XCP. */
export function vifDevice(f: Facts, vifRef: string): string | undefined {
  const vif = f.records.VIF[vifRef];
  const vm = vif && f.records.VM[str(vif.VM)];
  const domid = Number(vm?.domid ?? -1);
  return vif && domid >= 0 ? `vif${domid}.${str(vif.device)}` : undefined;
}

/** The network's PIF on a host (plugged or not). */
export function pifOn(f: Facts, network: string, host: string): [string, Rec] | undefined {
  return Object.entries(f.records.PIF).find(([, p]) => p.network === network && p.host === host);
}

/** The physical NICs under a PIF: itself, a VLAN's parent, or a bond's members. */
export function nicsUnder(f: Facts, pifRef: string): { devices: string[]; bond?: string; vlan?: { tag: number; parent: string } } {
  const pif = f.records.PIF[pifRef];
  if (!pif) return { devices: [] };
  const vlanRef = str(pif.VLAN_master_of);
  if (isRef(vlanRef)) {
    const vlan = f.records.VLAN[vlanRef];
    const parent = str(vlan?.tagged_PIF);
    const under = nicsUnder(f, parent);
    return { ...under, vlan: { tag: Number(vlan?.tag), parent: str(f.records.PIF[parent]?.device) } };
  }
  const bondRef = strs(pif.bond_master_of)[0];
  if (bondRef && isRef(bondRef)) {
    const bond = f.records.Bond[bondRef];
    return { devices: strs(bond?.slaves).map((s) => str(f.records.PIF[s]?.device)).sort(), bond: bondRef };
  }
  if (pif.physical === true) return { devices: [str(pif.device)] };
  return { devices: [] };
}

// ---- the model ----

export interface VifNode { device: string; vif: string; vm: string; vmUuid: string; vmDevice: string; mac: string; locking: string; attached: boolean }
export interface BridgeNode {
  name: string;
  network?: { uuid: string; name: string; MTU: number };
  vlan?: { tag: number; parent: string };
  bond?: { name: string; mode: string; members: string[]; active?: string; linksUp: number };
  uplink?: string;
  tunnels: { remote: string; key: string; protocol: string; port: string }[];
  vifs: VifNode[];
  /** The uuid of the network's PIF here when it is not plugged (the bridge is not made). */
  unplugged?: string;
}
export interface NicNode { device: string; mac: string; carrier?: boolean; speed?: number; switchPort?: SwitchPortFact; pif?: string }
export interface HostNode { name: string; uuid: string; nics: NicNode[]; bridges: BridgeNode[] }
export interface VmNode { name: string; uuid: string; power: string; host?: string }
export interface Topology { hosts: HostNode[]; vms: VmNode[]; labSwitch?: string }

/** The active member of a bond on a lab's OVS host (when the record has none): the interface whose MAC OVS names as active. */
function activeMember(obs: ObservedHost | undefined, bridge: string): string | undefined {
  const port = obs?.ovs?.find((b) => b.name === bridge)?.ports.find((p) => p.interfaces.length > 1);
  if (!port?.bondActiveMac) return undefined;
  return port.interfaces.find((i) => i.mac === port.bondActiveMac)?.name;
}

export function buildTopology(f: Facts): Topology {
  const r = f.records;
  const hosts: HostNode[] = [];
  for (const [hostRef, h] of Object.entries(r.host)) {
    const name = str(h.name_label);
    const obs = f.observed?.[name];
    const pifs = Object.entries(r.PIF).filter(([, p]) => p.host === hostRef);
    const nics: NicNode[] = pifs.filter(([, p]) => p.physical === true).map(([ref, p]) => {
      const m = r.PIF_metrics[str(p.metrics)];
      const dev = str(p.device);
      const sw = f.switchPorts?.[`${name}/${dev}`];
      return {
        device: dev, mac: str(p.MAC), pif: ref, speed: Number(m?.speed ?? 0),
        ...(obs?.nics[dev] ? { carrier: obs.nics[dev]!.carrier } : m ? { carrier: m.carrier === true } : {}),
        ...(sw ? { switchPort: sw } : {}),
      };
    }).sort((a, b) => byName({ name: a.device }, { name: b.device }));
    // One bridge per network present on the host: through a PIF, or (internal) through a VIF of a VM running here.
    // A bond member's own network has no bridge while the bond holds it.
    const nets = new Set<string>(pifs.filter(([, p]) => !isRef(p.bond_slave_of)).map(([, p]) => str(p.network)));
    for (const vif of Object.values(r.VIF)) if (r.VM[str(vif.VM)]?.resident_on === hostRef) nets.add(str(vif.network));
    const bridges: BridgeNode[] = [];
    for (const netRef of nets) {
      const net = r.network[netRef];
      if (!net) continue;
      const bridgeName = str(net.bridge);
      const pif = pifOn(f, netRef, hostRef);
      const node: BridgeNode = { name: bridgeName, network: { uuid: str(net.uuid), name: str(net.name_label), MTU: Number(net.MTU) }, tunnels: [], vifs: [] };
      if (pif && pif[1].currently_attached !== true) node.unplugged = str(pif[1].uuid);
      if (pif) {
        const under = nicsUnder(f, pif[0]);
        if (under.vlan) node.vlan = under.vlan;
        else if (under.bond) {
          const bond = r.Bond[under.bond]!;
          // The master's record (the host's agent reports it, any backend) first; a lab's OVS without it.
          const active = str(r.PIF[str(bond.active_member)]?.device) || activeMember(obs, bridgeName);
          node.bond = { name: str(r.PIF[str(bond.master)]?.device) || 'bond', mode: str(bond.mode), members: under.devices, linksUp: Number(bond.links_up ?? 0), ...(active ? { active } : {}) };
        } else if (under.devices[0]) node.uplink = under.devices[0];
        const tun = Object.values(r.tunnel).find((t) => t.access_PIF === pif[0]);
        if (tun) {
          const seen = obs?.ovs?.find((b) => b.name === bridgeName)?.ports.flatMap((p) => p.interfaces.filter((i) => i.remote)) ?? [];
          node.tunnels = seen.map((i) => ({ remote: i.remote!, key: i.key ?? '', protocol: i.type, port: i.name })).sort((a, b) => a.remote.localeCompare(b.remote));
          if (node.tunnels.length === 0) node.tunnels = [{ remote: '(none yet)', key: '', protocol: str(tun.protocol), port: '' }];
        }
      }
      for (const [vifRef, vif] of Object.entries(r.VIF)) {
        const vm = r.VM[str(vif.VM)];
        if (vif.network !== netRef || vm?.resident_on !== hostRef) continue;
        node.vifs.push({ device: vifDevice(f, vifRef) ?? '-', vif: str(vif.uuid), vm: str(vm.name_label), vmUuid: str(vm.uuid), vmDevice: `eth${str(vif.device)}`,
          mac: str(vif.MAC), locking: effectiveLocking(f, vifRef), attached: vif.currently_attached === true });
      }
      node.vifs.sort((a, b) => a.device.localeCompare(b.device, 'en', { numeric: true }));
      bridges.push(node);
    }
    bridges.sort(byName);
    hosts.push({ name, uuid: str(h.uuid), nics, bridges });
  }
  hosts.sort(byName);
  const vms = Object.values(r.VM).filter((v) => v.is_control_domain !== true)
    .map((v) => ({ name: str(v.name_label), uuid: str(v.uuid), power: str(v.power_state), ...(isRef(v.resident_on) ? { host: hostName(f, str(v.resident_on)) } : {}) }))
    .sort(byName);
  return { hosts, vms, ...(f.labSwitch ? { labSwitch: f.labSwitch.bridge } : {}) };
}

/** A VIF's locking as it applies: its own mode, or its network's default. */
export function effectiveLocking(f: Facts, vifRef: string): string {
  const vif = f.records.VIF[vifRef];
  const mode = str(vif?.locking_mode) || 'network_default';
  if (mode !== 'network_default') return mode;
  return str(f.records.network[str(vif?.network)]?.default_locking_mode) === 'disabled' ? 'disabled' : 'unlocked';
}

// ---- views ----

function bridgeLabel(b: BridgeNode): string {
  const parts = [b.network ? `network "${b.network.name}" ${b.network.uuid}` : 'no network'];
  if (b.network) parts.push(`MTU ${b.network.MTU}`);
  if (b.vlan) parts.push(`VLAN ${b.vlan.tag} on ${b.vlan.parent}`);
  if (b.bond) parts.push(`bond ${b.bond.name} ${b.bond.mode} of ${b.bond.members.join('+')}, ${b.bond.linksUp} up${b.bond.active ? `, active ${b.bond.active}` : ''}`);
  if (b.uplink) parts.push(`uplink ${b.uplink}`);
  if (!b.vlan && !b.bond && !b.uplink && b.tunnels.length === 0) parts.push('private to this host');
  if (b.unplugged) parts.push(`PIF UNPLUGGED (xe pif-plug uuid=${b.unplugged})`);
  return parts.join(', ');
}

function vifLabel(v: VifNode): string {
  return `${v.device} = VM "${v.vm}" ${v.vmDevice}, MAC ${v.mac}, locking ${v.locking}${v.attached ? '' : ', UNPLUGGED'}`;
}

/** The labels printed under `brctl show`'s table by `xcpnet bridges`, one block per bridge. */
export function formatBridgeLabels(h: HostNode): string {
  const out: string[] = [];
  for (const b of h.bridges) {
    out.push(`${b.name}: ${bridgeLabel(b)}`);
    for (const t of b.tunnels) out.push(`  tunnel ${t.port || '-'}: ${t.protocol} to ${t.remote}${t.key ? `, key ${t.key}` : ''}`);
    for (const v of b.vifs) out.push(`  ${vifLabel(v)}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

/** `xcpnet lab graph` as a tree for the terminal. */
export function formatTreeText(t: Topology): string {
  const out: string[] = [];
  if (t.labSwitch) out.push(`switch ${t.labSwitch} (802.1Q trunks, native VLAN 1) — upstream`);
  for (const h of t.hosts) {
    out.push(`host ${h.name} ${h.uuid}`);
    for (const n of h.nics) {
      const sw = n.switchPort ? ` — cable ${n.switchPort.up ? 'in' : 'PULLED'} to ${t.labSwitch ?? 'switch'} port ${n.switchPort.port} (${trunkText(n.switchPort)})` : '';
      out.push(`  nic ${n.device} ${n.mac} carrier ${n.carrier === undefined ? '?' : n.carrier ? 'yes' : 'NO'}${n.speed ? ` ${n.speed} Mbit/s` : ''}${sw}`);
    }
    for (const b of h.bridges) {
      out.push(`  bridge ${b.name}: ${bridgeLabel(b)}`);
      for (const tn of b.tunnels) out.push(`    tunnel ${tn.protocol} to ${tn.remote}${tn.key ? ` key ${tn.key}` : ''}`);
      for (const v of b.vifs) out.push(`    ${vifLabel(v)}`);
    }
  }
  const halted = t.vms.filter((v) => !v.host);
  if (halted.length) out.push(`VMs not running: ${halted.map((v) => `${v.name} (${v.power})`).join(', ')}`);
  return out.join('\n') + '\n';
}

function trunkText(p: SwitchPortFact): string {
  return `native ${p.tag ?? '-'}, trunks ${p.trunks.length ? p.trunks.join(',') : 'all'}`;
}

/** Node ids safe for DOT and Mermaid: letters, digits and underscores only. */
const id = (...parts: string[]): string => parts.join('_').replace(/[^A-Za-z0-9_]/g, '_');
const dotQuote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const mermaidQuote = (s: string): string => `"${s.replace(/"/g, '#quot;')}"`;

interface Edge { from: string; to: string; label?: string }
interface Node { id: string; label: string; cluster?: string }

/** Nodes and edges shared by the DOT and Mermaid views. */
function graphOf(t: Topology): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [];
  const edges: Edge[] = [];
  if (t.labSwitch) nodes.push({ id: 'switch', label: `switch ${t.labSwitch}` });
  for (const h of t.hosts) {
    for (const n of h.nics) {
      const nid = id(h.name, n.device);
      nodes.push({ id: nid, label: `${n.device}${n.carrier === false ? ' (no carrier)' : ''}`, cluster: h.name });
      if (n.switchPort) edges.push({ from: nid, to: 'switch', label: `${n.switchPort.port}${n.switchPort.up ? '' : ' PULLED'}` });
    }
    for (const b of h.bridges) {
      const bid = id(h.name, b.name);
      nodes.push({ id: bid, label: `${b.name}${b.network ? ` ${b.network.name}` : ''}${b.vlan ? ` VLAN ${b.vlan.tag}` : ''}`, cluster: h.name });
      if (b.uplink) edges.push({ from: bid, to: id(h.name, b.uplink) });
      if (b.vlan) edges.push({ from: bid, to: id(h.name, b.vlan.parent), label: `tag ${b.vlan.tag}` });
      if (b.bond) {
        const bondId = id(h.name, b.bond.name);
        nodes.push({ id: bondId, label: `${b.bond.name} ${b.bond.mode}`, cluster: h.name });
        edges.push({ from: bid, to: bondId });
        for (const m of b.bond.members) edges.push({ from: bondId, to: id(h.name, m), ...(m === b.bond.active ? { label: 'active' } : {}) });
      }
      for (const tn of b.tunnels) {
        const remoteHost = t.hosts.find((x) => x !== h && x.bridges.some((y) => y.name === b.name));
        if (remoteHost && h.name < remoteHost.name) edges.push({ from: bid, to: id(remoteHost.name, b.name), label: `${tn.protocol}${tn.key ? ` key ${tn.key}` : ''}` });
      }
      for (const v of b.vifs) {
        const vid = id('vm', v.vmUuid);
        edges.push({ from: vid, to: bid, label: `${v.vmDevice}=${v.device}` });
      }
    }
  }
  for (const vm of t.vms) nodes.push({ id: id('vm', vm.uuid), label: `VM ${vm.name} (${vm.power})` });
  return { nodes, edges };
}

export function formatDot(t: Topology): string {
  const { nodes, edges } = graphOf(t);
  const out = ['graph xcpnet {', '  rankdir=LR;', '  node [shape=box];'];
  for (const n of nodes.filter((x) => !x.cluster)) out.push(`  ${n.id} [label=${dotQuote(n.label)}];`);
  for (const h of t.hosts) {
    out.push(`  subgraph cluster_${id(h.name)} {`, `    label=${dotQuote(`host ${h.name}`)};`);
    for (const n of nodes.filter((x) => x.cluster === h.name)) out.push(`    ${n.id} [label=${dotQuote(n.label)}];`);
    out.push('  }');
  }
  for (const e of edges) out.push(`  ${e.from} -- ${e.to}${e.label ? ` [label=${dotQuote(e.label)}]` : ''};`);
  out.push('}');
  return out.join('\n') + '\n';
}

export function formatMermaid(t: Topology): string {
  const { nodes, edges } = graphOf(t);
  const out = ['graph LR'];
  for (const n of nodes.filter((x) => !x.cluster)) out.push(`  ${n.id}[${mermaidQuote(n.label)}]`);
  for (const h of t.hosts) {
    out.push(`  subgraph ${id('host', h.name)}[${mermaidQuote(`host ${h.name}`)}]`);
    for (const n of nodes.filter((x) => x.cluster === h.name)) out.push(`    ${n.id}[${mermaidQuote(n.label)}]`);
    out.push('  end');
  }
  for (const e of edges) out.push(`  ${e.from} ---${e.label ? `|${mermaidQuote(e.label)}|` : ''} ${e.to}`);
  return out.join('\n') + '\n';
}
