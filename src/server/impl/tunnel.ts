// tunnel rules (xen-api: ocaml/xapi/xapi_tunnel.ml): tunnel.create / tunnel.destroy, and the record-level helper
// Bond uses to re-create a tunnel over another transport PIF. The mesh itself (keys, status)
// is the pool controller's (controller.ts).

import { randomBytes } from 'node:crypto';
import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { stored, type Rec } from '../../idl/meta.js';
import type { Args } from '../../idl/types.gen.js';
import type { CallContext, Rules } from '../context.js';
import { copyIpConfig } from './vlan.js';
import { encapOf, tunnelMtuFit } from '../../common/encap.js';
import { SDN_KEY } from '../../idl/checks.js';
import { isBondSlave, isRef, pifKind, plugPif, unplugPif, assertNetworkFreeOn, isSriovLogical, refs, type Reader } from './common.js';


/** A random locally administered unicast MAC. */
export function randomLocalMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** tunnel<N> with the smallest N not used by a tunnel access PIF of the host. */
function nextTunnelDevice(tx: Tx, host: string): string {
  const used = new Set<string>();
  for (const [, p] of tx.all('PIF')) {
    if (p.host === host && refs(p.tunnel_access_PIF_of).length > 0) used.add(p.device);
  }
  let n = 0;
  while (used.has(`tunnel${n}`)) n++;
  return `tunnel${n}`;
}

function assertTunnelCreatable(tx: Tx, transport: string, network: string): void {
  const net = tx.get('network', network);
  const tp = tx.get('PIF', transport);
  const host = tp.host;
  assertNetworkFreeOn(tx, network, host);
  assertOr(tp.managed !== false, 'PIF_UNMANAGED', transport);
  assertOr(!isBondSlave(tx, tp), 'CANNOT_ADD_TUNNEL_TO_BOND_SLAVE', transport);
  const kind = pifKind(tx, tp);
  assertOr(kind !== 'tunnel_access', 'IS_TUNNEL_ACCESS_PIF', transport);
  assertOr(kind !== 'sriov_logical', 'CANNOT_ADD_TUNNEL_TO_SRIOV_LOGICAL', transport);
  if (kind === 'vlan') {
    const vlan = tx.find('VLAN', tp.VLAN_master_of);
    const parent = vlan ? tx.find('PIF', vlan.tagged_PIF) : undefined;
    assertOr(!isSriovLogical(parent), 'CANNOT_ADD_TUNNEL_TO_VLAN_ON_SRIOV_LOGICAL', transport);
  }
  // SR-IOV networks cannot be created here; kept for xapi's order.
  const sriovNet = refs(net.PIFs).some((p) => isSriovLogical(tx.find('PIF', p)));
  assertOr(!sriovNet, 'NETWORK_INCOMPATIBLE_WITH_TUNNEL', network);
  const allOvs = tx.all('host').every(([, h]) => (h.software_version as Rec | undefined)?.network_backend === 'openvswitch');
  assertOr(allOvs, 'OPENVSWITCH_NOT_ACTIVE');
}

/** Writes the tunnel row and its access PIF (not attached). `from` is an access PIF being replaced. */
export function createTunnelRecords(tx: Tx, transport: string, network: string, protocol: string, from?: Rec, otherConfig: Rec = {}):
{ tunnel: string; pif: string } {
  const tp = tx.get('PIF', transport);
  const host = tp.host;
  const device = nextTunnelDevice(tx, host);
  const pif = tx.create('PIF', {
    device, device_name: device, network, host, MAC: randomLocalMac(), MTU: -1, VLAN: -1, metrics: stored(tp, 'metrics'),
    physical: false, currently_attached: false,
    ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '',
    ipv6_configuration_mode: 'None', IPv6: [''], ipv6_gateway: '',
    primary_address_type: stored(tp, 'primary_address_type'), managed: true, management: false, disallow_unplug: false,
    properties: {}, capabilities: [], other_config: {},
    ...(from ? { ...copyIpConfig(from), other_config: from.other_config, disallow_unplug: from.disallow_unplug, management: from.management } : {}),
  });
  const tunnel = tx.create('tunnel', {
    access_PIF: pif, transport_PIF: transport, status: { active: 'false' }, other_config: otherConfig, protocol,
  });
  return { tunnel, pif };
}

/**
 * Re-creates a tunnel over another transport PIF (bond create/destroy): new tunnel row and
 * access PIF (new refs, device and MAC), configuration carried over, old rows deleted.
 */
export function moveTunnel(tx: Tx, tunnelRef: string, newTransport: string): { tunnel: string; pif: string; attached: boolean } {
  const old = tx.get('tunnel', tunnelRef);
  const oldPif = isRef(old.access_PIF) ? tx.find('PIF', old.access_PIF) : undefined;
  // A tunnel is made with its access PIF and destroyed with it: one without is a broken database.
  if (!oldPif) throw new ApiError('INTERNAL_ERROR', [`tunnel ${tunnelRef} has no access PIF`]);
  const network = oldPif.network;
  // The new access PIF is numbered while the old one still exists, as the real server does.
  const device = nextTunnelDevice(tx, tx.get('PIF', newTransport).host);
  if (oldPif) tx.destroy('PIF', old.access_PIF);
  tx.destroy('tunnel', tunnelRef);
  const made = createTunnelRecords(tx, newTransport, network, old.protocol, oldPif, old.other_config as Rec);
  const attached = oldPif?.currently_attached === true;
  tx.update('PIF', made.pif, { device, device_name: device, ...(attached ? { currently_attached: true } : {}) });
  return { ...made, attached };
}

/** The MTU a transport PIF carries: its own other_config:mtu, else its MTU, else its network's. */
function transportMtu(tx: Reader, transport: string): number {
  const tp = tx.get('PIF', transport);
  const own = Number((tp.other_config as Rec | undefined)?.mtu);
  return Number.isInteger(own) && own >= 68 ? own : Number(tp.MTU) > 0 ? Number(tp.MTU) : Number(tx.find('network', tp.network)?.MTU ?? 1500);
}

/**
 * The largest MTU a tunnel of `protocol` carries over `transport`. Over OVN a gre tunnel is
 * Geneve; whichever the pool uses later, the larger overhead is safe (the pool can move).
 */
function tunnelFit(tx: Reader, transport: string, protocol: string): number {
  let sdn: 'mesh' | 'ovn' = 'mesh';
  for (const [, p] of tx.all('pool')) if ((p.other_config as Rec | undefined)?.[SDN_KEY] === 'ovn') sdn = 'ovn';
  const tpMtu = transportMtu(tx, transport);
  return Math.min(tunnelMtuFit(tpMtu, encapOf(protocol, sdn)), tunnelMtuFit(tpMtu, encapOf(protocol, 'ovn')));
}

/**
 * A network carried by a tunnel can be no larger than its transport's MTU minus what the tunnel
 * adds (else its large frames vanish): tunnel.create lowers network.MTU to fit, as XO makes its
 * private networks 1450 over VXLAN. The agents clamp again if a transport shrinks later.
 */
function fitNetworkMtu(tx: Tx, transport: string, network: string, protocol: string): void {
  const fit = tunnelFit(tx, transport, protocol);
  const net = tx.get('network', network);
  if (Number(net.MTU) > fit && fit >= 68) tx.update('network', network, { MTU: fit });
}

/**
 * network.set_MTU on a network carried by tunnels: an MTU larger than one of its tunnels carries
 * is refused (INVALID_VALUE naming the tunnel and the limit), in either mode of the pool.
 */
export function assertMtuFitsTunnels(tx: Reader, network: string, mtu: number): void {
  for (const [, t] of tx.all('tunnel')) {
    const access = tx.find('PIF', t.access_PIF);
    if (access?.network !== network || !tx.find('PIF', t.transport_PIF)) continue;
    const transport = tx.get('PIF', t.transport_PIF);
    const protocol = String(t.protocol || 'gre');
    const fit = tunnelFit(tx, t.transport_PIF, protocol);
    if (mtu > fit) {
      const host = tx.find('host', transport.host);
      throw new ApiError('INVALID_VALUE', ['MTU', String(mtu),
        `network ${String(tx.get('network', network).uuid)} is carried by a ${protocol} tunnel over ${String(transport.device)} of host ${String(host?.name_label ?? transport.host)} (MTU ${transportMtu(tx, t.transport_PIF)}): at most ${fit} fits once encapsulated${protocol === 'vxlan' ? '' : ' (gre counts Geneve\'s 58 bytes, what it becomes on OVN)'}`]);
    }
  }
}

async function tunnelCreate(ctx: CallContext, args: Args['tunnel.create']): Promise<string> {
  const transport = args.transport_PIF;
  const network = args.network;
  const made = ctx.services.store.transact((tx) => {
    assertTunnelCreatable(tx, transport, network);
    const protocol = args.protocol || 'gre';
    fitNetworkMtu(tx, transport, network, protocol);
    return createTunnelRecords(tx, transport, network, protocol);
  });
  // PIF.plug: TRANSPORT_PIF_NOT_CONFIGURED (or an agent failure) leaves the rows in place.
  await plugPif(ctx, made.pif);
  return made.tunnel;
}

async function tunnelDestroy(ctx: CallContext, args: Args['tunnel.destroy']): Promise<void> {
  const self = args.self;
  const store = ctx.services.store;
  const tun = store.get('tunnel', self);
  if (isRef(tun.access_PIF) && store.find('PIF', tun.access_PIF)) await unplugPif(ctx, tun.access_PIF);
  store.transact((tx) => {
    const cur = tx.find('tunnel', self);
    if (!cur) return;
    // The access PIF shares the transport's metrics, which stay.
    if (isRef(cur.access_PIF) && tx.find('PIF', cur.access_PIF)) tx.destroy('PIF', cur.access_PIF);
    tx.destroy('tunnel', self);
  });
}

export const tunnelRules: Rules = {
  'tunnel.create': tunnelCreate,
  'tunnel.destroy': tunnelDestroy,
};
