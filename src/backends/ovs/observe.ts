// OVSDB replica rows (decoded) → the switch part of ObservedState. Pure.
import type { PlainRow, PlainValue as Plain } from '../ovsdb/index.js';
import type { ObsBridge, ObsIface, ObservedState, ObsPort, StrMap } from './model.js';

/** The columns the agent monitors, per table. */
export const MONITORED = {
  Open_vSwitch: ['bridges', 'cur_cfg', 'next_cfg', 'datapath_types', 'iface_types'],
  Bridge: ['name', 'ports', 'datapath_type', 'fail_mode', 'mcast_snooping_enable', 'other_config', 'external_ids'],
  Port: ['name', 'interfaces', 'tag', 'fake_bridge', 'protected', 'bond_mode', 'lacp', 'bond_updelay', 'bond_downdelay', 'bond_active_slave', 'mac', 'other_config', 'external_ids'],
  Interface: ['name', 'type', 'options', 'mtu_request', 'mac', 'external_ids', 'other_config', 'ofport', 'error', 'mtu', 'link_state'],
};

const s = (v: Plain | undefined): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
const optS = (v: Plain | undefined): string | null => (typeof v === 'string' ? v : null);
const optN = (v: Plain | undefined): number | null => (typeof v === 'number' ? v : null);
const list = (v: Plain | undefined): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
function smap(v: Plain | undefined): StrMap {
  const out: StrMap = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) out[k] = String(x);
  return out;
}

export interface OvsTables {
  Bridge: Iterable<Readonly<PlainRow>>;
  Port: Iterable<Readonly<PlainRow>>;
  Interface: Iterable<Readonly<PlainRow>>;
}

export function observeOvs(t: OvsTables): Pick<ObservedState, 'bridges' | 'ports'> {
  const ifaces = new Map<string, ObsIface>();
  for (const r of t.Interface) {
    ifaces.set(s(r._uuid), {
      uuid: s(r._uuid), name: s(r.name), type: s(r.type), options: smap(r.options), mtu_request: optN(r.mtu_request),
      mac: optS(r.mac), external_ids: smap(r.external_ids), other_config: smap(r.other_config),
      ofport: optN(r.ofport), error: optS(r.error), mtu: optN(r.mtu), link_state: optS(r.link_state),
    });
  }
  const portsByUuid = new Map<string, ObsPort>();
  for (const r of t.Port) {
    portsByUuid.set(s(r._uuid), {
      uuid: s(r._uuid), name: s(r.name), bridge: '', tag: optN(r.tag), fake_bridge: r.fake_bridge === true, protected: r.protected === true,
      bond_mode: optS(r.bond_mode), lacp: optS(r.lacp), bond_updelay: optN(r.bond_updelay) ?? 0, bond_downdelay: optN(r.bond_downdelay) ?? 0,
      ...(typeof r.bond_active_slave === 'string' ? { bond_active_slave: r.bond_active_slave } : {}),
      mac: optS(r.mac), other_config: smap(r.other_config), external_ids: smap(r.external_ids),
      interfaces: list(r.interfaces).map((u) => ifaces.get(u)).filter((i): i is ObsIface => i !== undefined)
        .sort((a, b) => a.name.localeCompare(b.name)),
    });
  }
  const bridges = new Map<string, ObsBridge>();
  for (const r of t.Bridge) {
    const ports = list(r.ports).map((u) => portsByUuid.get(u)).filter((p): p is ObsPort => p !== undefined);
    for (const p of ports) p.bridge = s(r.name);
    bridges.set(s(r.name), {
      uuid: s(r._uuid), name: s(r.name), datapath_type: s(r.datapath_type), fail_mode: optS(r.fail_mode), mcast_snooping_enable: r.mcast_snooping_enable === true,
      other_config: smap(r.other_config), external_ids: smap(r.external_ids), ports: ports.map((p) => p.name).sort(),
    });
  }
  const ports = new Map<string, ObsPort>();
  // Rows not reachable from a bridge are garbage; they vanish at the next commit.
  for (const p of portsByUuid.values()) if (p.bridge !== '') ports.set(p.name, p);
  return { bridges, ports };
}
