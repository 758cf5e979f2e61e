// A host document → the Open vSwitch rows that realise it, as xcp-networkd's OVS backend lays
// them out (as xcp-networkd's ocaml/networkd/lib/network_utils.ml writes them). Pure.
//  bridge with a NIC uplink   → Bridge <name> + its internal port + port <nic>
//  bridge with a bond uplink  → Bridge <name> + its internal port + bond port <bondN> of the NICs
//  VLAN bridge (parent, tag)  → fake-bridge port <name> with that tag on the parent's Bridge
//  tunnels                    → one gre/vxlan port per peer, protected (split horizon)
//  VIF                        → port vif<domid>.<device> on the (parent) bridge, tagged on VLANs
import type { HostBridge, HostDoc, StrMap } from '../contract.js';
import { bondColumns } from './bond.js';
import { OWNER_KEY, type BridgeSpec, type IfaceRow, type OvsConfig, type PortSpec } from './model.js';

export function ovsRows(doc: HostDoc, datapathType: string): OvsConfig {
  const owned = (extra: StrMap = {}): StrMap => ({ ...extra, [OWNER_KEY]: doc.host });
  const cfg: OvsConfig = {
    hostUuid: doc.host, bridges: [], ports: [], ips: doc.addresses, locks: [], errors: {}, adopt: new Map(),
    ...(doc.gateway ? { gateway: doc.gateway } : {}),
  };
  const fail = (ref: string, msg: string) => { cfg.errors[ref] ??= msg; };
  const iface = (name: string, type: string, mtu: number | null, extra: Partial<IfaceRow> = {}): IfaceRow => ({
    name, type, options: {}, mtu_request: mtu, mac: null, external_ids: owned(), other_config: {}, ...extra,
  });
  const port = (name: string, bridge: string, owner: string, role: PortSpec['role'], interfaces: IfaceRow[], extra: Partial<PortSpec> = {}): void => {
    cfg.ports.push({
      name, bridge, owner, role, interfaces, tag: null, fake_bridge: false, protected: false, bond_mode: null, lacp: null,
      bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: owned(), ...extra,
    });
  };

  const real = new Map<string, HostBridge>();
  const vlans = new Map<string, { parent: string; tag: number }>();
  for (const b of doc.bridges) {
    if (b.vlan) {
      const parent = real.get(b.vlan.parent);
      if (!parent) { fail(b.owner, `parent bridge ${b.vlan.parent} is not realised`); continue; }
      vlans.set(b.name, b.vlan);
      port(b.name, parent.name, b.owner, 'fake-bridge', [iface(b.name, 'internal', b.mtu, { mac: b.mac })],
        { tag: b.vlan.tag, fake_bridge: true, external_ids: owned({ 'fake-bridge-xs-network-uuids': b.networkUuid }) });
      continue;
    }
    real.set(b.name, b);
    const other_config: StrMap = { 'mac-table-size': '10000' };
    if (b.mac) other_config.hwaddr = b.mac;
    // OVN's integration bridge forwards only by ovn-controller's flows (as ovn-controller makes it).
    if (b.integration) other_config['disable-in-band'] = 'true';
    // As xcp-networkd sets a snooping bridge: unregistered multicast is not flooded.
    if (b.igmpSnooping) other_config['mcast-snooping-disable-flood-unregistered'] = 'true';
    const spec: BridgeSpec = {
      name: b.name, owner: b.owner, datapath_type: datapathType, fail_mode: b.integration ? 'secure' : 'standalone',
      mcast_snooping_enable: b.igmpSnooping === true, other_config,
      external_ids: owned({ 'xs-network-uuids': b.networkUuid }),
    };
    cfg.bridges.push(spec);
    port(b.name, b.name, b.owner, 'bridge', [iface(b.name, 'internal', b.mtu)]);
    const u = b.uplink;
    if (u?.kind === 'nic') port(u.device, b.name, b.owner, 'nic', [iface(u.device, '', b.mtu)]);
    if (u?.kind === 'bond') {
      // A bond of one NIC is a plain port (OVS refuses bond settings on it).
      const cols = u.members.length > 1 ? bondColumns(u.properties) : undefined;
      const ifs = u.members.map((m) => iface(m, '', b.mtu, { other_config: { ...(cols?.member_other_config ?? {}) } }));
      port(u.device, b.name, b.owner, 'bond', ifs, cols ? {
        bond_mode: cols.bond_mode, lacp: cols.lacp, bond_updelay: cols.bond_updelay, bond_downdelay: cols.bond_downdelay,
        other_config: cols.other_config, mac: u.mac,
      } : {});
    }
    // A full mesh of three or more hosts is a loop at layer 2: a broadcast entering from one
    // tunnel would be flooded into the others and circulate for ever (no STP on the bridge).
    // Every peer has its own direct tunnel, so nothing needs relaying: tunnel ports are
    // protected (split horizon: NORMAL never forwards from one protected port to another).
    for (const t of b.tunnels) {
      port(t.name, b.name, b.owner, 'tunnel', [iface(t.name, t.protocol, null, { options: { remote_ip: t.remote, key: String(t.key) } })],
        { protected: true, external_ids: owned({ 'xcpnet-remote-host': t.remoteHost, 'xs-network-uuid': b.networkUuid }) });
    }
  }

  for (const v of doc.vifs) {
    if (v.bridge === undefined) continue;
    const vlan = vlans.get(v.bridge);
    const bridge = vlan ? vlan.parent : v.bridge;
    if (!vlan && !real.has(bridge)) { fail(v.owner, `bridge ${v.bridge} is not realised`); continue; }
    // On OVN, port security is the logical port's (the master's northbound rows).
    if (v.locking === 'locked' && v.ifaceId === undefined) cfg.locks.push({ owner: v.owner, port: v.name, bridge, mac: v.mac, ipv4: v.ipv4_allowed, ipv6: v.ipv6_allowed });
    if (v.locking === 'disabled') continue; // never bridged
    if (v.adopt) cfg.adopt.set(v.name, v.vifUuid);
    port(v.name, bridge, v.owner, 'vif', [iface(v.name, '', v.mtu, {
      external_ids: owned({ 'xs-vif-uuid': v.vifUuid, 'xs-network-uuid': v.networkUuid, 'xs-vm-uuid': v.vmUuid, 'attached-mac': v.mac,
        ...(v.ifaceId !== undefined ? { 'iface-id': v.ifaceId } : {}) }),
    })], {
      tag: vlan?.tag ?? null,
      ...(v.paused ? { down: true } : {}),
      external_ids: owned(v.locking === 'locked'
        ? { 'xcpnet-locking': 'locked', 'xcpnet-ipv4-allowed': v.ipv4_allowed.join(','), 'xcpnet-ipv6-allowed': v.ipv6_allowed.join(',') }
        : { 'xcpnet-locking': v.locking }),
    });
  }
  return cfg;
}
