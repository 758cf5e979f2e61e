// Reading XenAPI records defensively: wire values may be numbers or numeric strings,
// sets may be missing. Pure helpers for desired.ts and the loop.
import type { Rec, Value } from '../idl/meta.js';

export const NULL = 'OpaqueRef:NULL';

export type Table = Record<string, Rec>;

/** The records of the whole pool the agent compiles from, keyed by XenAPI class name. */
export interface PoolRecords {
  pool: Table;
  host: Table;
  PIF: Table;
  network: Table;
  VIF: Table;
  VM: Table;
  Bond: Table;
  VLAN: Table;
  tunnel: Table;
}

// The classes the agent follows: the protocol's list (the master waits on writes to these).
export { AGENT_CLASSES as POOL_CLASSES, type AgentClass as PoolClass } from '../protocol/host-agent.js';
import { AGENT_CLASSES as POOL_CLASSES, type AgentClass as PoolClass } from '../protocol/host-agent.js';

export function emptyPool(): PoolRecords {
  return { pool: {}, host: {}, PIF: {}, network: {}, VIF: {}, VM: {}, Bond: {}, VLAN: {}, tunnel: {} };
}

/** Event classes are lower-case on the wire (`pif`, `vlan`); map them back. */
export function poolClassOf(eventClass: string): PoolClass | undefined {
  const lc = eventClass.toLowerCase();
  return POOL_CLASSES.find((c) => c.toLowerCase() === lc);
}

export const str = (v: Value | undefined): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
export const bool = (v: Value | undefined): boolean => v === true || v === 'true';
export function int(v: Value | undefined, dflt: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : dflt;
}
export function strMap(v: Value | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) out[k] = str(x);
  return out;
}
export function refs(v: Value | undefined): string[] {
  return Array.isArray(v) ? v.map(str).filter((r) => r !== '' && r !== NULL) : [];
}
export const isRef = (v: Value | undefined): boolean => typeof v === 'string' && v !== '' && v !== NULL;

/** Dotted netmask → prefix length, or undefined when not a contiguous mask. */
export function prefixOf(netmask: string): number | undefined {
  if (/^\d+$/.test(netmask)) { const n = Number(netmask); return n <= 32 ? n : undefined; }
  const parts = netmask.split('.');
  if (parts.length !== 4) return undefined;
  let bits = 0;
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) > 255) return undefined;
    bits = bits * 256 + Number(p);
  }
  const inv = (~bits >>> 0) + 1;
  if ((inv & (inv - 1)) !== 0 && inv !== 2 ** 32) return undefined; // not contiguous
  let n = 0;
  for (let b = 31; b >= 0 && (bits >>> b) & 1; b--) n++;
  return n;
}

export { isIPv4 } from '../common/net-syntax.js';

/**
 * Whether two values decoded from the wire (records, their fields) are equal, member by member
 * (key order aside): what comparing their JSON texts says, without writing either text.
 */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k) || !sameValue(a[k], b[k])) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}
