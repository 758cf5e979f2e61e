// The meta-model: the vocabulary in which the XenAPI data model is declared (src/idl/classes).
// Everything generic — records, implicit messages, dispatch, wire marshalling, CLI field tables,
// docs — is derived at run time from values of these types. Pure data, no I/O.

/** A data-model type, as XenAPI's datamodel declares them. */
export type Ty =
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'float' }
  | { kind: 'bool' }
  | { kind: 'datetime' }
  | { kind: 'enum'; name: string; values: readonly string[] }
  | { kind: 'ref'; cls: string }
  | { kind: 'set'; of: Ty }
  | { kind: 'map'; key: Ty; value: Ty }
  | { kind: 'record'; cls: string }
  /** Free-form result (event.from batches, system.listMethods): passed through as is. */
  | { kind: 'any' };

export const t = {
  string: { kind: 'string' } as Ty,
  int: { kind: 'int' } as Ty,
  float: { kind: 'float' } as Ty,
  bool: { kind: 'bool' } as Ty,
  datetime: { kind: 'datetime' } as Ty,
  any: { kind: 'any' } as Ty,
  enumOf: (name: string, values: readonly string[]): Ty => ({ kind: 'enum', name, values }),
  ref: (cls: string): Ty => ({ kind: 'ref', cls }),
  set: (of: Ty): Ty => ({ kind: 'set', of }),
  map: (key: Ty, value: Ty): Ty => ({ kind: 'map', key, value }),
  record: (cls: string): Ty => ({ kind: 'record', cls }),
};
/** `map string -> string`, the commonest field type. */
export const stringMap = t.map(t.string, t.string);

/** JSON-shaped values as they live in records and travel on the wire (after unmarshalling). */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };
export type Rec = Record<string, Value>;

/** A field of a stored record. The store fills every field of a class, so an absent one is a
 *  misspelt field name: a bug, reported as such rather than carried on as undefined. */
export function stored(rec: Rec, name: string): Value {
  const v = rec[name];
  if (v === undefined) throw new Error(`record has no field ${name}`);
  return v;
}

/** The named fields of a stored record (see stored()). */
export function storedFields(rec: Rec, names: readonly string[]): Rec {
  const out: Rec = {};
  for (const n of names) out[n] = stored(rec, n);
  return out;
}

export type Qualifier = 'RW' | 'StaticRO' | 'DynamicRO';

/** Roles, weakest first. A message's `role` is the weakest role allowed to call it. */
export const ROLES = ['read-only', 'vm-operator', 'vm-admin', 'vm-power-admin', 'pool-operator', 'pool-admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Field {
  /** Wire name, verbatim: `name_label`, `MTU`, `tagged_PIF`. */
  name: string;
  ty: Ty;
  qual: Qualifier;
  /** Data-model default. Absent = mandatory in an implicit constructor struct. */
  default?: Value;
  /**
   * The store keeps an index of the field's values (string fields only), so rules find the
   * objects holding a value (`lookup`) without a scan of the class: not part of the API.
   */
  indexed?: boolean;
  /** Hidden from clients (not in records, no getter), e.g. `PIF.device_name`. */
  internal?: boolean;
  /** The lifecycle says Removed: still in records, but the getter answers MESSAGE_REMOVED. */
  removed?: boolean;
  /** Role needed for the implicit writers, when stronger than the class default. */
  writeRole?: Role;
  /** Role needed by the getter, when not the class's read role (secret.get_other_config). */
  readRole?: Role;
  /** Taken from xapi's datamodel as it stands (datamodel.ts): data only, no rule reads it. */
  dataOnly?: boolean;
  /**
   * Checks a value written to the field (a scalar, or each member of a set), on every path that
   * writes it: the constructors, set_<field>, add_<field> and the class's explicit setters.
   */
  check?: Check;
  /** Map fields: rules for some keys (`name`, a prefix `name*`, or `*` for any other key). */
  keys?: Record<string, KeyRule>;
  doc: string;
}

/**
 * Throws a XenAPI error (an ApiError) when `value` may not be stored; `what` names the value in
 * the error: the field, or the parameter of an explicit message that writes it.
 */
export type Check = (value: Value, what: string) => void;

/** How one key of a map field is written (by every path, as for Field.check). */
export interface KeyRule {
  /** Role needed to add, change or remove the key, when stronger than the field's writers'. */
  role?: Role;
  /** The server alone writes the key: no client, whatever its role, adds, changes or removes it. */
  serverOnly?: boolean;
  /** Throws a XenAPI error when the key may not take this value; `field` is the map's name. */
  check?: (value: string, key: string, field: string) => void;
  /**
   * Throws a XenAPI error when the key may not change from `before` to `after` (undefined:
   * absent) given the other records: run by every writer of the map, in its transaction.
   */
  checkInDb?: (db: RecordsView, before: string | undefined, after: string | undefined, key: string, field: string) => void;
}

/** What a key rule may read of the database while the write is checked. */
export interface RecordsView {
  all(cls: string): Iterable<[string, Rec]>;
  find(cls: string, ref: string): Rec | undefined;
}

export interface Param {
  name: string;
  ty: Ty;
  /** Present = the parameter may be left out by the caller (trailing parameters only). */
  default?: Value;
  doc?: string;
}

export interface Message {
  name: string;
  params: Param[];
  /** null = void (the wire carries ""). */
  result: Ty | null;
  /** Error codes this message may raise, in the order they are checked. */
  errors: string[];
  /** Weakest role allowed to call it. */
  role: Role;
  /** Has an `Async.` form (default true for custom messages). */
  async?: boolean;
  /** Callable without a session (login). */
  sessionless?: boolean;
  hidden?: boolean;
  /** The lifecycle says Removed: the call answers MESSAGE_REMOVED. */
  removed?: boolean;
  /** Published by xapi, not implemented here: answers NOT_IMPLEMENTED (docs/differences.md). */
  unimplemented?: boolean;
  doc: string;
}

export interface ClassDef {
  /** Wire spelling: `network`, `PIF`, `Bond`… */
  name: string;
  doc: string;
  fields: Field[];
  /** Custom (explicitly declared) messages. Implicit ones are derived in implicit.ts. */
  messages: Message[];
  /** Has a `name` namespace, hence `get_by_name_label`. */
  nameLabel?: boolean;
  /** Implicit constructor `create(record)` exists. */
  create?: boolean;
  /** Implicit destructor `destroy(self)` exists (a custom `destroy` in messages wins). */
  destroy?: boolean;
  /** Role for implicit create/destroy and the RW setters. */
  writeRole?: Role;
  /** No get_all / get_all_records (real xapi lists no sessions). */
  unlisted?: boolean;
  /**
   * Its changes are in the event stream (event.from, event.next, valid_ref_counts): xapi's
   * `gen_events`. Absent = no events, so a new class is left out until it opts in.
   */
  events?: boolean;
  /**
   * Its refs are bearer credentials (session): never listed, never in events, and no call
   * hands one to anyone but its holder (get_by_uuid resolves only the caller's own).
   */
  credential?: boolean;
  /** Rows survive a restart (false for session and task). */
  persistent: boolean;
  /** Whole class marked Removed: every message answers MESSAGE_REMOVED. */
  removed?: boolean;
  /**
   * Built from xapi's datamodel (datamodel.ts), not modelled by hand: records and implicit
   * messages only; its explicit messages answer NOT_IMPLEMENTED.
   */
  dataOnly?: boolean;
  /** A record type with no objects (event, sr_stat, data_source…): no implicit messages. */
  recordOnly?: boolean;
  /** No per-field getters or setters (xapi's message class is read through its own calls). */
  noFieldAccessors?: boolean;
  /** Role needed by the getters and lookups, when stronger than read-only (secret). */
  readRole?: Role;
  /** Fields of xapi's datamodel deliberately left out (docs/differences.md). */
  omittedFields?: readonly string[];
  /** Implicit messages whose lifecycle says Removed: they answer MESSAGE_REMOVED. */
  removedImplicit?: readonly string[];
}

/** A one-to-many relation: `one.field` (a ref) is the writer; `many.field` (a set) is its inverse. */
export interface Relation {
  one: { cls: string; field: string };
  many: { cls: string; field: string };
}

/** Shorthands used by the class files, so a field table reads like xapi's datamodel (ocaml/idl). */
export function field(name: string, ty: Ty, qual: Qualifier, doc: string, extra: Partial<Field> = {}): Field {
  return { name, ty, qual, doc, ...extra };
}

export const NULL_REF = 'OpaqueRef:NULL';

/** The value a field takes when nothing else is said: its default, else the type's zero. */
export function zeroOf(ty: Ty): Value {
  switch (ty.kind) {
    case 'string': return '';
    case 'int': return 0;
    case 'float': return 0;
    case 'bool': return false;
    case 'datetime': return '19700101T00:00:00Z';
    case 'enum': return ty.values[0] ?? '';
    case 'ref': return NULL_REF;
    case 'set': return [];
    case 'map': return {};
    case 'record': return {};
    case 'any': return null;
  }
}
