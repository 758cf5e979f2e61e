// Where the members of a pool's OVN database cluster are (pool.other_config:xcpnet-ovn-cluster):
// the hosts' management addresses and OVN's usual ports, for the master (its own member,
// ovn-northd, its northbound writer), the other members' agents and every ovn-controller.
// Pure.
import { isIPv4 } from './net-syntax.js';

/** OVN's databases: client port (6641/6642, as OVN's own defaults) and RAFT port (6643/6644). */
export const OVN_DBS = {
  nb: { schemaName: 'OVN_Northbound', clientPort: 6641, raftPort: 6643 },
  sb: { schemaName: 'OVN_Southbound', clientPort: 6642, raftPort: 6644 },
} as const;
export type OvnDb = keyof typeof OVN_DBS;

/** The cluster's members' addresses, the master's first (it made the cluster; the others join it). */
export interface OvnCluster {
  members: { host: string; address: string }[];
}

/**
 * The cluster named by `uuids` (the key's value, already checked where it was set), or undefined
 * when it names no such cluster now: a member gone from the pool, without an IPv4 address, or
 * the master not among them.
 */
export function ovnClusterOf(uuids: string[] | undefined, hosts: Record<string, { uuid?: unknown; address?: unknown }>,
  masterRef: string): OvnCluster | undefined {
  if (!uuids) return undefined;
  const byUuid = new Map(Object.entries(hosts).map(([ref, h]) => [String(h.uuid).toLowerCase(), { ref, address: String(h.address ?? '') }]));
  const members = uuids.map((u) => byUuid.get(u));
  if (members.some((m) => !m || !isIPv4(m.address))) return undefined;
  const all = members.map((m) => ({ host: m!.ref, address: m!.address }));
  const master = all.find((m) => m.host === masterRef);
  if (!master) return undefined;
  return { members: [master, ...all.filter((m) => m !== master)] };
}

/** What clients connect to: every member's client port (TLS), comma-separated. */
export function clusterRemote(c: OvnCluster, db: OvnDb): string {
  return c.members.map((m) => `ssl:${m.address}:${OVN_DBS[db].clientPort}`).join(',');
}

/** A member's RAFT address (TLS: the members know each other by the pool CA). */
export function raftAddress(address: string, db: OvnDb): string {
  return `ssl:${address}:${OVN_DBS[db].raftPort}`;
}
