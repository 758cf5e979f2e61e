// Network namespaces and veth cables, with iproute2. Every function here is idempotent:
// running it again on what already exists changes nothing.
import { ip, ipJson } from './sh.js';

export interface LinkInfo {
  ifname: string;
  ifindex: number;
  flags: string[];
  operstate: string;
  mtu: number;
  address?: string;
  link?: string;
}

export async function listNamespaces(): Promise<string[]> {
  const list = await ipJson<{ name: string }>(undefined, ['netns', 'list']).catch(() => []);
  return list.map((n) => n.name);
}

export async function namespaceExists(ns: string): Promise<boolean> {
  return (await listNamespaces()).includes(ns);
}

/** Creates the namespace with its loopback up; false when it already existed. */
export async function ensureNamespace(ns: string): Promise<boolean> {
  if (await namespaceExists(ns)) return false;
  await ip(undefined, ['netns', 'add', ns]);
  await ip(ns, ['link', 'set', 'lo', 'up']);
  return true;
}

/** Deleting a namespace also destroys every veth end inside it (and so its peer). */
export async function removeNamespace(ns: string): Promise<boolean> {
  if (!(await namespaceExists(ns))) return false;
  await ip(undefined, ['netns', 'del', ns]);
  return true;
}

export async function listLinks(ns: string | undefined): Promise<LinkInfo[]> {
  return ipJson<LinkInfo>(ns, ['link', 'show']);
}

export async function findLink(ns: string | undefined, name: string): Promise<LinkInfo | undefined> {
  return (await listLinks(ns)).find((l) => l.ifname === name);
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
  return true;
}

export async function setLinkUp(ns: string | undefined, name: string, up: boolean): Promise<void> {
  await ip(ns, ['link', 'set', name, up ? 'up' : 'down']);
}

export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  await ip(ns, ['addr', 'replace', cidr, 'dev', dev]);
}

export function isAdminUp(l: LinkInfo): boolean {
  return l.flags.includes('UP');
}

/** Carrier as the host sees it: LOWER_UP is set only when the peer end is up. */
export function hasCarrier(l: LinkInfo): boolean {
  return l.flags.includes('LOWER_UP');
}
