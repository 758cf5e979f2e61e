// Locking mode enforced with OpenFlow rules (as xen-api's ocaml/xenopsd/scripts/setup-vif-rules): for a `locked` VIF only
// DHCP, ARP for its addresses and IP from its MAC and addresses pass; everything else from
// its port is dropped. Rules carry cookie 0x1 (XAPI's), match in_port, and live on the real
// (parent) bridge. Flows are not persistent in OVS, so they are re-checked every reconcile.
// The rules are typed values (flows.ts): addresses and the MAC are parsed here, and whatever
// does not parse is left out, which only narrows what passes (the compile step reports it).
import { parseIPv4Net, parseIPv6Net, parseMac } from '../../common/net-syntax.js';
import type { Flow, Net } from './flows.js';
import type { LockSpec } from './model.js';

export const LOCK_COOKIE = 1;

/** Pure: the flows for one locked port with OpenFlow port number `ofport`. */
export function lockFlows(l: LockSpec, ofport: number): Flow[] {
  const base = { cookie: LOCK_COOKIE, inPort: ofport };
  const drop: Flow = { ...base, priority: 4000, match: [], action: 'drop' };
  const mac = parseMac(l.mac);
  if (!mac) return [drop]; // no MAC to match: nothing from this port passes
  const src = { field: 'dl_src', mac } as const;
  const sha = { field: 'arp_sha', mac } as const;
  const v4 = (net: Net) => ({ field: 'nw_src', net }) as const;
  const out: Flow[] = [
    { ...base, priority: 8000, proto: 'udp', match: [src, { field: 'tp_dst', port: 67 }], action: 'normal' },
    { ...base, priority: 7000, proto: 'arp', match: [src, sha, v4({ bytes: [0, 0, 0, 0], len: 32 })], action: 'normal' },
  ];
  for (const net of l.ipv4.map(parseIPv4Net)) {
    if (!net) continue;
    out.push({ ...base, priority: 7000, proto: 'arp', match: [src, sha, v4(net)], action: 'normal' });
    out.push({ ...base, priority: 6000, proto: 'ip', match: [src, v4(net)], action: 'normal' });
  }
  for (const net of l.ipv6.map(parseIPv6Net)) {
    if (!net) continue;
    out.push({ ...base, priority: 8000, proto: 'icmp6', match: [{ field: 'icmp_type', type: 135 }, src, { field: 'ipv6_src', net }], action: 'normal' });
    out.push({ ...base, priority: 8000, proto: 'icmp6', match: [{ field: 'icmp_type', type: 136 }, src, { field: 'nd_target', net }], action: 'normal' });
    out.push({ ...base, priority: 5000, proto: 'ipv6', match: [src, { field: 'ipv6_src', net }], action: 'normal' });
  }
  out.push(drop);
  return out;
}

/** Pure: from `ovs-ofctl dump-flows BR cookie=0x1/-1` output, the number of rules per in_port. */
export function countByInPort(dump: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of dump.split('\n')) {
    const p = /in_port=(?:"?)(\d+)/.exec(line);
    if (p && /cookie=0x1\b/.test(line)) m.set(Number(p[1]), (m.get(Number(p[1])) ?? 0) + 1);
  }
  return m;
}
