// Network sysctls of a host (its namespace when it has one: /proc/sys/net is per namespace).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execP = promisify(execFile);

/**
 * ARP behaviour a host needs when OVS runs the userspace datapath (`datapath_type=netdev`).
 * There, a tunnel packet reaches OVS only if it is sent to the MAC of an OVS port: OVS learns
 * the peer's MAC by snooping the ARP reply for the peer's transport IP. Linux by default
 * answers ARP for any local address on every interface (arp_ignore=0), so a second NIC on the
 * same segment (up, not in a bridge, no address) answers too, with its own MAC; when that reply
 * wins, the peer sends its tunnel packets to that NIC, where the kernel drops them, and the
 * tunnel is dead until the neighbour entry expires. With the kernel datapath the vxlan/gre
 * socket takes the packet whichever interface it came in by, so nothing is lost there.
 * 1: answer only on the interface holding the address (the bridge, in the XCP model);
 * 2: announce with the best local address for the target.
 */
export const USERSPACE_TUNNEL_ARP: Record<string, string> = {
  'net.ipv4.conf.all.arp_ignore': '1',
  'net.ipv4.conf.all.arp_announce': '2',
};

/** Sets sysctls (`sysctl -w`), inside `netns` when given (`ip netns exec`). */
export async function setSysctls(netns: string | undefined, values: Record<string, string>): Promise<void> {
  const args = ['-q', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)];
  if (netns) await execP('ip', ['netns', 'exec', netns, 'sysctl', ...args], { timeout: 15000 });
  else await execP('sysctl', args, { timeout: 15000 });
}
