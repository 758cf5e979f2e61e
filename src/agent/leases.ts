// DHCP leases into the host configuration (pure): a DHCP PIF's bridge gets its lease's address,
// and the PIF chosen for the default route and DNS gives them from its lease. Without a lease a
// DHCP PIF's addresses stay empty, which the plan reads as "leave the device as it is".
import type { HostNetConfig } from './model.js';

export interface LeaseFacts { ip: string; prefix: number; router?: string; dns: string[]; search: string[] }

export function withLeases(cfg: HostNetConfig, lease: (dev: string) => LeaseFacts | undefined): HostNetConfig {
  const out: HostNetConfig = { ...cfg, ips: cfg.ips.map((i) => {
    if (i.mode !== 'DHCP') return i;
    const l = lease(i.dev);
    return { ...i, addrs: l ? [`${l.ip}/${l.prefix}`] : [] };
  }) };
  if (cfg.dhcpGateway) {
    const r = lease(cfg.dhcpGateway.dev)?.router;
    if (r) out.gateway = { dev: cfg.dhcpGateway.dev, via: r, owner: cfg.dhcpGateway.owner };
  }
  if (cfg.dhcpDns) {
    const l = lease(cfg.dhcpDns.dev);
    if (l) out.dns = { servers: l.dns, search: [...new Set([...cfg.dhcpDns.search, ...l.search])], owner: cfg.dhcpDns.owner };
  }
  return out;
}

/** The devices that want a DHCP client. */
export const dhcpDevices = (cfg: HostNetConfig): string[] => cfg.ips.filter((i) => i.mode === 'DHCP').map((i) => i.dev);
