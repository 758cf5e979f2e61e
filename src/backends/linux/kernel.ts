// The kernel view of a host (links, their IPv4 addresses, the default route) from one
// `ip -json -details -batch -` run (ip-batch.ts). Pure.
import { ipv4Addrs, parseIpLink, type IpLink } from './ip.js';

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
    const link = parseIpLink(l);
    raw.push(link);
    links.set(link.ifname, { name: link.ifname, up: link.flags.includes('UP'), mtu: link.mtu, mac: (link.address ?? '').toLowerCase(), addrs: ipv4Addrs(l) });
  }
  const r = routes.find((x) => typeof x.gateway === 'string' && typeof x.dev === 'string');
  return { links, raw, ...(r ? { defaultRoute: { dev: String(r.dev), via: String(r.gateway) } } : {}) };
}

