// Network namespaces and veth cables, with iproute2 (namespaces and links are listed through the
// linux backend's Ip and netns). Every function here is idempotent: running it again on what
// already exists changes nothing.
import { Ip, netns, type IpLink } from '../backends/linux/ip.js';
import { ip, run } from './sh.js';

/** Creates the namespace with its loopback up, unless it exists. */
export async function ensureNamespace(ns: string): Promise<void> {
  if (!(await netns.exists(ns))) await netns.add(ns);
}

export async function findLink(ns: string | undefined, name: string): Promise<IpLink | undefined> {
  return (await new Ip(ns).links()).find((l) => l.ifname === name);
}

export interface VethEnd {
  ns: string;
  name: string;
}

/**
 * A veth cable made directly between two namespaces: no end ever appears in the machine's
 * own namespace. `a` is created under `a.tmpName` and renamed (so `eth0` inside a host never
 * collides with anything while the pair is made). Returns false when `a` already existed.
 */
export async function ensureVeth(a: VethEnd & { tmpName?: string }, b: VethEnd): Promise<boolean> {
  if (await findLink(a.ns, a.name)) return false;
  const first = a.tmpName ?? a.name;
  // A previous attempt may have died between creating and renaming: start over.
  if (a.tmpName && await findLink(a.ns, a.tmpName)) await ip(a.ns, ['link', 'del', a.tmpName]);
  if (await findLink(b.ns, b.name)) await ip(b.ns, ['link', 'del', b.name]);
  await ip(undefined, ['link', 'add', first, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns]);
  if (first !== a.name) await ip(a.ns, ['link', 'set', first, 'name', a.name]);
  // Each end computes its own checksums. The lab switch is userspace: it reads frames through a
  // packet socket and sends them on as read, so a frame whose checksum was left to the veth's
  // offload arrives with it never done, and is dropped. ICMP is always summed in software, so
  // pings passed while TCP between hosts on the Linux bridge backend did not.
  for (const end of [{ ns: a.ns, name: a.name }, b]) await run('ethtool', ['-K', end.name, 'tx', 'off'], { ns: end.ns });
  return true;
}

export async function setLinkUp(ns: string | undefined, name: string, up: boolean): Promise<void> {
  await ip(ns, ['link', 'set', name, up ? 'up' : 'down']);
}

export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  await ip(ns, ['addr', 'replace', cidr, 'dev', dev]);
}

export function isAdminUp(l: IpLink): boolean {
  return l.flags.includes('UP');
}

/** Carrier as the host sees it: LOWER_UP is set only when the peer end is up. */
export function hasCarrier(l: IpLink): boolean {
  return l.flags.includes('LOWER_UP');
}

/** The nftables table (netdev family) holding one ingress chain per host NIC that OVS owns. */
const NIC_TABLE = 'xcpnet_lab_nics';

/**
 * Keeps the host's kernel stack off a NIC that the host's Open vSwitch owns. The userspace
 * datapath reads a NIC through a packet socket, which leaves the kernel a copy of every frame:
 * the kernel would answer ARP and pings for the management address on `eth0` itself and again
 * through `xenbr0` (every reply twice, `DUP!`). The kernel datapath takes the frames away from
 * the stack; here an ingress hook drops the kernel's copy, after packet sockets have had theirs.
 */
export async function keepKernelOffNic(ns: string, dev: string): Promise<void> {
  if (!/^eth\d+$/.test(dev)) throw new Error(`not a lab NIC name: ${dev}`);
  await run('nft', ['add', 'table', 'netdev', NIC_TABLE], { ns });
  // A chain is bound to its device: a remade NIC needs its chain again.
  const has = await run('nft', ['list', 'chain', 'netdev', NIC_TABLE, dev], { ns, allowFail: true });
  if (has.code === 0) return;
  await run('nft', ['add', 'chain', 'netdev', NIC_TABLE, dev, `{ type filter hook ingress device ${dev} priority 0 ; policy drop ; }`], { ns });
}
