// Transact operation builders (RFC 7047 §5.2). Values may be plain JS or wire form: the
// client encodes them with the database schema at transact time (see datum.ts
// encodeColumn), so `ports: [namedUuid('p0')]`, `tag: 10`, `tag: null`,
// `external_ids: {k: 'v'}` all do what they say.

import { encodeColumn, toDatum, type ColumnType, type Datum, type DbSchema } from './datum.js';

export type ConditionFn = '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=';
export type Condition = [column: string, fn: ConditionFn, value: unknown];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = [column: string, mutator: Mutator, value: unknown];
export type PlainRowIn = Record<string, unknown>;

export interface InsertOp { op: 'insert'; table: string; row: PlainRowIn; 'uuid-name'?: string }
export interface SelectOp { op: 'select'; table: string; where: Condition[]; columns?: string[] }
export interface UpdateOp { op: 'update'; table: string; where: Condition[]; row: PlainRowIn }
export interface MutateOp { op: 'mutate'; table: string; where: Condition[]; mutations: Mutation[] }
export interface DeleteOp { op: 'delete'; table: string; where: Condition[] }
export interface WaitOp {
  op: 'wait'; table: string; where: Condition[]; columns: string[];
  until: '==' | '!='; rows: PlainRowIn[]; timeout?: number;
}
export interface CommitOp { op: 'commit'; durable: boolean }
export interface AbortOp { op: 'abort' }
export interface CommentOp { op: 'comment'; comment: string }
export interface AssertOp { op: 'assert'; lock: string }

export type Op = InsertOp | SelectOp | UpdateOp | MutateOp | DeleteOp | WaitOp | CommitOp | AbortOp | CommentOp | AssertOp;

const ID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function insert(table: string, row: PlainRowIn, uuidName?: string): InsertOp {
  if (uuidName === undefined) return { op: 'insert', table, row };
  if (!ID_RE.test(uuidName)) throw new TypeError(`uuid-name ${JSON.stringify(uuidName)} must match [A-Za-z_][A-Za-z0-9_]*`);
  return { op: 'insert', table, row, 'uuid-name': uuidName };
}

export function select(table: string, where: Condition[] = [], columns?: string[]): SelectOp {
  return columns ? { op: 'select', table, where, columns } : { op: 'select', table, where };
}

/** Replaces the listed columns wholesale in every matching row. */
export function update(table: string, where: Condition[], row: PlainRowIn): UpdateOp {
  return { op: 'update', table, where, row };
}

/** In-place changes that commute with other writers (prefer these for ports, external_ids…). */
export function mutate(table: string, where: Condition[], mutations: Mutation[]): MutateOp {
  return { op: 'mutate', table, where, mutations };
}

/** `delete` is a reserved word, hence the name. */
export function del(table: string, where: Condition[]): DeleteOp {
  return { op: 'delete', table, where };
}

/** Succeeds iff the selected rows' `columns` equal (until '==') or differ from `rows`; waits up to timeoutMs (default 0). */
export function wait(table: string, where: Condition[], columns: string[], rows: PlainRowIn[],
  opts: { until?: '==' | '!='; timeoutMs?: number } = {}): WaitOp {
  return { op: 'wait', table, where, columns, until: opts.until ?? '==', rows, timeout: opts.timeoutMs ?? 0 };
}

export function comment(text: string): CommentOp {
  return { op: 'comment', comment: text };
}

export function commit(durable = false): CommitOp {
  return { op: 'commit', durable };
}

export function abort(): AbortOp {
  return { op: 'abort' };
}

export function assertLock(lock: string): AssertOp {
  return { op: 'assert', lock };
}

// --- conditions and mutations -----------------------------------------------------------

export function cond(column: string, fn: ConditionFn, value: unknown): Condition {
  return [column, fn, value];
}

export function eq(column: string, value: unknown): Condition {
  return [column, '==', value];
}

/** Matches the row with this _uuid. */
export function byUuid(u: string): Condition[] {
  return [['_uuid', '==', ['uuid', u] satisfies Datum]];
}

/** Matches the row with this name (Bridge, Port, Interface…). */
export function byName(name: string): Condition[] {
  return [['name', '==', name]];
}

/** Adds set elements or map pairs (map insert only adds keys that do not exist yet). */
export function mInsert(column: string, value: unknown): Mutation {
  return [column, 'insert', value];
}

/** Removes set elements, map keys (given an array of keys) or exact map pairs (given a map). */
export function mDelete(column: string, value: unknown): Mutation {
  return [column, 'delete', value];
}

/** Sets one map key whatever it held before: delete the key, then insert the pair (RFC 7047 §5.2.6 mutate). */
export function mSetKey(column: string, key: string, value: string): Mutation[] {
  return [[column, 'delete', [key]], [column, 'insert', { [key]: value }]];
}

export function mAdd(column: string, n: number): Mutation {
  return [column, '+=', n];
}

/** The usual apply barrier: next_cfg += 1 on the Open_vSwitch row. */
export function bumpNextCfg(): MutateOp {
  return mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]]);
}

// --- encoding with the schema -------------------------------------------------------------

const UUID_COLUMN: ColumnType = { key: { type: 'uuid' }, min: 1, max: 1 };

function columnType(schema: DbSchema | undefined, table: string, column: string): ColumnType | undefined {
  if (column === '_uuid' || column === '_version') return UUID_COLUMN;
  return schema?.tables[table]?.columns[column]?.type;
}

function encodeValue(t: ColumnType | undefined, v: unknown): Datum {
  return t ? encodeColumn(t, v) : toDatum(v);
}

function encodeRowIn(schema: DbSchema | undefined, table: string, row: PlainRowIn): Record<string, Datum> {
  const out: Record<string, Datum> = {};
  for (const [k, v] of Object.entries(row)) out[k] = encodeValue(columnType(schema, table, k), v);
  return out;
}

function encodeWhere(schema: DbSchema | undefined, table: string, where: Condition[]): [string, string, Datum][] {
  return where.map(([c, fn, v]) => {
    let t = columnType(schema, table, c);
    // Ordering functions compare atoms, even on optional columns.
    if (t && (fn === '<' || fn === '<=' || fn === '>' || fn === '>=')) t = { key: t.key, min: 1, max: 1 };
    // includes/excludes on a set take a (sub)set of any size.
    if (t && !t.value && (fn === 'includes' || fn === 'excludes')) t = { key: t.key, min: 0, max: Infinity };
    return [c, fn, encodeValue(t, v)];
  });
}

function encodeMutation(schema: DbSchema | undefined, table: string, [c, m, v]: Mutation): [string, string, Datum] {
  const t = columnType(schema, table, c);
  if (!t) return [c, m, toDatum(v)];
  if (m === 'insert' || m === 'delete') {
    const isTaggedMap = Array.isArray(v) && v[0] === 'map' && v.length === 2 && Array.isArray(v[1]);
    if (t.value && m === 'delete' && Array.isArray(v) && !isTaggedMap) {
      // Deleting keys: the value is a set of keys, not a map.
      return [c, m, encodeColumn({ key: t.key, min: 0, max: Infinity }, v)];
    }
    return [c, m, encodeColumn(t.value ? t : { key: t.key, min: 0, max: Infinity }, v)];
  }
  return [c, m, encodeColumn({ key: t.key, min: 1, max: 1 }, v)];
}

/** Encodes an op's plain values into wire form, with the schema where it knows the table and column. */
export function encodeOp(schema: DbSchema | undefined, op: Op): Record<string, unknown> {
  switch (op.op) {
    case 'insert': return { ...op, row: encodeRowIn(schema, op.table, op.row) };
    case 'update': return { ...op, where: encodeWhere(schema, op.table, op.where), row: encodeRowIn(schema, op.table, op.row) };
    case 'select': case 'delete': return { ...op, where: encodeWhere(schema, op.table, op.where) };
    case 'mutate': return {
      ...op, where: encodeWhere(schema, op.table, op.where),
      mutations: op.mutations.map((m) => encodeMutation(schema, op.table, m)),
    };
    case 'wait': return {
      ...op, where: encodeWhere(schema, op.table, op.where),
      rows: op.rows.map((r) => encodeRowIn(schema, op.table, r)),
    };
    default: return { ...op };
  }
}
