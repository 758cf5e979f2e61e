// pool.dump_database / pool.restore_database: a copy of the pool's object database and its
// return. In xapi these are HTTP handlers behind `xe pool-dump-database` and
// `xe pool-restore-database` (ocaml/xapi/pool_db_backup.ml); here they are two hidden messages,
// pool-admin only, and `xe` reads and writes the file on the client's side as the real one does.
//
// The dump holds every persistent object (not sessions, tasks or events, which a restart
// forgets anyway) without the derived inverse sets, and no local user: users and their password
// hashes are the host's accounts, as dom0's are on XCP, never pool data. It is taken in one
// synchronous pass over the store, between two transactions: a consistent snapshot.
//
// A restore checks the whole dump first (format, schema version, every class, ref, uuid, field
// type and field rule, every reference to a persistent object, one pool whose master exists),
// then replaces the objects in one transaction: unchanged objects are not written, so agents see
// events only for what differs. dry_run stops after the checks.
//
// The wire takes no large request (a string of at most 64 KiB, a body of 300 KiB: rpc/limits.ts),
// so a dump goes up in parts: pool.restore_database_upload(part, first) appends to the caller's
// staged upload, pool.restore_database(dry_run) restores it. One upload is staged at a time, of at
// most MAX_DUMP_CHARS; another session's upload idle for UPLOAD_IDLE_MS may be replaced.
import { ApiError } from '../common/api-error.js';
import { SCHEMA_VERSION } from '../db/migrations.js';
import type { Store } from '../db/store.js';
import { CLASSES, findClass, NULL_REF, zeroOf, type ClassDef, type Rec, type Value } from '../idl/index.js';
import { checkValue } from './field-rules.js';
import { decodeValue } from './values.js';

export const DUMP_FORMAT = 'xcpnet-pool-database';

export interface PoolDump {
  format: typeof DUMP_FORMAT;
  schema_version: number;
  /** The generation the snapshot was taken at. */
  generation: number;
  created: string;
  /** class → ref → stored fields (inverse sets left out: they follow from the refs). */
  objects: Record<string, Record<string, Rec>>;
}

const persistentClasses = (): ClassDef[] => CLASSES.filter((c) => c.persistent);

/** The largest dump a restore takes (characters of JSON text): pools of thousands of objects fit many times. */
export const MAX_DUMP_CHARS = 32 * 1024 * 1024;
/** An upload left this long without a part may be replaced by another session's. */
export const UPLOAD_IDLE_MS = 10 * 60 * 1000;

interface Upload { session: string; parts: string[]; chars: number; touched: number }
const uploads = new WeakMap<Store, Upload>();

/**
 * Appends a part to `session`'s staged upload (`first` starts a new one); returns the characters
 * staged. OPERATION_NOT_ALLOWED while another session's upload is in use; the size is bounded.
 */
export function stageUpload(store: Store, session: string, part: string, first: boolean, now = Date.now()): number {
  let u = uploads.get(store);
  if (u && u.session !== session && now - u.touched < UPLOAD_IDLE_MS) {
    throw new ApiError('OPERATION_NOT_ALLOWED', ['another session is uploading a pool database dump']);
  }
  if (first || !u || u.session !== session) {
    if (!first) throw new ApiError('OPERATION_NOT_ALLOWED', ['no dump upload in progress: start one with first=true']);
    u = { session, parts: [], chars: 0, touched: now };
    uploads.set(store, u);
  }
  if (u.chars + part.length > MAX_DUMP_CHARS) {
    uploads.delete(store);
    throw invalid(`the dump is larger than ${MAX_DUMP_CHARS} characters`);
  }
  u.parts.push(part);
  u.chars += part.length;
  u.touched = now;
  return u.chars;
}

/** The caller's staged dump, taken (the upload is gone afterwards, whatever the restore does). */
export function takeUpload(store: Store, session: string): string {
  const u = uploads.get(store);
  if (!u || u.session !== session) throw new ApiError('OPERATION_NOT_ALLOWED', ['no dump uploaded: send it with pool.restore_database_upload first']);
  uploads.delete(store);
  return u.parts.join('');
}
const REF = /^OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const invalid = (why: string): ApiError => new ApiError('RESTORE_DATABASE_INVALID', [why]);

/** The snapshot (synchronous on purpose: no commit can come between two reads). */
export function dumpDatabase(store: Store): PoolDump {
  const objects: Record<string, Record<string, Rec>> = {};
  for (const c of persistentClasses()) {
    const derived = store.derivedOf(c.name);
    const table: Record<string, Rec> = {};
    for (const [ref, rec] of store.all(c.name)) {
      const out: Rec = {};
      for (const [k, v] of Object.entries(rec)) if (!derived.has(k)) out[k] = v;
      table[ref] = out;
    }
    objects[c.name] = table;
  }
  return { format: DUMP_FORMAT, schema_version: SCHEMA_VERSION, generation: store.generation, created: new Date().toISOString(), objects };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and checks a dump; RESTORE_INCOMPATIBLE_VERSION for another schema version (xapi's
 * code), RESTORE_DATABASE_INVALID [reason] for anything else wrong. Nothing is written.
 */
export function checkDump(store: Store, text: string): PoolDump {
  let d: unknown;
  try { d = JSON.parse(text); } catch { throw invalid('the file is not a pool database dump (not JSON)'); }
  if (!isObject(d) || d.format !== DUMP_FORMAT) throw invalid(`the file is not a pool database dump (no "format": "${DUMP_FORMAT}")`);
  if (d.schema_version !== SCHEMA_VERSION) throw new ApiError('RESTORE_INCOMPATIBLE_VERSION', []);
  if (typeof d.generation !== 'number' || !isObject(d.objects)) throw invalid('the dump has no generation or no objects');
  const classOfRef = new Map<string, string>();
  const uuids = new Set<string>();
  for (const [cls, table] of Object.entries(d.objects)) {
    const c = findClass(cls);
    if (!c || c.name !== cls || !c.persistent) throw invalid(`unknown class ${cls}`);
    if (!isObject(table)) throw invalid(`${cls}: not a table of objects`);
    for (const [ref, rec] of Object.entries(table)) {
      if (!REF.test(ref)) throw invalid(`${cls}: ${ref} is not an object reference`);
      if (classOfRef.has(ref)) throw invalid(`${ref} appears twice`);
      if (!isObject(rec)) throw invalid(`${cls} ${ref}: not a record`);
      classOfRef.set(ref, cls);
      const uuid = rec.uuid;
      if (typeof uuid !== 'string' || uuid === '') throw invalid(`${cls} ${ref}: no uuid`);
      if (uuids.has(uuid)) throw invalid(`uuid ${uuid} appears twice`);
      uuids.add(uuid);
    }
  }
  const objects = d.objects as Record<string, Record<string, Rec>>;
  for (const [cls, table] of Object.entries(objects)) {
    const c = findClass(cls)!;
    const derived = store.derivedOf(cls);
    for (const [ref, rec] of Object.entries(table)) {
      for (const [name, v] of Object.entries(rec)) {
        const f = c.fields.find((x) => x.name === name);
        const what = `${cls}.${name} of ${ref}`;
        if (!f || derived.has(name)) throw invalid(`${cls} ${ref}: unknown field ${name}`);
        try {
          decodeValue(v, f.ty, what, findClass);
          checkValue(f, v, what);
        } catch (e) {
          throw invalid(`${what}: ${ApiError.is(e) ? `${e.code} ${e.params.join(' ')}` : (e as Error).message}`);
        }
        // A reference to a persistent class must land on an object of that class in the dump.
        if (f.ty.kind === 'ref' && v !== NULL_REF && findClass(f.ty.cls)?.persistent && classOfRef.get(v as string) !== f.ty.cls) {
          throw invalid(`${what}: ${String(v)} is not a ${f.ty.cls} of the dump`);
        }
      }
    }
  }
  const pools = Object.entries(objects.pool ?? {});
  if (pools.length !== 1) throw invalid(`a pool database has exactly one pool object, this one has ${pools.length}`);
  const master = pools[0]![1].master;
  if (typeof master !== 'string' || classOfRef.get(master) !== 'host') throw invalid('the pool\'s master is not a host of the dump');
  return d as unknown as PoolDump;
}

/**
 * Makes the store hold exactly the dump's objects, in one transaction. References are written
 * in a second step, once every object exists, so the inverse sets come out right whatever the
 * order (PIF ↔ VLAN refer to each other). Returns how many objects were added, changed, removed.
 */
export function restoreDump(store: Store, dump: PoolDump): { added: number; changed: number; removed: number } {
  const counts = { added: 0, changed: 0, removed: 0 };
  store.transact((tx) => {
    const refFields = (c: ClassDef) => new Set(store.relationsFrom(c.name).map((r) => r.oneField));
    for (const c of persistentClasses()) {
      const wanted = dump.objects[c.name] ?? {};
      for (const [ref] of tx.all(c.name)) if (!(ref in wanted)) { tx.destroy(c.name, ref); counts.removed++; }
    }
    const later: Array<[string, string, Rec]> = [];
    for (const c of persistentClasses()) {
      const rels = refFields(c);
      const derived = store.derivedOf(c.name);
      for (const [ref, given] of Object.entries(dump.objects[c.name] ?? {})) {
        // Every field, as a reopened database has it: a field the dump leaves out takes its default.
        const rec: Rec = {};
        for (const f of c.fields) if (!derived.has(f.name)) rec[f.name] = f.name in given ? given[f.name]! : (f.default ?? zeroOf(f.ty));
        const plain: Rec = {};
        const refs: Rec = {};
        for (const [k, v] of Object.entries(rec)) (rels.has(k) ? refs : plain)[k] = v;
        const cur = tx.find(c.name, ref);
        if (!cur) {
          tx.create(c.name, { ...plain, ...Object.fromEntries(Object.keys(refs).map((k) => [k, NULL_REF])) }, ref);
          counts.added++;
        } else if (!sameFields(cur, rec)) counts.changed++;
        if (cur) tx.update(c.name, ref, plain);
        later.push([c.name, ref, refs]);
      }
    }
    for (const [cls, ref, refs] of later) tx.update(cls, ref, refs);
  });
  return counts;
}

function sameFields(cur: Rec, rec: Rec): boolean {
  return Object.entries(rec).every(([k, v]) => JSON.stringify(cur[k] as Value) === JSON.stringify(v));
}
