// What a tunnel adds to every frame it carries, so that a cross-server private network's MTU is
// never larger than what its transport can carry (a frame too big for the tunnel is dropped
// without a trace). Outer IPv4 header; the inner frame's own Ethernet header is carried too.
// Pure.

/** Bytes added around an inner frame of MTU bytes, by what the frame travels in. */
export const ENCAP_OVERHEAD = {
  // Ethernet 14 + VXLAN 8 + UDP 8 + IPv4 20
  vxlan: 50,
  // Ethernet 14 + GRE 4 + key 4 + IPv4 20 (OVS's gre ports carry Ethernet frames)
  gre: 42,
  // Ethernet 14 + Geneve 8 + the 8-byte option OVN adds + UDP 8 + IPv4 20
  geneve: 58,
} as const;

export type Encap = keyof typeof ENCAP_OVERHEAD;

/** What a tunnel's protocol is carried as: OVN has no GRE and carries it by Geneve. */
export function encapOf(protocol: string, sdn: 'mesh' | 'ovn'): Encap {
  if (protocol === 'vxlan') return 'vxlan';
  return sdn === 'ovn' ? 'geneve' : 'gre';
}

/** The largest MTU a network can have over a transport of MTU `transportMtu`. */
export function tunnelMtuFit(transportMtu: number, encap: Encap): number {
  return transportMtu - ENCAP_OVERHEAD[encap];
}
