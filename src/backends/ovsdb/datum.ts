// OVSDB value encoding (RFC 7047 §5.1), both ways.
//
// Wire form: atoms are plain JSON, except uuids (["uuid", u]) and references to rows
// inserted earlier in the same transaction (["named-uuid", name]); sets are
// ["set", [atoms]] but a one-element set may be (and from the server always is) the bare
// atom; maps are ["map", [[k, v], …]].
//
// Plain form (what the replica holds, what callers write): uuids are strings; a column
// decodes by its schema type:
//   scalar (min 1, max 1)        → the atom
//   optional (min 0, max 1)      → the atom or null   (tag, fail_mode, bond_mode…)
//   set (max > 1)                → an array           (ports, trunks…)
//   map                          → Record<string, atom> (keys stringified)

export type UuidAtom = ['uuid', string];
export type NamedUuidAtom = ['named-uuid', string];
export type Atom = string | number | boolean | UuidAtom | NamedUuidAtom;
export type WireSet = ['set', Atom[]];
export type WireMap = ['map', [Atom, Atom][]];
/** A value as it appears on the wire. */
export type Datum = Atom | WireSet | WireMap;

/** A decoded atom: uuids become strings. */
export type PlainAtom = string | number | boolean;
export type PlainValue = PlainAtom | null | PlainAtom[] | Record<string, PlainAtom>;

// --- schema types --------------------------------------------------------------------

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

export interface BaseType {
  type: AtomicType;
  enum?: PlainAtom[];
  refTable?: string;
  refType?: 'strong' | 'weak';
  minInteger?: number;
  maxInteger?: number;
}

export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  max: number; // Infinity for "unlimited"
}

export interface ColumnSchema {
  type: ColumnType;
  ephemeral?: boolean;
  mutable?: boolean;
}

export interface TableSchema {
  columns: Record<string, ColumnSchema>;
  isRoot?: boolean;
  maxRows?: number;
  indexes?: string[][];
}

export interface DbSchema {
  name: string;
  version: string;
  tables: Record<string, TableSchema>;
  /** The schema JSON as the server sent it. */
  raw: unknown;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID_RE.test(s);
}

function parseBaseType(t: unknown): BaseType {
  if (typeof t === 'string') return { type: t as AtomicType };
  const o = t as Record<string, unknown>;
  const b: BaseType = { type: o.type as AtomicType };
  if (o.enum !== undefined) {
    const d = decodeDatum(o.enum as Datum);
    b.enum = Array.isArray(d) ? d : [d as PlainAtom];
  }
  if (typeof o.refTable === 'string') b.refTable = o.refTable;
  if (o.refType === 'weak' || o.refTable) b.refType = o.refType === 'weak' ? 'weak' : 'strong';
  if (typeof o.minInteger === 'number') b.minInteger = o.minInteger;
  if (typeof o.maxInteger === 'number') b.maxInteger = o.maxInteger;
  return b;
}

export function parseColumnType(t: unknown): ColumnType {
  if (typeof t === 'string') return { key: { type: t as AtomicType }, min: 1, max: 1 };
  const o = t as Record<string, unknown>;
  return {
    key: parseBaseType(o.key),
    value: o.value === undefined ? undefined : parseBaseType(o.value),
    min: typeof o.min === 'number' ? o.min : 1,
    max: o.max === 'unlimited' ? Infinity : typeof o.max === 'number' ? o.max : 1,
  };
}

/** Normalises a `get_schema` result. */
export function parseSchema(json: unknown): DbSchema {
  const o = json as { name: string; version: string; tables: Record<string, Record<string, unknown>> };
  const tables: Record<string, TableSchema> = {};
  for (const [tname, t] of Object.entries(o.tables)) {
    const columns: Record<string, ColumnSchema> = {};
    for (const [cname, c] of Object.entries(t.columns as Record<string, Record<string, unknown>>)) {
      columns[cname] = {
        type: parseColumnType(c.type),
        ephemeral: c.ephemeral === true ? true : undefined,
        mutable: c.mutable === false ? false : undefined,
      };
    }
    tables[tname] = {
      columns,
      isRoot: t.isRoot === true,
      maxRows: typeof t.maxRows === 'number' ? t.maxRows : undefined,
      indexes: Array.isArray(t.indexes) ? (t.indexes as string[][]) : undefined,
    };
  }
  return { name: o.name, version: o.version, tables, raw: json };
}

export type ColumnShape = 'scalar' | 'optional' | 'set' | 'map';

export function columnShape(t: ColumnType): ColumnShape {
  if (t.value) return 'map';
  if (t.max === 1) return t.min === 1 ? 'scalar' : 'optional';
  return 'set';
}

// --- builders --------------------------------------------------------------------------

export function uuid(u: string): UuidAtom {
  return ['uuid', u];
}

export function namedUuid(name: string): NamedUuidAtom {
  if (!ID_RE.test(name)) throw new TypeError(`uuid-name ${JSON.stringify(name)} must match [A-Za-z_][A-Za-z0-9_]*`);
  return ['named-uuid', name];
}

/** ["set", […]] — always the explicit form, which the server accepts for every set size. */
export function set(...atoms: Atom[]): WireSet {
  return ['set', atoms];
}

/** The empty set: how an optional column is cleared (never null). */
export const EMPTY: WireSet = ['set', []];

/** ["map", […]] from a Record, a Map or a list of pairs. */
export function map(m: Record<string, Atom> | Map<Atom, Atom> | [Atom, Atom][]): WireMap {
  const pairs: [Atom, Atom][] = Array.isArray(m) ? m : m instanceof Map ? [...m.entries()] : Object.entries(m);
  return ['map', pairs];
}

function isTagged(v: unknown): v is UuidAtom | NamedUuidAtom | WireSet | WireMap {
  if (!Array.isArray(v) || v.length !== 2) return false;
  const [tag, body] = v;
  if (tag === 'uuid' || tag === 'named-uuid') return typeof body === 'string';
  if (tag === 'set' || tag === 'map') return Array.isArray(body);
  return false;
}

/**
 * Schema-less conversion of a plain value to wire form: tagged arrays pass through,
 * other arrays become sets, objects become maps, null/undefined the empty set.
 * Strings stay strings: a uuid-typed column needs uuid()/namedUuid() (or encodeColumn).
 */
export function toDatum(v: unknown): Datum {
  if (v === null || v === undefined) return EMPTY;
  if (isTagged(v)) return v;
  if (Array.isArray(v)) return ['set', v.map((a) => toDatum(a) as Atom)];
  if (v instanceof Map) return map(v as Map<Atom, Atom>);
  if (typeof v === 'object') return ['map', Object.entries(v).map(([k, a]) => [k, toDatum(a) as Atom])];
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw new TypeError(`cannot encode ${typeof v} as an OVSDB datum`);
}

/** Encodes a row of plain or wire values without a schema (see toDatum). */
export function toRow(row: Record<string, unknown>): Record<string, Datum> {
  const out: Record<string, Datum> = {};
  for (const [k, v] of Object.entries(row)) out[k] = toDatum(v);
  return out;
}

// --- schema-aware encoding ------------------------------------------------------------

function encodeAtom(b: BaseType, v: unknown): Atom {
  if (isTagged(v)) {
    if (v[0] === 'uuid' || v[0] === 'named-uuid') return v;
    throw new TypeError(`expected an atom, got ${JSON.stringify(v)}`);
  }
  if (b.type === 'uuid') {
    if (typeof v !== 'string') throw new TypeError(`expected a uuid, got ${JSON.stringify(v)}`);
    // A string that is not a uuid names a row inserted earlier in the same transaction.
    return isUuid(v) ? ['uuid', v] : namedUuid(v);
  }
  if (b.type === 'integer') {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`expected an integer, got ${JSON.stringify(v)}`);
    return n;
  }
  if (b.type === 'real') {
    if (typeof v !== 'number') throw new TypeError(`expected a real, got ${JSON.stringify(v)}`);
    return v;
  }
  if (b.type === 'boolean') {
    if (typeof v !== 'boolean') throw new TypeError(`expected a boolean, got ${JSON.stringify(v)}`);
    return v;
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TypeError(`expected a string, got ${JSON.stringify(v)}`);
}

/** Encodes a plain (or already wire-form) value for a column of type `t`. */
export function encodeColumn(t: ColumnType, v: unknown): Datum {
  const shape = columnShape(t);
  if (shape === 'map') {
    if (isTagged(v) && v[0] === 'map') {
      return ['map', v[1].map(([k, x]) => [encodeAtom(t.key, k), encodeAtom(t.value!, x)])];
    }
    if (v === null || v === undefined) return ['map', []];
    const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()]
      : Array.isArray(v) ? (v as [unknown, unknown][]) : Object.entries(v as object);
    return ['map', entries.map(([k, x]) => [encodeAtom(t.key, k), encodeAtom(t.value!, x)])];
  }
  if (shape === 'scalar') return encodeAtom(t.key, v);
  if (v === null || v === undefined) return EMPTY;
  if (isTagged(v) && v[0] === 'set') return ['set', v[1].map((a) => encodeAtom(t.key, a))];
  if (Array.isArray(v) && !isTagged(v)) return ['set', v.map((a) => encodeAtom(t.key, a))];
  return encodeAtom(t.key, v);
}

/** Encodes a row with the table's schema; unknown columns are an error (the server would say so later). */
export function encodeRow(table: TableSchema, row: Record<string, unknown>): Record<string, Datum> {
  const out: Record<string, Datum> = {};
  for (const [k, v] of Object.entries(row)) {
    const c = table.columns[k];
    if (!c) throw new TypeError(`unknown column ${k}`);
    out[k] = encodeColumn(c.type, v);
  }
  return out;
}

// --- decoding ------------------------------------------------------------------------

function decodeAtom(a: unknown): PlainAtom {
  if (Array.isArray(a)) {
    if ((a[0] === 'uuid' || a[0] === 'named-uuid') && typeof a[1] === 'string') return a[1];
    throw new TypeError(`malformed atom ${JSON.stringify(a)}`);
  }
  if (typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean') return a;
  throw new TypeError(`malformed atom ${JSON.stringify(a)}`);
}

/** Schema-less decoding: sets → arrays (a bare atom stays an atom), maps → Records, uuids → strings. */
export function decodeDatum(d: unknown): PlainValue {
  if (Array.isArray(d) && d[0] === 'set' && Array.isArray(d[1])) return d[1].map(decodeAtom);
  if (Array.isArray(d) && d[0] === 'map' && Array.isArray(d[1])) return pairsToRecord(d[1]);
  return decodeAtom(d);
}

function pairsToRecord(pairs: unknown[]): Record<string, PlainAtom> {
  const out: Record<string, PlainAtom> = {};
  for (const p of pairs) {
    if (!Array.isArray(p) || p.length !== 2) throw new TypeError(`malformed map pair ${JSON.stringify(p)}`);
    out[String(decodeAtom(p[0]))] = decodeAtom(p[1]);
  }
  return out;
}

/** The elements of a set-typed wire value; a bare atom is a one-element set. */
export function setElements(d: unknown): PlainAtom[] {
  if (Array.isArray(d) && d[0] === 'set' && Array.isArray(d[1])) return d[1].map(decodeAtom);
  return [decodeAtom(d)];
}

/** Decodes a wire value for a column of type `t` into its plain form (see the header). */
export function decodeColumn(t: ColumnType, d: unknown): PlainValue {
  switch (columnShape(t)) {
    case 'map':
      if (Array.isArray(d) && d[0] === 'map' && Array.isArray(d[1])) return pairsToRecord(d[1]);
      throw new TypeError(`expected a map, got ${JSON.stringify(d)}`);
    case 'set':
      return setElements(d);
    case 'optional': {
      const els = setElements(d);
      if (els.length > 1) throw new TypeError(`optional column with ${els.length} values`);
      return els.length ? els[0]! : null;
    }
    case 'scalar':
      return Array.isArray(d) && d[0] === 'set' ? (setElements(d)[0] ?? null) : decodeAtom(d);
  }
}

/** The value a column holds when the server omits it (update2 `initial`/`insert` leave defaults out). */
export function defaultValue(t: ColumnType): PlainValue {
  switch (columnShape(t)) {
    case 'map': return {};
    case 'set': return [];
    case 'optional': return null;
    case 'scalar':
      switch (t.key.type) {
        case 'integer': case 'real': return 0;
        case 'boolean': return false;
        case 'string': return '';
        case 'uuid': return '00000000-0000-0000-0000-000000000000';
      }
  }
}

export type PlainRow = Record<string, PlainValue>;

/** Decodes a wire row; columns the schema does not know (e.g. _version) are decoded schema-less. */
export function decodeRow(table: TableSchema | undefined, row: Record<string, unknown>): PlainRow {
  const out: PlainRow = {};
  for (const [k, v] of Object.entries(row)) {
    const c = table?.columns[k];
    out[k] = c ? decodeColumn(c.type, v) : decodeDatum(v);
  }
  return out;
}

/**
 * Applies an update2 `modify` diff to a plain value. Sets: the diff holds elements to
 * toggle (symmetric difference). Maps: a new key is added, a pair equal to the old one is
 * removed, a key with another value is changed. Scalars are replaced. Optional columns
 * (max 1): ovsdb-server 3.1 sends the new value (observed: tag 10 → 20 is `20`, clearing is
 * ["set",[]]); a toggle-style diff is also handled, the two readings never disagree.
 */
export function applyDiff(t: ColumnType, old: PlainValue | undefined, diff: unknown): PlainValue {
  const shape = columnShape(t);
  if (shape === 'scalar') return decodeColumn(t, diff);
  if (shape === 'map') {
    const out: Record<string, PlainAtom> = { ...((old ?? {}) as Record<string, PlainAtom>) };
    const d = decodeColumn(t, diff) as Record<string, PlainAtom>;
    for (const [k, v] of Object.entries(d)) {
      if (!(k in out)) out[k] = v;
      else if (out[k] === v) delete out[k];
      else out[k] = v;
    }
    return out;
  }
  const els = setElements(diff);
  if (shape === 'optional') {
    // Replacement reading: [] → null, [x] → x. Toggle reading: [x] with x === old → null,
    // [old, x] → x. A replacement never repeats the unchanged old value, so these agree.
    if (els.length === 0) return null;
    if (els.length === 1) return els[0] === old ? null : els[0]!;
    const rest = els.filter((e) => e !== old);
    return rest.length === 1 ? rest[0]! : null;
  }
  const cur = new Set((old ?? []) as PlainAtom[]);
  for (const e of els) {
    if (cur.has(e)) cur.delete(e);
    else cur.add(e);
  }
  return [...cur];
}
