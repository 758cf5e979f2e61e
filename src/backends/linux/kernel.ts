// The kernel view of a host (links, their IPv4 addresses, the default route) as the Open vSwitch
// driver compares it, from records of `ip -json -details addr show` (a full dump through
// ip-batch.ts, or the cache of kernel-watch.ts). Pure.
import { ipv4Addrs, parseIpLink, type IpLink } from './ip.js';
import { defaultRouteOf } from './kernel-cache.js';

/** A kernel link as the drivers compare it. */
export interface ObsLink {
  name: string;
  up: boolean;
  mtu: number;
  mac: string;
  /** IPv4 global addresses, CIDR. */
  addrs: string[];
}

export interface KernelView { links: Map<string, ObsLink>; defaultRoute?: { dev: string; via: string }; raw: IpLink[] }

/** One link as the driver keeps it: compared (obs) and as iproute2 gave it (NIC inventory). Frozen: the cache shares it between looks. */
export interface KernelLink { obs: Readonly<ObsLink>; raw: IpLink }

/** Pure: one record of `ip -json -details addr show` → KernelLink. */
export function parseKernelLink(l: Record<string, unknown>): KernelLink {
  const raw = parseIpLink(l);
  const obs: ObsLink = { name: raw.ifname, up: raw.flags.includes('UP'), mtu: raw.mtu, mac: (raw.address ?? '').toLowerCase(), addrs: ipv4Addrs(l) };
  Object.freeze(obs.addrs);
  return Object.freeze({ obs: Object.freeze(obs), raw: Object.freeze(raw) });
}

/**
 * Pure: the output of `ip -json -details -batch -` given `addr show` and `route show default`
 * (one JSON array per line, in that order) → links with their IPv4 global addresses, and the
 * IPv4 default route.
 */
export function parseKernelBatch(out: string): KernelView {
  const arrays = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>[]);
  if (arrays.length !== 2) throw new Error(`ip -batch: expected 2 JSON arrays, got ${arrays.length}`);
  const [addrs, routes] = arrays as [Record<string, unknown>[], Record<string, unknown>[]];
  const links = new Map<string, ObsLink>();
  const raw: IpLink[] = [];
  for (const l of addrs) {
    const k = parseKernelLink(l);
    raw.push(k.raw);
    links.set(k.obs.name, { ...k.obs, addrs: [...k.obs.addrs] });
  }
  const r = defaultRouteOf(routes);
  return { links, raw, ...(r ? { defaultRoute: r } : {}) };
}

