// The I/O edge of the topology model and of `xcpnet explain`: the records from the master, and
// in a lab what each host really has (its OVSDB, its NICs' carrier), the switch ports its
// cables reach, and what each running guest has on its interfaces. Commands run with argv.
import type { XapiClient } from '../client/index.js';
import { Ip, netns } from '../backends/linux/ip.js';
import { vmNamespaceName } from '../backends/linux/guests.js';
import { hasCarrier, isAdminUp } from './netns.js';
import { vsctlList } from './ovs.js';
import { ipJson } from './sh.js';
import type { LabState } from './state.js';
import type { Facts, ObservedHost, OvsBridge, Records, SwitchPortFact, GuestIface } from './topology-model.js';

const CLASSES = ['host', 'network', 'PIF', 'PIF_metrics', 'VLAN', 'Bond', 'tunnel', 'VIF', 'VM'] as const;

export async function readRecords(c: XapiClient): Promise<Records> {
  const out = {} as Records;
  for (const cls of CLASSES) out[cls] = await c.call<Record<string, Record<string, unknown>>>(`${cls}.get_all_records`);
  out.pool = await c.call<Record<string, Record<string, unknown>>>('pool.get_all_records');
  return out;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

async function observeOvs(dbSocket: string): Promise<OvsBridge[]> {
  const [bridges, ports, ifaces] = await Promise.all([
    vsctlList(dbSocket, 'Bridge', ['name', 'ports']),
    vsctlList(dbSocket, 'Port', ['_uuid', 'name', 'interfaces', 'tag', 'bond_mode', 'bond_active_slave']),
    vsctlList(dbSocket, 'Interface', ['_uuid', 'name', 'type', 'options', 'mac_in_use', 'link_state']),
  ]);
  const iface = new Map(ifaces.map((i) => [String(i._uuid), i]));
  const port = new Map(ports.map((p) => [String(p._uuid), p]));
  return bridges.map((b) => ({
    name: String(b.name),
    ports: list(b.ports).map((u) => port.get(String(u))).filter((p) => p !== undefined).map((p) => ({
      name: String(p.name),
      ...(typeof p.tag === 'number' ? { tag: p.tag } : {}),
      ...(typeof p.bond_mode === 'string' ? { bondMode: p.bond_mode } : {}),
      ...(typeof p.bond_active_slave === 'string' ? { bondActiveMac: p.bond_active_slave } : {}),
      interfaces: list(p.interfaces).map((u) => iface.get(String(u))).filter((i) => i !== undefined).map((i) => {
        const opts = (typeof i.options === 'object' && i.options !== null && !Array.isArray(i.options) ? i.options : {}) as Record<string, unknown>;
        return {
          name: String(i.name), type: String(i.type || 'system'),
          ...(typeof i.mac_in_use === 'string' ? { mac: i.mac_in_use } : {}),
          ...(typeof i.link_state === 'string' ? { linkUp: i.link_state === 'up' } : {}),
          ...(typeof opts.remote_ip === 'string' ? { remote: opts.remote_ip } : {}),
          ...(typeof opts.key === 'string' ? { key: opts.key } : {}),
        };
      }),
    })),
  }));
}

/** The facts of a pool; with a lab, also what its hosts, switch and guests really have. */
export async function gatherFacts(c: XapiClient, lab?: LabState): Promise<Facts> {
  const records = await readRecords(c);
  if (!lab) return { records };
  const present = new Set(await netns.list());
  const observed: Record<string, ObservedHost> = {};
  await Promise.all(lab.hosts.map(async (h) => {
    if (!present.has(h.ns)) return;
    const links = await new Ip(h.ns).links().catch(() => []);
    const nics = Object.fromEntries(links.filter((l) => /^eth\d+$/.test(l.ifname)).map((l) => [l.ifname, { carrier: hasCarrier(l) }]));
    const ovs = h.ovs ? await observeOvs(h.ovs.dbSocket).catch(() => undefined) : undefined;
    observed[h.name] = { nics, ...(ovs ? { ovs } : {}) };
  }));
  const switchPorts: Record<string, SwitchPortFact> = {};
  const swNs = `${lab.prefix}sw`;
  const swDb = lab.switch?.ovs?.dbSocket;
  if (swDb && present.has(swNs)) {
    const rows = await vsctlList(swDb, 'Port', ['name', 'vlan_mode', 'tag', 'trunks']);
    const links = await new Ip(swNs).links();
    for (const h of lab.hosts) {
      for (const n of h.nics) {
        const row = rows.find((r) => r.name === n.port);
        if (!row) continue;
        const link = links.find((l) => l.ifname === n.port);
        switchPorts[`${h.name}/${n.device}`] = {
          port: n.port, up: !!link && isAdminUp(link),
          vlanMode: typeof row.vlan_mode === 'string' ? row.vlan_mode : 'trunk',
          tag: typeof row.tag === 'number' ? row.tag : null,
          trunks: list(row.trunks).map(Number),
        };
      }
    }
  }
  const guests: Record<string, GuestIface[]> = {};
  interface Addr { ifname: string; address?: string; mtu?: number; addr_info?: { family: string; local: string; prefixlen: number }[] }
  for (const vm of Object.values(records.VM)) {
    if (vm.power_state !== 'Running' || vm.is_control_domain === true) continue;
    const ns = vmNamespaceName(lab.prefix, String(vm.uuid));
    if (!present.has(ns)) continue;
    const addrs = await ipJson<Addr>(ns, ['addr', 'show']).catch(() => []);
    guests[String(vm.uuid)] = addrs.filter((a) => /^eth\d+$/.test(a.ifname)).map((a) => ({
      device: a.ifname.slice(3), mac: a.address ?? '', ...(typeof a.mtu === 'number' ? { mtu: a.mtu } : {}),
      ipv4: (a.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => x.local),
    }));
  }
  return { records, observed, switchPorts, guests, ...(swDb ? { labSwitch: { bridge: 'sw0', dbSocket: swDb } } : {}) };
}
