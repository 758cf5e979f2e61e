// An agent's replica of the pool, indexed by host, network and VM, and the slice of it that one
// host's compile reads: a change elsewhere in the pool leaves the slice as it was, and the host
// is not compiled again. compileHost stays pure and whole; this only chooses its input.
// Equality with a compile of the whole pool is what host-slice.test.ts checks on random pools
// and random changes.
import type { Rec } from '../idl/meta.js';
import { compileHost, poolSdn, type Desired } from './desired.js';
import { emptyPool, isRef, POOL_CLASSES, refs, str, strMap, type PoolClass, type PoolRecords } from './records.js';
import { OVN_CLUSTER_KEY, SDN_KEY } from '../idl/checks.js';

/** The forward fields the slice follows backwards (the records' own inverse sets are not trusted to exist). */
const INDEXED = { PIF: ['host', 'network'], VIF: ['VM'], VM: ['resident_on'], tunnel: ['access_PIF'] } as const;
type IndexedClass = keyof typeof INDEXED;
const indexedFields = (cls: PoolClass): readonly string[] => (INDEXED as Record<string, readonly string[]>)[cls] ?? [];

const NONE: ReadonlySet<string> = new Set();

/** How many changes the pool remembers for its compilers; one further behind slices again. */
const CHANGE_LOG = 4096;

/**
 * What a slice depended on: a record, an index entry (`cls.field=value`), or the pool record. A
 * record by its ref alone: refs are unique across classes (two records sharing one, in records the
 * master never writes, only make a change count for both), and no key is built per lookup.
 */
const recordKey = (cls: PoolClass, ref: string): string => (cls === 'pool' ? 'pool' : ref);
/** A network's PIFs and VIFs change with every PIF or VIF made on it: keys of their own. */
const NETWORK_SETS = ['PIFs', 'VIFs'];
const networkKeys = (ref: string, old: Rec | undefined, rec: Rec): string[] => {
  if (!old) return [recordKey('network', ref)];
  const keys = NETWORK_SETS.filter((f) => JSON.stringify(old[f]) !== JSON.stringify(rec[f])).map((f) => `${ref}#${f}`);
  const rest = (r: Rec) => JSON.stringify(Object.entries(r).filter(([k]) => !NETWORK_SETS.includes(k)));
  if (rest(old) !== rest(rec)) keys.push(recordKey('network', ref));
  return keys;
};
/** Any host made or removed (a slice that holds every host depends on it). */
const HOSTS_KEY = 'host#all';
const indexKey = (cls: string, field: string, value: string): string => `${cls}.${field}=${value}`;

/** The records of the pool, replaced (never changed in place) one at a time, with their indexes. */
export class IndexedPool {
  readonly records: PoolRecords = emptyPool();
  /** `cls.field` → field value → refs of the records holding it. */
  private readonly index = new Map<string, Map<string, Set<string>>>();
  /** The keys each recent change touched (see recordKey, indexKey); log[0] is change number logStart. */
  private log: string[][] = [];
  private logStart = 0;

  /** The number of changes made so far. */
  get version(): number { return this.logStart + this.log.length; }

  /** The keys touched since change `v`, or undefined when the log no longer reaches back that far. */
  changedSince(v: number): string[][] | undefined {
    return v < this.logStart ? undefined : this.log.slice(v - this.logStart);
  }

  private logged(keys: string[]): void {
    this.log.push(keys);
    if (this.log.length > CHANGE_LOG) { const drop = this.log.length - CHANGE_LOG / 2; this.log = this.log.slice(drop); this.logStart += drop; }
  }

  /** A record as it is now (a new object: records are never changed in place, see hostSlice). */
  put(cls: PoolClass, ref: string, rec: Rec): void {
    const old = this.records[cls][ref];
    const keys = cls === 'network' ? networkKeys(ref, old, rec) : [recordKey(cls, ref)];
    if (cls === 'host' && !old) keys.push(HOSTS_KEY);
    for (const f of indexedFields(cls)) {
      const [was, now] = [old ? str(old[f]) : undefined, str(rec[f])];
      if (was !== now) { keys.push(indexKey(cls, f, now)); if (was !== undefined) keys.push(indexKey(cls, f, was)); }
    }
    this.logged(keys);
    if (old) this.unindex(cls, ref, old);
    this.records[cls][ref] = rec;
    for (const f of indexedFields(cls)) {
      const key = `${cls}.${f}`;
      let byValue = this.index.get(key);
      if (!byValue) this.index.set(key, byValue = new Map());
      const v = str(rec[f]);
      let set = byValue.get(v);
      if (!set) byValue.set(v, set = new Set());
      set.add(ref);
    }
  }

  remove(cls: PoolClass, ref: string): void {
    const old = this.records[cls][ref];
    if (!old) return;
    this.logged([recordKey(cls, ref), ...(cls === 'host' ? [HOSTS_KEY] : []), ...(cls === 'network' ? NETWORK_SETS.map((f) => `${ref}#${f}`) : []), ...indexedFields(cls).map((f) => indexKey(cls, f, str(old[f])))]);
    this.unindex(cls, ref, old);
    delete this.records[cls][ref];
  }

  /** Refs of the records of `cls` whose `field` reads `value` (as str() reads it). */
  where<C extends IndexedClass>(cls: C, field: (typeof INDEXED)[C][number], value: string): ReadonlySet<string> {
    return this.index.get(`${cls}.${field}`)?.get(value) ?? NONE;
  }

  private unindex(cls: PoolClass, ref: string, rec: Rec): void {
    for (const f of indexedFields(cls)) {
      const byValue = this.index.get(`${cls}.${f}`);
      const v = str(rec[f]);
      const set = byValue?.get(v);
      set?.delete(ref);
      if (set && set.size === 0) byValue!.delete(v);
    }
  }
}

/** An IndexedPool holding a copy of `pool`'s tables (the records themselves are shared). */
export function indexPool(pool: PoolRecords): IndexedPool {
  const ix = new IndexedPool();
  for (const cls of POOL_CLASSES) for (const [ref, rec] of Object.entries(pool[cls])) ix.put(cls, ref, rec);
  return ix;
}

/**
 * The records compileHost(pool, hostRef) reads, and perhaps a few more that it filters out
 * itself (another host's PIF, a tunnel of a network this host has no VIF on): the pool record,
 * the host, the host's PIFs and every PIF they realise through (a VLAN's tagged PIF, a tunnel's
 * transport, recursively) with their networks, VLANs, bonds and tunnels; for a tunnel network its
 * PIFs with their tunnels, transports and hosts (the mesh's peers); the VMs resident here, their
 * VIFs and those VIFs' networks with the tunnels on them (whether the network is on OVN).
 * Networks come without the inverse sets compileHost does not read (their VIFs; their PIFs but
 * for a tunnel network here). Proportional to what the host carries, not to the pool.
 */
export function hostSlice(ix: IndexedPool, hostRef: string, deps?: Set<string>): PoolRecords {
  const all = ix.records;
  const s = emptyPool();
  s.pool = { ...all.pool }; // one record (a copy: the replica's table changes in place)
  deps?.add('pool');
  /** Index lookups, noted in `deps`. */
  const where: IndexedPool['where'] = (cls, field, value) => { deps?.add(indexKey(cls, field, value)); return ix.where(cls, field, value); };
  const take = (cls: PoolClass, ref: string): Rec | undefined => {
    deps?.add(recordKey(cls, ref));
    const r = all[cls][ref];
    if (r) s[cls][ref] = r;
    return r;
  };
  take('host', hostRef);
  // A pool whose OVN databases are a cluster: the compile finds the members' hosts (their
  // addresses) by uuid among all hosts, so the slice holds, and depends on, every host record
  // (hosts only, and only on such a pool: a few against the PIFs and VIFs).
  const poolConfig = strMap(Object.values(all.pool)[0]?.other_config);
  if (poolConfig[SDN_KEY] === 'ovn' && poolConfig[OVN_CLUSTER_KEY] !== undefined) {
    for (const ref of Object.keys(all.host)) take('host', ref);
    deps?.add(HOSTS_KEY);
  }
  // Networks are taken without their inverse sets, which change with every PIF or VIF anywhere
  // on them; a tunnel network of this host keeps its PIFs (its mesh peers).
  const networks = new Map<string, boolean>();
  const takeNetwork = (ref: string, withPifs = false): Rec | undefined => {
    deps?.add(recordKey('network', ref));
    if (withPifs) deps?.add(`${ref}#PIFs`);
    const n = all.network[ref];
    if (n) networks.set(ref, withPifs || (networks.get(ref) ?? false));
    return n;
  };
  const work = [...where('PIF', 'host', hostRef)];
  const seen = new Set<string>();
  while (work.length > 0) {
    const ref = work.pop()!;
    if (seen.has(ref)) continue;
    seen.add(ref);
    const pif = take('PIF', ref);
    if (!pif) continue;
    const net = takeNetwork(str(pif.network));
    if (isRef(pif.VLAN_master_of)) {
      const vlan = take('VLAN', str(pif.VLAN_master_of));
      if (vlan) work.push(str(vlan.tagged_PIF));
    }
    for (const b of refs(pif.bond_master_of)) take('Bond', b);
    const tunnels = refs(pif.tunnel_access_PIF_of);
    for (const t of tunnels) {
      const tunnel = take('tunnel', t);
      if (tunnel) work.push(str(tunnel.transport_PIF));
    }
    // The mesh's peers: every access PIF of the network, its tunnel, transport and host.
    if (tunnels.length > 0) {
      takeNetwork(str(pif.network), true);
      for (const a of refs(net?.PIFs)) {
        const access = take('PIF', a);
        if (!access) continue;
        take('host', str(access.host));
        const t = take('tunnel', refs(access.tunnel_access_PIF_of)[0] ?? '');
        if (t) take('PIF', str(t.transport_PIF));
      }
    }
  }
  const { ovnPool } = poolSdn(all.pool);
  for (const vmRef of where('VM', 'resident_on', hostRef)) {
    take('VM', vmRef);
    for (const vifRef of where('VIF', 'VM', vmRef)) {
      const vif = take('VIF', vifRef)!;
      const netRef = str(vif.network);
      takeNetwork(netRef);
      // Whether the network is on OVN (asked only on an OVN pool): the tunnels whose access PIF is on it.
      if (ovnPool) for (const p of where('PIF', 'network', netRef)) {
        for (const t of where('tunnel', 'access_PIF', p)) { take('tunnel', t); take('PIF', p); }
      }
    }
  }
  for (const [ref, withPifs] of networks) {
    const { VIFs: _vifs, ...noVifs } = all.network[ref]!;
    const { PIFs: _pifs, ...neither } = noVifs;
    s.network[ref] = withPifs ? noVifs : neither;
  }
  return s;
}

function sameMap(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Two slices with the same records (the same objects, or equal copies) under the same refs. */
function sameSlice(a: PoolRecords, b: PoolRecords): boolean {
  for (const cls of POOL_CLASSES) {
    const x = a[cls];
    const y = b[cls];
    if (x === y) continue;
    let n = 0;
    for (const ref in x) {
      if (x[ref] !== y[ref] && (y[ref] === undefined || JSON.stringify(x[ref]) !== JSON.stringify(y[ref]))) return false;
      n++;
    }
    let m = 0;
    for (const _ in y) m++;
    if (n !== m) return false;
  }
  return true;
}

/**
 * compileHost for one host of an IndexedPool, compiled again only when its slice changed
 * (memoised on the slice's records). The slice is taken again only when a change since the last
 * one touched something it was taken from (a record or an index entry it looked up, found or
 * not), so a change elsewhere costs a look at the keys it touched. The Desired returned is
 * shared: callers do not change it.
 */
export class HostCompiler {
  private last: { ix: IndexedPool; hostRef: string; plugged: ReadonlyMap<string, number>; slice: PoolRecords; deps: Set<string>; version: number; out: Desired } | undefined;
  /** How many compiles ran (the rest were answered from the memo): for benches and tests. */
  compiles = 0;

  /** `plugged`: each attached PIF's MTU as of its plug (compileHost's third argument). */
  compile(ix: IndexedPool, hostRef: string, plugged: ReadonlyMap<string, number> = new Map()): Desired {
    const last = this.last?.hostRef === hostRef && sameMap(this.last.plugged, plugged) ? this.last : undefined;
    // The change log counts one replica's changes: after a full sync (a new replica) only a
    // comparison of the slices can keep the last result.
    if (last && last.ix === ix) {
      const since = ix.changedSince(last.version);
      if (since && !since.some((keys) => keys.some((k) => last.deps.has(k)))) { last.version = ix.version; return last.out; }
    }
    const deps = new Set<string>();
    const version = ix.version;
    const slice = hostSlice(ix, hostRef, deps);
    if (last && sameSlice(last.slice, slice)) { this.last = { ...last, ix, slice, deps, version }; return last.out; }
    this.compiles++;
    const out = compileHost(slice, hostRef, plugged);
    this.last = { ix, hostRef, plugged, slice, deps, version, out };
    return out;
  }
}
