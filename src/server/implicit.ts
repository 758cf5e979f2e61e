// The implicit messages every class gets from its field list (xapi generates them from its datamodel, ocaml/idl): getters,
// setters of RW fields, map and set editors, lookups, and the implicit constructor and
// destructor. Derived from the IDL, never written per class.

import { ApiError } from '../common/api-error.js';
import { type ClassDef, type Field, type Param, type Rec, type Role, type Value, t } from '../idl/meta.js';
import type { CallContext, Impl, Method } from './context.js';
import { visibleFields } from '../rpc/shape.js';
import { markWholeClass } from '../rpc/jsonrpc.js';
import { columnOf, matchesWhere, parseWhere } from './where.js';
import { checkCreate, checkEntry, checkKeyRoles, checkKeysInDb, checkMember, checkValue } from './field-rules.js';

// Stored records are frozen and replaced on every write, so a record's identity is its
// version: the client view can be computed once per version, and for a class without internal
// fields it is the stored record itself.
const clientViews = new WeakMap<Rec, Rec>();
const hasInternal = new WeakMap<ClassDef, boolean>();

/** The record as a client sees it: internal fields left out. Treat the result as immutable. */
export function clientRecord(cls: ClassDef, rec: Rec): Rec {
  let hidden = hasInternal.get(cls);
  if (hidden === undefined) hasInternal.set(cls, hidden = cls.fields.some((f) => f.internal));
  if (!hidden && Object.isFrozen(rec)) return rec;
  const cached = clientViews.get(rec);
  if (cached) return cached;
  const out: Rec = {};
  for (const f of cls.fields) if (!f.internal) out[f.name] = rec[f.name] ?? null;
  if (Object.isFrozen(rec)) clientViews.set(rec, Object.freeze(out));
  return out;
}

function method(cls: ClassDef, name: string, params: Param[], result: Method['result'], role: Role, run: Impl,
  extra: Partial<Method> = {}): Method {
  // Getters and lookups read nothing but the class's own objects.
  const classRead = name.startsWith('get_');
  const removed = !!cls.removed || !!cls.removedImplicit?.includes(name);
  return { name: `${cls.name}.${name}`, cls, params, result, role, async: false, sessionless: false, removed, run, classRead, ...extra };
}

const self = (cls: ClassDef): Param => ({ name: 'self', ty: t.ref(cls.name) });

export function implicitMethods(cls: ClassDef): Method[] {
  const out: Method[] = [];
  if (cls.recordOnly) return out;
  const readRole: Role = cls.readRole ?? 'read-only';
  const C = cls.name;
  const writeRole = (f?: Field): Role => f?.writeRole ?? cls.writeRole ?? 'pool-operator';
  const store = (ctx: CallContext) => ctx.services.store;
  // get_all_records is answered from one frozen map per generation of the class (the last
  // commit that wrote one of its objects), so writes elsewhere (a login, another class) leave it
  // as it is; the JSON codec keeps its bytes, and rebuilds them from the unchanged records' bytes.
  let cached: { gen: number; map: Record<string, Value> } | undefined;
  const allRecords = (ctx: CallContext): Record<string, Value> => {
    const gen = store(ctx).lastGenerationOf([C]);
    if (cached?.gen === gen) return cached.map;
    const map: Record<string, Value> = {};
    for (const [ref, rec] of store(ctx).all(C)) map[ref] = clientRecord(cls, rec);
    cached = { gen, map: Object.freeze(map) };
    markWholeClass(cached.map);
    return cached.map;
  };

  out.push(method(cls, 'get_record', [self(cls)], t.record(C), readRole,
    (ctx, a) => clientRecord(cls, store(ctx).get(C, a.self as string))));
  out.push(method(cls, 'get_by_uuid', [{ name: 'uuid', ty: t.string }], t.ref(C), readRole, (ctx, a) => {
    const ref = store(ctx).refOfUuidIn(C, a.uuid as string);
    // A credential's uuid resolves only for its own holder.
    if (!ref || (cls.credential && ref !== ctx.session?.ref)) throw new ApiError('UUID_INVALID', [C, a.uuid]);
    return ref;
  }));
  if (cls.nameLabel) {
    out.push(method(cls, 'get_by_name_label', [{ name: 'label', ty: t.string }], t.set(t.ref(C)), readRole, (ctx, a) => {
      const refs: string[] = [];
      for (const [ref, rec] of store(ctx).all(C)) if (rec.name_label === a.label) refs.push(ref);
      return refs;
    }));
  }
  if (!cls.unlisted) {
    out.push(method(cls, 'get_all', [], t.set(t.ref(C)), readRole, (ctx) => [...store(ctx).all(C)].map(([ref]) => ref)));
    out.push(method(cls, 'get_all_records', [], t.map(t.ref(C), t.record(C)), readRole, (ctx) => allRecords(ctx)));
    const whereParam: Param = { name: 'expr', ty: t.string };
    out.push(method(cls, 'get_all_where', [whereParam], t.set(t.ref(C)), readRole, (ctx, a) => {
      const expr = parseWhere(a.expr as string);
      return [...store(ctx).all(C)].filter(([ref, rec]) => matchesWhere(expr, cls, ref, rec)).map(([ref]) => ref);
    }));
    out.push(method(cls, 'get_all_records_where', [whereParam], t.map(t.ref(C), t.record(C)), readRole, (ctx, a) => {
      const expr = parseWhere(a.expr as string);
      const map: Record<string, Value> = {};
      // Internal fields are no columns: they answer no question (where.ts).
      for (const [ref, rec] of store(ctx).all(C)) if (matchesWhere(expr, cls, ref, rec)) map[ref] = clientRecord(cls, rec);
      return map;
    }));
  }
  if (!cls.noFieldAccessors) for (const f of visibleFields(cls)) out.push(...fieldMethods(cls, f, readRole, writeRole(f)));

  if (cls.create) {
    out.push(method(cls, 'create', [{ name: 'args', ty: t.record(C) }], t.ref(C), writeRole(), (ctx, a) =>
      createFromStruct(ctx, cls, a.args as Rec), { async: true }));
  }
  if (cls.destroy) {
    out.push(method(cls, 'destroy', [self(cls)], null, writeRole(), (ctx, a) => {
      store(ctx).transact((tx) => { tx.get(C, a.self as string); tx.destroy(C, a.self as string); });
    }, { async: true }));
  }
  return out;
}

function fieldMethods(cls: ClassDef, f: Field, readRole: Role, role: Role): Method[] {
  const out = fieldMethodsOf(cls, f, readRole, role);
  // A removed field stays in records; its accessors answer MESSAGE_REMOVED.
  return f.removed ? out.map((m) => ({ ...m, removed: true })) : out;
}

function fieldMethodsOf(cls: ClassDef, f: Field, readRole: Role, role: Role): Method[] {
  const C = cls.name;
  const out: Method[] = [];
  const getter = method(cls, `get_${f.name}`, [self(cls)], f.ty, f.readRole ?? readRole,
    (ctx, a) => ctx.services.store.get(C, a.self as string)[f.name] ?? null);
  out.push(getter);
  if (f.qual !== 'RW') return out;
  const write = (ctx: CallContext, ref: string, fn: (cur: Value) => Value) =>
    ctx.services.store.transact((tx) => {
      const rec = tx.get(C, ref);
      const value = fn(rec[f.name] ?? null);
      checkKeysInDb(tx, f, rec[f.name] ?? null, value);
      tx.update(C, ref, { [f.name]: value });
    });
  // Every writer applies the field's rules (field-rules.ts): key roles first, then the values.
  out.push(method(cls, `set_${f.name}`, [self(cls), { name: 'value', ty: f.ty }], null, role,
    (ctx, a) => write(ctx, a.self as string, (cur) => {
      checkKeyRoles(ctx, cls, f, cur, a.value, `set_${f.name}`);
      checkValue(f, a.value!);
      return a.value!;
    })));
  if (f.ty.kind === 'map') {
    out.push(method(cls, `add_to_${f.name}`, [self(cls), { name: 'key', ty: f.ty.key }, { name: 'value', ty: f.ty.value }], null, role,
      (ctx, a) => write(ctx, a.self as string, (cur) => {
        const map = cur as Record<string, Value>;
        const key = String(a.key);
        if (key === '') throw new ApiError('INVALID_VALUE', ['key', key]);
        checkKeyRoles(ctx, cls, f, {}, { [key]: a.value! }, `add_to_${f.name}`);
        checkEntry(f, key, a.value!);
        // xapi's parameters: table, database column, reference, key.
        if (Object.hasOwn(map, key)) throw new ApiError('MAP_DUPLICATE_KEY', [C, columnOf(f.name), a.self, key]);
        return { ...map, [key]: a.value! };
      })));
    out.push(method(cls, `remove_from_${f.name}`, [self(cls), { name: 'key', ty: f.ty.key }], null, role,
      (ctx, a) => write(ctx, a.self as string, (cur) => {
        const map = { ...(cur as Record<string, Value>) };
        if (Object.hasOwn(map, String(a.key))) checkKeyRoles(ctx, cls, f, { [String(a.key)]: map[String(a.key)]! }, {}, `remove_from_${f.name}`);
        delete map[String(a.key)];
        return map;
      })));
  }
  if (f.ty.kind === 'set' && f.ty.of.kind !== 'ref') {
    out.push(method(cls, `add_${f.name}`, [self(cls), { name: 'value', ty: f.ty.of }], null, role,
      (ctx, a) => write(ctx, a.self as string, (cur) => {
        checkMember(f, a.value!);
        return (cur as Value[]).includes(a.value!) ? cur : [...(cur as Value[]), a.value!];
      })));
    out.push(method(cls, `remove_${f.name}`, [self(cls), { name: 'value', ty: f.ty.of }], null, role,
      (ctx, a) => write(ctx, a.self as string, (cur) => (cur as Value[]).filter((x) => x !== a.value))));
  }
  return out;
}

/**
 * The implicit constructor: every StaticRO and RW member may be given; those without a
 * default must be. A missing one is the real server's INTERNAL_ERROR.
 */
export function createFromStruct(ctx: CallContext, cls: ClassDef, args: Rec): string {
  const fields: Rec = {};
  for (const f of cls.fields) {
    if (f.internal || f.qual === 'DynamicRO') continue;
    if (f.name in args) fields[f.name] = args[f.name]!;
    else if (f.default === undefined) {
      throw new ApiError('INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${f.name}")`]);
    }
  }
  checkCreate(ctx, cls, fields);
  return ctx.services.store.transact((tx) => tx.create(cls.name, fields));
}
