// Locking mode enforced with OpenFlow rules (host-realisation §2.4): for a `locked` VIF only
// DHCP, ARP for its addresses and IP from its MAC and addresses pass; everything else from
// its port is dropped. Rules carry cookie 0x1 (XAPI's), match in_port, and live on the real
// (parent) bridge. Flows are not persistent in OVS, so they are re-checked every reconcile.
import type { LockSpec } from './model.js';

export const LOCK_COOKIE = '0x1';

/** Pure: the flows for one locked port with OpenFlow port number `ofport`. */
export function lockFlows(l: LockSpec, ofport: number): string[] {
  const base = `cookie=${LOCK_COOKIE},in_port=${ofport}`;
  const out = [
    `${base},priority=8000,udp,dl_src=${l.mac},tp_dst=67,actions=normal`,
    `${base},priority=7000,arp,dl_src=${l.mac},arp_sha=${l.mac},nw_src=0.0.0.0,actions=normal`,
  ];
  for (const ip of l.ipv4) {
    out.push(`${base},priority=7000,arp,dl_src=${l.mac},arp_sha=${l.mac},nw_src=${ip},actions=normal`);
    out.push(`${base},priority=6000,ip,dl_src=${l.mac},nw_src=${ip},actions=normal`);
  }
  for (const ip of l.ipv6) {
    out.push(`${base},priority=8000,icmp6,icmp_type=135,dl_src=${l.mac},ipv6_src=${ip},actions=normal`);
    out.push(`${base},priority=8000,icmp6,icmp_type=136,dl_src=${l.mac},nd_target=${ip},actions=normal`);
    out.push(`${base},priority=5000,ipv6,dl_src=${l.mac},ipv6_src=${ip},actions=normal`);
  }
  out.push(`${base},priority=4000,actions=drop`);
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
