// DHCP leases into the host configuration (pure): a DHCP PIF's bridge gets its lease's address,
// and the PIF chosen for the default route and DNS gives them from its lease. Without a lease a
// DHCP PIF's addresses stay empty, which the plan reads as "leave the device as it is".
import type { Desired } from './desired.js';

export interface LeaseFacts { ip: string; prefix: number; router?: string; dns: string[]; search: string[] }

export function withLeases(cfg: Desired, lease: (dev: string) => LeaseFacts | undefined): Desired {
  const d = cfg.doc;
  const doc = { ...d, addresses: d.addresses.map((i) => {
    if (i.mode !== 'DHCP') return i;
    const l = lease(i.dev);
    return { ...i, addrs: l ? [`${l.ip}/${l.prefix}`] : [] };
  }) };
  if (d.dhcpGateway) {
    const r = lease(d.dhcpGateway.dev)?.router;
    if (r) doc.gateway = { dev: d.dhcpGateway.dev, via: r, owner: d.dhcpGateway.owner };
  }
  if (d.dhcpDns) {
    const l = lease(d.dhcpDns.dev);
    if (l) doc.dns = { servers: l.dns, search: [...new Set([...d.dhcpDns.search, ...l.search])], owner: d.dhcpDns.owner };
  }
  return { ...cfg, doc };
}

/** The devices that want a DHCP client. */
export const dhcpDevices = (cfg: Desired): string[] => cfg.doc.addresses.filter((i) => i.mode === 'DHCP').map((i) => i.dev);
