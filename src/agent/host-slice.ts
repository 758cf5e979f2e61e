// An agent's replica of the pool, indexed by host, network and VM, and the slices of it that one
// host's compile reads: the host's own records, and for each tunnel network of the host the
// records of its mesh (the network's other hosts). A change elsewhere in the pool leaves them as
// they were, and nothing is compiled again; a change on one tunnel network's mesh (a host
// joining it) computes that network's peers again, not the host's slice or other networks'
// peers. compileHost and meshPeers stay pure and whole; this only chooses their input and keeps
// their results. Equality with a compile of the whole pool is what host-slice.test.ts checks on
// random pools and random changes.
import type { Rec } from '../idl/meta.js';
import { byRemoteHost, compileHost, meshPeerOf, poolSdn, type Desired, type MeshPeer } from './desired.js';
import { emptyPool, isRef, POOL_CLASSES, refs, sameValue, str, strMap, type PoolClass, type PoolRecords } from './records.js';
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
  const keys = NETWORK_SETS.filter((f) => !sameValue(old[f], rec[f])).map((f) => `${ref}#${f}`);
  const rest = (r: Rec): Rec => { const { PIFs: _p, VIFs: _v, ...others } = r; return others; };
  if (!sameValue(rest(old), rest(rec))) keys.push(recordKey('network', ref));
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
 * transport, recursively) with their networks, VLANs, bonds and tunnels; the VMs resident here,
 * their VIFs and those VIFs' networks with the tunnels on them (whether the network is on OVN).
 * Networks come without their inverse sets (PIFs, VIFs), which change with every PIF or VIF
 * anywhere on them: a tunnel network's peers are not in the slice but in its meshSlice, and
 * compileHost is given them apart. Proportional to what the host carries, not to the pool.
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
  // Networks are taken without their inverse sets (at the end).
  const networks = new Set<string>();
  const takeNetwork = (ref: string): void => {
    deps?.add(recordKey('network', ref));
    if (all.network[ref]) networks.add(ref);
  };
  const work = [...where('PIF', 'host', hostRef)];
  const seen = new Set<string>();
  while (work.length > 0) {
    const ref = work.pop()!;
    if (seen.has(ref)) continue;
    seen.add(ref);
    const pif = take('PIF', ref);
    if (!pif) continue;
    takeNetwork(str(pif.network));
    if (isRef(pif.VLAN_master_of)) {
      const vlan = take('VLAN', str(pif.VLAN_master_of));
      if (vlan) work.push(str(vlan.tagged_PIF));
    }
    for (const b of refs(pif.bond_master_of)) take('Bond', b);
    for (const t of refs(pif.tunnel_access_PIF_of)) {
      const tunnel = take('tunnel', t);
      if (tunnel) work.push(str(tunnel.transport_PIF));
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
  for (const ref of networks) {
    const { VIFs: _vifs, PIFs: _pifs, ...neither } = all.network[ref]!;
    s.network[ref] = neither;
  }
  return s;
}

/**
 * The records meshPeerOf(pool, netRef, hostRef, accessRef) reads: the access PIF, its tunnel, that
 * tunnel's transport PIF and the access PIF's host. Their keys go into `deps`.
 */
export function peerSlice(ix: IndexedPool, accessRef: string, deps: string[]): PoolRecords {
  const all = ix.records;
  const s = emptyPool();
  const take = (cls: PoolClass, ref: string): Rec | undefined => {
    deps.push(recordKey(cls, ref));
    const r = all[cls][ref];
    if (r) s[cls][ref] = r;
    return r;
  };
  const access = take('PIF', accessRef);
  if (access) {
    take('host', str(access.host));
    const t = take('tunnel', refs(access.tunnel_access_PIF_of)[0] ?? '');
    if (t) take('PIF', str(t.transport_PIF));
  }
  return s;
}

const samePeer = (a: MeshPeer | undefined, b: MeshPeer | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.ip === b.ip && a.remoteHost === b.remoteHost);

/**
 * meshPeers(pool, netRef, hostRef) of an IndexedPool, kept up to date by the changes it is told
 * of: each PIF of the network makes its peer (meshPeerOf) from the records peerSlice names, and
 * only a change of those records makes it again; a change of the network's PIFs walks the list
 * (new PIFs make their peer). The list is sorted again only when a peer changed, so a change
 * that does not move the mesh (a tunnel's status, a PIF's metrics) costs a peer, not the network.
 */
export class MeshPeers {
  /** Each PIF of the network → its peer and the keys it was made from. */
  private readonly entries = new Map<string, { peer: MeshPeer | undefined; deps: string[] }>();
  /** Key → the PIFs whose peer was made from it. */
  private readonly byKey = new Map<string, Set<string>>();
  private list: string[] = [];
  private stale = new Set<string>();
  private walk = true;
  peers: readonly MeshPeer[] = [];
  /** How many peers were made (for benches and tests). */
  made = 0;

  constructor(readonly netRef: string, readonly hostRef: string) {}

  /** Notes a key a change touched; true when it is one of this mesh's. */
  touch(key: string): boolean {
    if (key === this.netRef || key === `${this.netRef}#PIFs`) { this.walk = true; return true; }
    const pifs = this.byKey.get(key);
    if (!pifs) return false;
    for (const a of pifs) this.stale.add(a);
    return true;
  }

  /** Brings the peers up to date with `ix`; true when they changed. */
  refresh(ix: IndexedPool): boolean {
    let changed = false;
    if (this.walk) {
      const list = refs(ix.records.network[this.netRef]?.PIFs);
      if (list.length !== this.list.length || list.some((a, i) => a !== this.list[i])) changed = true;
      const inList = new Set(list);
      for (const a of this.entries.keys()) if (!inList.has(a)) this.drop(a);
      for (const a of inList) if (!this.entries.has(a)) { this.make(ix, a); changed = true; }
      this.list = list;
      this.walk = false;
    }
    for (const a of this.stale) {
      const was = this.entries.get(a);
      if (!was) continue;
      this.drop(a);
      if (!samePeer(was.peer, this.make(ix, a))) changed = true;
    }
    this.stale.clear();
    if (changed) this.peers = this.list.flatMap((a) => this.entries.get(a)!.peer ?? []).sort(byRemoteHost);
    return changed;
  }

  private make(ix: IndexedPool, accessRef: string): MeshPeer | undefined {
    this.made++;
    const deps: string[] = [];
    const peer = meshPeerOf(peerSlice(ix, accessRef, deps), this.netRef, this.hostRef, accessRef);
    this.entries.set(accessRef, { peer, deps });
    for (const k of deps) {
      let pifs = this.byKey.get(k);
      if (!pifs) this.byKey.set(k, pifs = new Set());
      pifs.add(accessRef);
    }
    return peer;
  }

  private drop(accessRef: string): void {
    for (const k of this.entries.get(accessRef)?.deps ?? []) {
      const pifs = this.byKey.get(k);
      pifs?.delete(accessRef);
      if (pifs?.size === 0) this.byKey.delete(k);
    }
    this.entries.delete(accessRef);
  }
}

function samePeers(a: readonly MeshPeer[], b: readonly MeshPeer[]): boolean {
  return a.length === b.length && a.every((p, i) => samePeer(p, b[i]));
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
      if (!sameValue(x[ref], y[ref])) return false;
      n++;
    }
    let m = 0;
    for (const _ in y) m++;
    if (n !== m) return false;
  }
  return true;
}

/**
 * compileHost for one host of an IndexedPool, from its parts, each kept until a change touches
 * what it was read from (a record or an index entry it looked up, found or not): the host's slice
 * (hostSlice), and the peers of each of its tunnel networks (MeshPeers). A change elsewhere costs
 * a look at the keys it touched; a change on a network's mesh makes the peers it touched again,
 * and when the peers moved, assembles the host from the parts (compileHost on the slice kept: its
 * own records, and the peers' ports). The Desired returned is shared: callers do not change it.
 */
export class HostCompiler {
  private last: {
    ix: IndexedPool; hostRef: string; plugged: ReadonlyMap<string, number>; slice: PoolRecords; deps: Set<string>;
    meshes: Map<string, MeshPeers>; version: number; out: Desired;
  } | undefined;
  /** How many times the host was assembled and its slice taken (the rest came from the memo): for benches and tests. */
  compiles = 0;
  slices = 0;
  /** How many mesh peers were made (MeshPeers.made, summed). */
  peersMade = 0;

  /** `plugged`: each attached PIF's MTU as of its plug (compileHost's third argument). */
  compile(ix: IndexedPool, hostRef: string, plugged: ReadonlyMap<string, number> = new Map()): Desired {
    const last = this.last?.hostRef === hostRef && sameMap(this.last.plugged, plugged) ? this.last : undefined;
    // The change log counts one replica's changes: after a full sync (a new replica) only a
    // comparison of the parts can keep the last result.
    const since = last && last.ix === ix ? ix.changedSince(last.version) : undefined;
    if (last && since) {
      let sliceTouched = false;
      const touched = new Set<MeshPeers>();
      for (const keys of since) {
        for (const k of keys) {
          if (last.deps.has(k)) sliceTouched = true;
          for (const m of last.meshes.values()) if (m.touch(k)) touched.add(m);
        }
      }
      last.version = ix.version;
      let moved = false;
      for (const m of touched) if (this.refresh(m, ix)) moved = true;
      if (!sliceTouched && !moved) return last.out;
      if (!sliceTouched) return this.assemble(ix, hostRef, plugged, last.slice, last.deps, last.meshes);
      const deps = new Set<string>();
      return this.assemble(ix, hostRef, plugged, this.slice(ix, hostRef, deps), deps, last.meshes);
    }
    const deps = new Set<string>();
    const slice = this.slice(ix, hostRef, deps);
    if (last && sameSlice(last.slice, slice)) {
      // The same slice: the same result if every network's peers are the same too.
      const meshes = new Map<string, MeshPeers>();
      for (const net of last.meshes.keys()) { const m = new MeshPeers(net, hostRef); this.refresh(m, ix); meshes.set(net, m); }
      if ([...meshes].every(([net, m]) => samePeers(m.peers, last.meshes.get(net)!.peers))) {
        this.last = { ...last, ix, slice, deps, meshes, version: ix.version };
        return last.out;
      }
      return this.assemble(ix, hostRef, plugged, slice, deps, meshes);
    }
    return this.assemble(ix, hostRef, plugged, slice, deps, new Map());
  }

  private slice(ix: IndexedPool, hostRef: string, deps: Set<string>): PoolRecords {
    this.slices++;
    return hostSlice(ix, hostRef, deps);
  }

  private refresh(m: MeshPeers, ix: IndexedPool): boolean {
    const before = m.made;
    const changed = m.refresh(ix);
    this.peersMade += m.made - before;
    return changed;
  }

  /** compileHost on `slice`, each network's peers from `meshes` or made now; only the networks it asked for are kept. */
  private assemble(ix: IndexedPool, hostRef: string, plugged: ReadonlyMap<string, number>, slice: PoolRecords,
    deps: Set<string>, meshes: Map<string, MeshPeers>): Desired {
    const used = new Map<string, MeshPeers>();
    const peersOf = (netRef: string): readonly MeshPeer[] => {
      let m = used.get(netRef) ?? meshes.get(netRef);
      if (!m) { m = new MeshPeers(netRef, hostRef); this.refresh(m, ix); }
      used.set(netRef, m);
      return m.peers;
    };
    this.compiles++;
    const out = compileHost(slice, hostRef, plugged, peersOf);
    this.last = { ix, hostRef, plugged, slice, deps, meshes: used, version: ix.version, out };
    return out;
  }
}
