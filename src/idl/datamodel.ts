// The XenAPI datamodel as data (datamodel-facts.ts, generated from xapi's ocaml/idl) turned into
// the IDL's vocabulary: the classes xcpnet does not model by hand become data-only ClassDefs, and
// the hand-written classes get the published fields and messages they do not declare. Pure data,
// no I/O; runs once when the IDL is loaded.
import { NULL_REF, ROLES, t, zeroOf, type ClassDef, type Field, type Message, type Param, type Qualifier, type Role, type Ty, type Value } from './meta.js';

export type Lifecycle = 'published' | 'deprecated' | 'removed' | 'prototype';
/** [name, type, qualifier, lifecycle, default?], as xapi's datamodel spells them. */
export type DatamodelField = readonly [string, string, 'RW' | 'RO/constructor' | 'RO/runtime', Lifecycle, string?];
/** An explicit message: [name, params ([name, type], no session), result, weakest role ('' = none), lifecycle, sessionless?]. */
export type DatamodelMessage = readonly [string, readonly (readonly [string, string])[], string, Role | '', Lifecycle, boolean?];
/** An implicit message: [name, weakest role, lifecycle]; its signature follows from its field or class. */
export type DatamodelImplicit = readonly [string, Role | '', Lifecycle];
export interface DatamodelClass {
  name: string;
  lifecycle: Lifecycle;
  enums: Readonly<Record<string, readonly string[]>>;
  fields: readonly DatamodelField[];
  messages: readonly DatamodelMessage[];
  implicit: readonly DatamodelImplicit[];
}

/** The one error every explicit message xcpnet does not implement answers: [Class.message]. */
export const UNIMPLEMENTED = 'NOT_IMPLEMENTED';

const QUALIFIERS: Record<DatamodelField[2], Qualifier> = { RW: 'RW', 'RO/constructor': 'StaticRO', 'RO/runtime': 'DynamicRO' };

/** Class-level lookups the implicit generator serves even where xapi declares them explicitly (message). */
const IMPLICIT_SERVED = ['get_record', 'get_by_uuid', 'get_by_name_label', 'get_all', 'get_all_records', 'get_all_records_where'];

/** A role from the datamodel; '' (local root only, e.g. host.emergency_*) is the strongest. */
export const roleOf = (r: Role | ''): Role => r === '' ? ROLES[ROLES.length - 1]! : r;

/** Every enum of the datamodel, by name (a field may use an enum another class declares). */
export function enumsOf(model: readonly DatamodelClass[]): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const c of model) for (const [name, values] of Object.entries(c.enums)) out.set(name, values);
  return out;
}

/** Splits `K -> V` at its top-level arrow. */
function splitArrow(s: string): [string, string] {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    else if (depth === 0 && s.startsWith(' -> ', i)) return [s.slice(0, i), s.slice(i + 4)];
  }
  throw new Error(`no arrow in map type ${s}`);
}

/**
 * A datamodel type (`string`, `enum vif_operations`, `VM ref set`, `(string -> string) map`,
 * `VDI record`, `string option`) as a Ty. xcpnet has no option type: an option is its inner type;
 * `<class> record` (event.snapshot) is any record.
 */
export function parseType(s: string, enums: ReadonlyMap<string, readonly string[]>): Ty {
  // A few hundred distinct spellings among thousands of fields and parameters: parse each once
  // (types are never mutated, so fields share them).
  let cache = parsed.get(enums);
  if (!cache) parsed.set(enums, cache = new Map());
  let ty = cache.get(s);
  if (!ty) cache.set(s, ty = parseTypeOnce(s, enums));
  return ty;
}
const parsed = new WeakMap<ReadonlyMap<string, readonly string[]>, Map<string, Ty>>();

function parseTypeOnce(s: string, enums: ReadonlyMap<string, readonly string[]>): Ty {
  const suffix = (x: string) => s.endsWith(` ${x}`) ? s.slice(0, -x.length - 1) : undefined;
  let inner: string | undefined;
  if (s === 'an event batch') return t.any;
  if ((inner = suffix('set')) !== undefined) return t.set(parseType(inner, enums));
  if ((inner = suffix('option')) !== undefined) return parseType(inner, enums);
  if ((inner = suffix('map')) !== undefined) {
    if (!inner.startsWith('(') || !inner.endsWith(')')) throw new Error(`bad map type ${s}`);
    const [k, v] = splitArrow(inner.slice(1, -1));
    return t.map(parseType(k, enums), parseType(v, enums));
  }
  if ((inner = suffix('ref')) !== undefined) return t.ref(inner);
  if ((inner = suffix('record')) !== undefined) return inner === '<class>' ? t.any : t.record(inner);
  if (s.startsWith('enum ')) {
    const values = enums.get(s.slice(5));
    if (!values) throw new Error(`unknown enum ${s}`);
    return t.enumOf(s.slice(5), values);
  }
  switch (s) {
    case 'string': return t.string;
    case 'int': return t.int;
    case 'float': return t.float;
    case 'bool': return t.bool;
    case 'datetime': return t.datetime;
  }
  throw new Error(`unknown datamodel type ${s}`);
}

/** Splits the members of a `{a, b}` or `{"k" -> "v", ...}` literal at its top-level commas. */
function members(s: string): string[] {
  const body = s.trim().slice(1, -1).trim();
  if (body === '') return [];
  const out: string[] = [];
  let quoted = false; let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '"' && body[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && body[i] === ',') { out.push(body.slice(start, i).trim()); start = i + 1; }
  }
  out.push(body.slice(start).trim());
  return out;
}

/** A default as the datamodel writes it (`""`, `{}`, `-1.`, `Null`, `{"k" -> "v"}`), as a value of `ty`. */
export function parseDefault(s: string, ty: Ty): Value {
  switch (ty.kind) {
    case 'string': return s.startsWith('"') ? JSON.parse(s) as string : s;
    case 'int': case 'float': {
      const n = Number(s.endsWith('.') ? s.slice(0, -1) : s);
      if (!Number.isFinite(n)) throw new Error(`bad number default ${s}`);
      return n;
    }
    case 'bool': return s === 'true';
    case 'ref': return s === 'Null' ? NULL_REF : s;
    case 'set': return members(s).map((m) => parseDefault(m, ty.of));
    case 'map': {
      const out: Record<string, Value> = {};
      for (const m of members(s)) {
        const [k, v] = splitArrow(m);
        out[String(parseDefault(k, ty.key))] = parseDefault(v, ty.value);
      }
      return out;
    }
    default: return s;
  }
}

// One string each, shared by thousands of fields and messages.
const DATA_ONLY_FIELD = 'From xapi\'s datamodel; data only in xcpnet.';
const UNIMPLEMENTED_DOC = `Published by xapi, not implemented by xcpnet: answers ${UNIMPLEMENTED}.`;

/**
 * What xcpnet serves of a data-only class's explicit messages (src/server/impl/data-classes.ts
 * implements them): per message its errors, its doc, whether Async is allowed (as xapi's
 * `~flags:[`Session]` says), and defaults of versioned parameters. The rest answer UNIMPLEMENTED.
 */
export interface Served { errors: string[]; doc: string; async?: boolean; defaults?: Record<string, Value> }
export const SERVED: Readonly<Record<string, Readonly<Record<string, Served>>>> = {
  message: {
    create: { errors: ['UUID_INVALID', 'INVALID_VALUE'], doc: 'Record a message about an object; the oldest go beyond the bound (docs/differences.md).', async: false },
    destroy: { errors: [], doc: 'Delete a message.', async: false },
    destroy_many: { errors: [], doc: 'Delete several messages (all or none).' },
    get: { errors: ['UUID_INVALID'], doc: 'The messages about one object, newer than a time.', async: false },
    get_since: { errors: [], doc: 'Every message newer than a time.', async: false },
  },
  blob: {
    create: { errors: [], doc: 'Create an empty blob; its content is sent to /blob?ref=.' },
    destroy: { errors: [], doc: 'Delete a blob and its content.' },
  },
  SR: {
    create_new_blob: { errors: ['MAP_DUPLICATE_KEY'], doc: 'Create a blob and store it in blobs under the given name.', defaults: { public: false } },
  },
  SDN_controller: {
    introduce: { errors: ['OPERATION_NOT_ALLOWED', 'INVALID_VALUE'], doc: 'Record the pool\'s SDN controller (data only, docs/differences.md).',
      defaults: { protocol: 'ssl', address: '', port: 0 } },
    forget: { errors: [], doc: 'Forget the pool\'s SDN controller.' },
  },
  network_sriov: {
    create: { errors: ['NETWORK_UNMANAGED', 'PIF_UNMANAGED', 'PIF_IS_NOT_PHYSICAL', 'NETWORK_SRIOV_ALREADY_ENABLED', 'PIF_IS_NOT_SRIOV_CAPABLE'],
      doc: 'Enable SR-IOV on a PIF: no NIC xcpnet knows is SR-IOV capable, so it fails after xapi\'s checks.' },
    destroy: { errors: ['PIF_VLAN_STILL_EXISTS'], doc: 'Remove an SR-IOV network and its logical PIF.' },
    get_remaining_capacity: { errors: [], doc: 'Virtual functions left: none without SR-IOV.', async: false },
  },
};

/** What the datamodel says about one class, indexed for the builders below. */
class ClassFacts {
  readonly messages = new Map<string, DatamodelMessage>();
  readonly implicit = new Map<string, DatamodelImplicit>();
  constructor(readonly c: DatamodelClass, readonly enums: ReadonlyMap<string, readonly string[]>) {
    for (const m of c.messages) this.messages.set(m[0], m);
    for (const m of c.implicit) this.implicit.set(m[0], m);
  }

  role(message: string): Role | undefined {
    const i = this.implicit.get(message);
    if (i) return roleOf(i[1]);
    const m = this.messages.get(message);
    return m && roleOf(m[3]);
  }

  field(f: DatamodelField, filled: boolean): Field {
    const [name, type, qual, lifecycle, dflt] = f;
    const ty = parseType(type, this.enums);
    const out: Field = { name, ty, qual: QUALIFIERS[qual], doc: DATA_ONLY_FIELD, dataOnly: true };
    // A class modelled by hand keeps its constructors' mandatory members: the fields it adds
    // from the datamodel take the type's zero when xapi gives no default (docs/differences.md).
    // A DynamicRO field starts at the type's zero: no constructor sets it.
    if (dflt !== undefined) out.default = parseDefault(dflt, ty);
    else if (filled || out.qual === 'DynamicRO') out.default = zeroOf(ty);
    if (lifecycle === 'removed') out.removed = true;
    const setter = this.role(`set_${name}`) ?? this.role(`add_to_${name}`) ?? this.role(`add_${name}`);
    if (setter) out.writeRole = setter;
    return out;
  }

  message(m: DatamodelMessage): Message {
    const [name, params, result, role, lifecycle, sessionless] = m;
    const served = lifecycle === 'removed' ? undefined : SERVED[this.c.name]?.[name];
    if (served) {
      const out: Message = {
        name,
        params: params.map(([n, ty]) => {
          const p: Param = { name: n, ty: parseType(ty, this.enums) };
          if (served.defaults && n in served.defaults) p.default = served.defaults[n]!;
          return p;
        }),
        result: result === 'void' ? null : parseType(result, this.enums),
        errors: served.errors, role: roleOf(role), doc: served.doc,
      };
      if (served.async === false) out.async = false;
      return out;
    }
    const out: Message = {
      name,
      params: params.map(([n, ty]) => ({ name: n, ty: parseType(ty, this.enums) })),
      result: result === 'void' ? null : parseType(result, this.enums),
      errors: lifecycle === 'removed' ? ['MESSAGE_REMOVED'] : [UNIMPLEMENTED],
      role: roleOf(role),
      // Nothing to wait for: the call fails at once.
      async: false,
      doc: UNIMPLEMENTED_DOC,
      unimplemented: true,
    };
    if (lifecycle === 'removed') out.removed = true;
    if (sessionless) out.sessionless = true;
    return out;
  }
}

/** A class xcpnet does not model by hand: its records and implicit messages, nothing more. */
export function dataOnlyClass(c: DatamodelClass, enums: ReadonlyMap<string, readonly string[]>): ClassDef {
  const facts = new ClassFacts(c, enums);
  const has = (m: string) => facts.messages.has(m) || facts.implicit.has(m);
  const implicit = (m: string) => facts.implicit.has(m);
  const writeRole = facts.role('create') ?? facts.role('destroy') ?? 'pool-admin';
  const readRole = facts.role('get_record') ?? 'read-only';
  const fields = c.fields.map((f) => {
    const field = facts.field(f, false);
    if (field.writeRole === writeRole) delete field.writeRole;
    const getter = facts.role(`get_${f[0]}`);
    if (getter && getter !== readRole) field.readRole = getter;
    return field;
  });
  const out: ClassDef = {
    name: c.name,
    doc: `xapi's ${c.name}: data only in xcpnet (docs/differences.md).`,
    persistent: true,
    events: has('get_record'),
    writeRole,
    fields,
    // Explicit class-level messages that the implicit ones provide (message.get_record) are theirs.
    messages: c.messages.filter((m) => !IMPLICIT_SERVED.includes(m[0])).map((m) => facts.message(m)),
    dataOnly: true,
  };
  if (has('get_by_name_label')) out.nameLabel = true;
  if (implicit('create')) out.create = true;
  if (implicit('destroy')) out.destroy = true;
  if (!has('get_all')) out.unlisted = true;
  if (!has('get_record')) out.recordOnly = true;
  // xapi's message class is read through its own calls, not per-field getters.
  if (c.fields.length > 0 && !c.fields.some((f) => facts.implicit.has(`get_${f[0]}`))) out.noFieldAccessors = true;
  if (readRole !== 'read-only') out.readRole = readRole;
  // A removed class (VMPP) keeps the messages the datamodel still publishes: removal is per message.
  setRemovedImplicit(out, c);
  return out;
}

/**
 * Adds to a hand-written class what the datamodel publishes and it does not declare: fields
 * (appended, in the datamodel's order, with xapi's roles), and explicit messages, which answer
 * UNIMPLEMENTED. What it declares stays as declared (the datamodel test lists the differences).
 */
export function completeClass(cls: ClassDef, c: DatamodelClass, enums: ReadonlyMap<string, readonly string[]>): void {
  const facts = new ClassFacts(c, enums);
  const declared = new Set(cls.fields.map((f) => f.name));
  for (const f of c.fields) if (!declared.has(f[0]) && !cls.omittedFields?.includes(f[0])) cls.fields.push(facts.field(f, true));
  const messages = new Set(cls.messages.map((m) => m.name));
  for (const m of c.messages) if (!messages.has(m[0])) cls.messages.push(facts.message(m));
  setRemovedImplicit(cls, c);
}

function setRemovedImplicit(cls: ClassDef, c: DatamodelClass): void {
  const removed = c.implicit.filter((m) => m[2] === 'removed').map((m) => m[0]);
  if (removed.length > 0) cls.removedImplicit = removed;
}
