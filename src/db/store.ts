// The object store: every XenAPI object lives in memory (reads are served from there) and,
// for persistent classes, in SQLite. Writes happen only inside `transact`, which runs a
// synchronous function against a copy-on-write overlay, then commits the overlay: its rows go
// to the durable writer (durable.ts) and the records to memory, so the next transaction sees
// them at once. A function that throws leaves nothing behind. A commit is on disk only once
// `settled` says so: whoever answers a client waits for that first (XapiServer.handle does).
//
// Fields declared `indexed` in the IDL are indexed by value (`lookup`), so a rule that asks
// "the network with this bridge" or "the PIFs of this host" costs what it finds, not the pool.
//
// The "many" side of every one-to-many relation (network.PIFs, VM.VIFs…) is never stored:
// it is derived from the "one" side on load and kept up to date on every write, and each
// object whose inverse set changes is marked modified, so it gets a `mod` event.
//
// Records handed out are shared and must be treated as immutable: writers replace values,
// they never mutate arrays or maps in place.

import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { privateFile, tighten } from '../common/private-files.js';
import { ApiError } from '../common/api-error.js';
import { type ClassDef, type Rec, type Relation, type Value, NULL_REF, zeroOf } from '../idl/meta.js';
import type { Records } from '../idl/types.gen.js';
import { ChangeLog, type ChangeKind } from './change-log.js';
import { InlineDurability, WorkerDurability, type Durability, type Row } from './durable.js';
import { migrate } from './migrations.js';

export interface StoreOptions {
  /** SQLite file, or ':memory:' for a store that forgets everything on exit. */
  path: string;
  classes: readonly ClassDef[];
  relations: readonly Relation[];
  /** How many changes the event log keeps before old tokens get EVENTS_LOST. */
  changeLogSize?: number;
}

interface Inverse { manyCls: string; manyField: string; oneField: string }

/** Empty sets and maps are one shared frozen value each: records hold many of them. */
const EMPTY_LIST = Object.freeze([]) as unknown as Value[];
const EMPTY_MAP = Object.freeze({}) as Rec;

/** `v`, or the shared empty set or map when it is an empty one. */
function canon(v: Value): Value {
  if (Array.isArray(v)) return v.length === 0 ? EMPTY_LIST : v;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const _ in v) return v;
    return EMPTY_MAP;
  }
  return v;
}

/**
 * The record type of a class named by a literal (`PIF`: PIFRecord, generated from the IDL in
 * src/idl/types.gen.ts); a plain Rec when the name is only known at run time.
 */
export type RecordOf<C extends string> = C extends keyof Records ? Records[C] : Rec;

/** One object written by a commit: its record before (absent if created) and after (absent if deleted). */
export interface CommitChange { ref: string; cls: string; kind: ChangeKind; before?: Rec; after?: Rec }

/**
 * The refs holding each value of one string field, in the order they took it. A value held by
 * one ref (the usual case: bridge names) costs one map entry, not a set.
 */
class ValueIndex {
  private readonly map = new Map<string, string | Set<string>>();

  add(v: Value | undefined, ref: string): void {
    if (typeof v !== 'string') return;
    const cur = this.map.get(v);
    if (cur === undefined) this.map.set(v, ref);
    else if (typeof cur === 'string') { if (cur !== ref) this.map.set(v, new Set([cur, ref])); } else cur.add(ref);
  }

  remove(v: Value | undefined, ref: string): void {
    if (typeof v !== 'string') return;
    const cur = this.map.get(v);
    if (cur === ref) this.map.delete(v);
    else if (cur instanceof Set) {
      cur.delete(ref);
      if (cur.size === 1) this.map.set(v, cur.values().next().value!);
    }
  }

  get(v: Value): readonly string[] {
    if (typeof v !== 'string') return [];
    const cur = this.map.get(v);
    return cur === undefined ? [] : typeof cur === 'string' ? [cur] : [...cur];
  }
}

export class Store {
  readonly classes = new Map<string, ClassDef>();
  readonly log: ChangeLog;
  private readonly tables = new Map<string, Map<string, Rec>>();
  private readonly classOfRef = new Map<string, string>();
  private readonly refOfUuid = new Map<string, string>();
  /** For each class, the relations in which it is the "one" side (it holds the ref). */
  private readonly outgoing = new Map<string, Inverse[]>();
  /** For each class, the derived set fields it carries. */
  private readonly derivedFields = new Map<string, Set<string>>();
  /** For each class, its indexed fields. */
  private readonly indexes = new Map<string, Map<string, ValueIndex>>();
  private readonly db: Database.Database;
  private readonly durability: Durability;
  private gen: number;
  private readonly lastGenByClass = new Map<string, number>();
  private readonly commitListeners: Array<(gen: number, changes: readonly CommitChange[]) => void> = [];

  constructor(opts: StoreOptions) {
    for (const c of opts.classes) {
      this.classes.set(c.name, c);
      this.tables.set(c.name, new Map());
      this.outgoing.set(c.name, []);
      this.derivedFields.set(c.name, new Set());
      const idx = new Map<string, ValueIndex>();
      for (const f of c.fields) {
        if (!f.indexed) continue;
        if (!['string', 'ref', 'enum'].includes(f.ty.kind)) throw new Error(`${c.name}.${f.name}: only string fields can be indexed`);
        idx.set(f.name, new ValueIndex());
      }
      this.indexes.set(c.name, idx);
    }
    for (const r of opts.relations) {
      this.outgoing.get(r.one.cls)?.push({ manyCls: r.many.cls, manyField: r.many.field, oneField: r.one.field });
      this.derivedFields.get(r.many.cls)?.add(r.many.field);
    }
    if (opts.path !== ':memory:' && opts.path !== '') ownerOnly(opts.path);
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the reply that acknowledges it is sent.
    this.db.pragma('synchronous = FULL');
    // The durable writer has its own connection; this one writes only the users table.
    this.db.pragma('busy_timeout = 10000');
    // The tables, and anything a newer schema version adds (migrations.ts).
    migrate(this.db);
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'generation'").get() as { value: string } | undefined;
    this.gen = row ? Number(row.value) : 0;
    this.log = new ChangeLog(opts.changeLogSize ?? 100_000, this.gen);
    // The writer thread starts first: it boots while this one loads.
    const inMemory = opts.path === ':memory:' || opts.path === '';
    this.durability = inMemory ? new InlineDurability(this.db, this.gen) : new WorkerDurability(opts.path, this.gen);
    this.load();
  }

  /** The generation of the last commit; every commit increments it by one. */
  get generation(): number { return this.gen; }

  /** Writes every commit to disk, then closes the database. */
  close(): void {
    this.durability.close();
    this.db.close();
  }

  /** The generation of the last commit known to be on disk. */
  get durableGeneration(): number { return this.durability.durable; }

  /**
   * Undefined when every commit up to `gen` (default: the last one) is on disk; else a promise
   * that resolves when it is, or rejects (INTERNAL_ERROR) if it can never be.
   */
  settled(gen = this.gen): Promise<void> | undefined {
    const p = this.durability.settled(gen);
    return p?.catch((e: Error) => { throw new ApiError('INTERNAL_ERROR', [e.message]); });
  }

  /** The SQLite handle, for the few tables that are not objects (users). */
  get sqlite(): Database.Database { return this.db; }

  /** The generation of the last commit that wrote any of these classes (0 if none since start). */
  lastGenerationOf(classes: readonly string[]): number {
    let g = 0;
    for (const c of classes) g = Math.max(g, this.lastGenByClass.get(c) ?? 0);
    return g;
  }

  /** Called after each commit (in memory), with its generation and what it wrote. */
  onCommit(fn: (gen: number, changes: readonly CommitChange[]) => void): void { this.commitListeners.push(fn); }

  // The store fills every field of a class (load, create), so its records are of its type.
  find<C extends string>(cls: C, ref: string): RecordOf<C> | undefined { return this.tables.get(cls)?.get(ref) as RecordOf<C> | undefined; }

  /** The record, or HANDLE_INVALID [cls, ref]. */
  get<C extends string>(cls: C, ref: string): RecordOf<C> {
    const r = this.find(cls, ref);
    if (!r) throw new ApiError('HANDLE_INVALID', [cls, ref]);
    return r;
  }

  classOf(ref: string): string | undefined { return this.classOfRef.get(ref); }
  refOfUuidIn(cls: string, uuid: string): string | undefined {
    const ref = this.refOfUuid.get(uuid);
    return ref && this.classOfRef.get(ref) === cls ? ref : undefined;
  }
  all<C extends string>(cls: C): IterableIterator<[string, RecordOf<C>]> {
    return ((this.tables.get(cls) ?? new Map()) as Map<string, RecordOf<C>>).entries();
  }
  count(cls: string): number { return this.tables.get(cls)?.size ?? 0; }

  /** The refs of the objects of `cls` whose indexed `field` holds `value` (a string). */
  lookup(cls: string, field: string, value: Value): readonly string[] {
    const idx = this.indexes.get(cls)?.get(field);
    if (!idx) throw new Error(`${cls}.${field} is not indexed`);
    return idx.get(value);
  }

  /**
   * Runs `fn` as one transaction. Its writes are visible to itself through `tx`, committed
   * (SQLite first, then memory, then the change log) when it returns, and discarded if it throws.
   */
  transact<T>(fn: (tx: Tx) => T): T {
    const tx = new Tx(this);
    const result = fn(tx);
    if (tx.touched.size > 0) this.commit(tx);
    return result;
  }

  // ---- internals used by Tx ----

  derivedOf(cls: string): Set<string> { return this.derivedFields.get(cls)!; }
  relationsFrom(cls: string): Inverse[] { return this.outgoing.get(cls)!; }
  classDef(cls: string): ClassDef {
    const c = this.classes.get(cls);
    if (!c) throw new Error(`unknown class ${cls}`);
    return c;
  }

  private commit(tx: Tx): void {
    const failed = this.durability.failure;
    if (failed) throw new ApiError('INTERNAL_ERROR', [failed.message]);
    const gen = this.gen + 1;
    const rows: Row[] = [];
    for (const [ref, change] of tx.touched) {
      if (!this.classDef(change.cls).persistent) continue;
      rows.push({ ref, cls: change.cls, data: change.kind === 'del' ? null : JSON.stringify(this.stored(change.cls, tx.overlay.get(ref)!)) });
    }
    // In-thread (':memory:') this writes now, and a failure leaves memory untouched.
    this.durability.write(gen, rows);
    this.gen = gen;
    const changes: CommitChange[] = [];
    for (const [ref, change] of tx.touched) {
      const table = this.tables.get(change.cls)!;
      const before = table.get(ref);
      let after: Rec | undefined;
      if (change.kind === 'del') {
        table.delete(ref);
        this.classOfRef.delete(ref);
        if (before && typeof before.uuid === 'string') this.refOfUuid.delete(before.uuid);
      } else {
        after = Object.freeze(tx.overlay.get(ref)!);
        table.set(ref, after);
        this.classOfRef.set(ref, change.cls);
        if (typeof after.uuid === 'string') this.refOfUuid.set(after.uuid, ref);
      }
      for (const [field, idx] of this.indexes.get(change.cls)!) {
        if (before && after && before[field] === after[field]) continue;
        if (before) idx.remove(before[field], ref);
        if (after) idx.add(after[field], ref);
      }
      // Only streamed classes are logged: session churn must not push events out of the log.
      if (this.classDef(change.cls).events) this.log.record(gen, ref, change.cls, change.kind);
      this.lastGenByClass.set(change.cls, gen);
      changes.push({ ref, cls: change.cls, kind: change.kind, before, after });
    }
    for (const fn of this.commitListeners) fn(gen, changes);
  }

  /** What goes to disk: everything but the derived inverse sets. */
  private stored(cls: string, rec: Rec): Rec {
    const derived = this.derivedOf(cls);
    const out: Rec = {};
    for (const [k, v] of Object.entries(rec)) if (!derived.has(k)) out[k] = v;
    return out;
  }

  private load(): void {
    const rows = this.db.prepare('SELECT ref, cls, data FROM objects').all() as Array<{ ref: string; cls: string; data: string }>;
    for (const { ref, cls, data } of rows) {
      const c = this.classes.get(cls);
      if (!c) continue;
      const rec: Rec = {};
      const stored = JSON.parse(data) as Rec;
      // Fill every field, so a record always carries the class's complete key set even after
      // the model grew a field.
      for (const f of c.fields) rec[f.name] = canon(f.name in stored ? stored[f.name]! : (f.default ?? zeroOf(f.ty)));
      this.tables.get(cls)!.set(ref, rec);
      this.classOfRef.set(ref, cls);
      if (typeof rec.uuid === 'string') this.refOfUuid.set(rec.uuid, ref);
    }
    // Rebuild the inverse sets from the "one" sides.
    for (const [cls, table] of this.tables) {
      for (const f of this.derivedOf(cls)) for (const rec of table.values()) rec[f] = [];
    }
    for (const [cls, table] of this.tables) {
      for (const inv of this.relationsFrom(cls)) {
        const targets = this.tables.get(inv.manyCls)!;
        for (const [ref, rec] of table) {
          const target = targets.get(rec[inv.oneField] as string);
          if (target) (target[inv.manyField] as Value[]).push(ref);
        }
      }
    }
    for (const [cls, table] of this.tables) {
      const idx = this.indexes.get(cls)!;
      for (const [ref, rec] of table) {
        for (const f of this.derivedOf(cls)) rec[f] = canon(rec[f]!);
        table.set(ref, Object.freeze(rec));
        for (const [field, index] of idx) index.add(rec[field], ref);
      }
    }
  }
}

/** A write transaction: a copy-on-write overlay over the store. */
export class Tx {
  readonly overlay = new Map<string, Rec>();
  readonly touched = new Map<string, { cls: string; kind: ChangeKind }>();
  private readonly deleted = new Set<string>();

  constructor(readonly store: Store) {}

  find<C extends string>(cls: C, ref: string): RecordOf<C> | undefined {
    if (this.deleted.has(ref)) return undefined;
    const own = this.overlay.get(ref);
    if (own) return this.touched.get(ref)!.cls === cls ? own as RecordOf<C> : undefined;
    return this.store.find(cls, ref);
  }

  get<C extends string>(cls: C, ref: string): RecordOf<C> {
    const r = this.find(cls, ref);
    if (!r) throw new ApiError('HANDLE_INVALID', [cls, ref]);
    return r;
  }

  classOf(ref: string): string | undefined {
    if (this.deleted.has(ref)) return undefined;
    return this.touched.get(ref)?.cls ?? this.store.classOf(ref);
  }

  /** Every live record of a class, this transaction's writes included. */
  all<C extends string>(cls: C): Array<[string, RecordOf<C>]> {
    const out: Array<[string, RecordOf<C>]> = [];
    for (const [ref, rec] of this.store.all(cls)) if (!this.deleted.has(ref) && !this.overlay.has(ref)) out.push([ref, rec]);
    for (const [ref, rec] of this.overlay) if (this.touched.get(ref)!.cls === cls && !this.deleted.has(ref)) out.push([ref, rec as RecordOf<C>]);
    return out;
  }

  /** `Store.lookup` with this transaction's writes: the untouched objects first, then its own. */
  lookup(cls: string, field: string, value: Value): string[] {
    const out: string[] = [];
    for (const ref of this.store.lookup(cls, field, value)) if (!this.deleted.has(ref) && !this.overlay.has(ref)) out.push(ref);
    for (const [ref, rec] of this.overlay) if (this.touched.get(ref)!.cls === cls && !this.deleted.has(ref) && rec[field] === value) out.push(ref);
    return out;
  }

  /** Inserts a record; absent fields take their defaults. Returns the new ref. */
  create(cls: string, fields: Rec, ref = `OpaqueRef:${randomUUID()}`): string {
    const c = this.store.classDef(cls);
    const rec: Rec = {};
    for (const f of c.fields) rec[f.name] = canon(f.name in fields ? fields[f.name]! : (f.default ?? zeroOf(f.ty)));
    if (!fields.uuid) rec.uuid = randomUUID();
    for (const f of this.store.derivedOf(cls)) rec[f] = EMPTY_LIST;
    this.overlay.set(ref, rec);
    this.touched.set(ref, { cls, kind: 'add' });
    for (const inv of this.store.relationsFrom(cls)) this.link(inv, ref, rec[inv.oneField] as string, +1);
    return ref;
  }

  /** Replaces the given fields of a record. Relation fields keep their inverses in step. */
  update(cls: string, ref: string, patch: Rec): void {
    const cur = this.get(cls, ref);
    // A write that changes nothing is no write: no event, no new generation (use touch for that).
    if (Object.entries(patch).every(([k, v]) => sameValue(cur[k], v))) return;
    const next = this.writable(cls, ref, cur);
    for (const [k, v] of Object.entries(patch)) {
      const inv = this.store.relationsFrom(cls).find((i) => i.oneField === k);
      if (inv && cur[k] !== v) {
        this.link(inv, ref, cur[k] as string, -1);
        this.link(inv, ref, v as string, +1);
      }
      next[k] = canon(v);
    }
  }

  destroy(cls: string, ref: string): void {
    const cur = this.get(cls, ref);
    for (const inv of this.store.relationsFrom(cls)) this.link(inv, ref, cur[inv.oneField] as string, -1);
    const wasNew = this.touched.get(ref)?.kind === 'add';
    this.overlay.delete(ref);
    this.deleted.add(ref);
    if (wasNew) this.touched.delete(ref);
    else this.touched.set(ref, { cls, kind: 'del' });
  }

  /** Marks an object modified (an `event.inject`), without changing it. */
  touch(cls: string, ref: string): void {
    this.writable(cls, ref, this.get(cls, ref));
  }

  private writable(cls: string, ref: string, cur: Rec): Rec {
    let rec = this.overlay.get(ref);
    if (!rec) {
      rec = { ...cur };
      this.overlay.set(ref, rec);
      this.touched.set(ref, { cls, kind: 'mod' });
    }
    return rec;
  }

  /** Adds (+1) or removes (-1) `ref` in the inverse set of the object `target` points at. */
  private link(inv: Inverse, ref: string, target: string, delta: 1 | -1): void {
    if (!target || target === NULL_REF) return;
    const t = this.find(inv.manyCls, target);
    if (!t) return; // dangling refs are allowed and simply have no inverse
    const w = this.writable(inv.manyCls, target, t);
    const set = w[inv.manyField] as string[];
    w[inv.manyField] = delta > 0 ? (set.includes(ref) ? set : [...set, ref]) : canon(set.filter((r) => r !== ref));
  }
}

function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The database holds the users' password hashes and the whole pool: mode 0600, whatever the
 * umask. SQLite creates the -wal and -shm files with the database file's mode, so creating that
 * file first is enough for new ones; files left by an older run are tightened.
 */
function ownerOnly(path: string): void {
  privateFile(path);
  for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) tighten(f, 0o600);
}
