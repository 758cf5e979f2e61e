// In-memory copy of the monitored tables, kept up to date from monitor replies and
// update/update2/update3 notifications (the way the OVS IDL does it). Rows hold decoded
// (plain) column values plus `_uuid`. Pure: no I/O, unit-tested with wire fixtures.

import { applyDiff, decodeColumn, decodeDatum, defaultValue, type DbSchema, type PlainRow, type PlainValue } from './datum.js';

export interface RowChange {
  table: string;
  uuid: string;
  /** Row before the change; undefined for an insert. */
  old?: PlainRow;
  /** Row after the change; undefined for a delete. */
  new?: PlainRow;
}

export type ChangeListener = (changes: RowChange[]) => void;

export class Replica {
  private readonly tables = new Map<string, Map<string, PlainRow>>();

  /** @param columns the monitored columns per table (undefined = all columns in the schema). */
  constructor(readonly schema: DbSchema, private readonly columns: Record<string, string[] | undefined>) {
    for (const t of Object.keys(columns)) this.tables.set(t, new Map());
  }

  /** Rows of a monitored table by uuid (an empty map for a table not monitored). */
  table(name: string): ReadonlyMap<string, Readonly<PlainRow>> {
    return this.tables.get(name) ?? new Map();
  }

  rows(name: string): Readonly<PlainRow>[] {
    return [...this.table(name).values()];
  }

  get(table: string, uuid: string): Readonly<PlainRow> | undefined {
    return this.tables.get(table)?.get(uuid);
  }

  find(table: string, pred: (row: Readonly<PlainRow>) => boolean): Readonly<PlainRow> | undefined {
    for (const r of this.table(table).values()) if (pred(r)) return r;
    return undefined;
  }

  /** The row whose `name` column is `name` (Bridge, Port, Interface are unique by name). */
  byName(table: string, name: string): Readonly<PlainRow> | undefined {
    return this.find(table, (r) => r.name === name);
  }

  private monitoredColumns(table: string): string[] {
    return this.columns[table] ?? Object.keys(this.schema.tables[table]?.columns ?? {});
  }

  /** A full row from a wire row that may omit default-valued columns. */
  private fullRow(table: string, uuid: string, wire: Record<string, unknown>): PlainRow {
    const ts = this.schema.tables[table];
    const row: PlainRow = { _uuid: uuid };
    for (const c of this.monitoredColumns(table)) {
      const t = ts?.columns[c]?.type;
      if (c in wire) row[c] = t ? decodeColumn(t, wire[c]) : decodeDatum(wire[c]);
      else if (t) row[c] = defaultValue(t);
    }
    return row;
  }

  /**
   * Replaces the whole content with a fresh snapshot (a monitor reply, after connecting or
   * reconnecting). Returns the differences from the previous content, so listeners see a
   * resync as ordinary inserts, modifies and deletes.
   */
  reset(updates: unknown, format: 'update' | 'update2'): RowChange[] {
    const fresh = new Replica(this.schema, this.columns);
    fresh.apply(updates, format);
    const changes: RowChange[] = [];
    for (const [t, rows] of this.tables) {
      const next = fresh.tables.get(t)!;
      for (const [u, old] of rows) {
        const n = next.get(u);
        if (!n) changes.push({ table: t, uuid: u, old });
        else if (!sameRow(old, n)) changes.push({ table: t, uuid: u, old, new: n });
      }
      for (const [u, n] of next) if (!rows.has(u)) changes.push({ table: t, uuid: u, new: n });
      this.tables.set(t, next);
    }
    return changes;
  }

  /** Applies table-updates (`update`, monitor) or table-updates2 (`update2`/`update3`, monitor_cond). */
  apply(updates: unknown, format: 'update' | 'update2'): RowChange[] {
    const changes: RowChange[] = [];
    if (!updates || typeof updates !== 'object') return changes;
    for (const [table, rowsU] of Object.entries(updates as Record<string, Record<string, unknown>>)) {
      let rows = this.tables.get(table);
      if (!rows) this.tables.set(table, rows = new Map());
      for (const [uuid, u] of Object.entries(rowsU)) {
        const change = format === 'update2'
          ? this.apply2(table, rows, uuid, u as Record<string, unknown>)
          : this.apply1(table, rows, uuid, u as { old?: Record<string, unknown>; new?: Record<string, unknown> });
        if (change) changes.push(change);
      }
    }
    return changes;
  }

  private apply1(table: string, rows: Map<string, PlainRow>, uuid: string,
    u: { old?: Record<string, unknown>; new?: Record<string, unknown> }): RowChange | undefined {
    const old = rows.get(uuid);
    if (!u.new) {
      if (!old) return undefined;
      rows.delete(uuid);
      return { table, uuid, old };
    }
    const n = this.fullRow(table, uuid, u.new);
    rows.set(uuid, n);
    return { table, uuid, old, new: n };
  }

  private apply2(table: string, rows: Map<string, PlainRow>, uuid: string, u: Record<string, unknown>): RowChange | undefined {
    const old = rows.get(uuid);
    if ('initial' in u || 'insert' in u) {
      const n = this.fullRow(table, uuid, (u.initial ?? u.insert) as Record<string, unknown>);
      rows.set(uuid, n);
      return { table, uuid, old, new: n };
    }
    if ('delete' in u) {
      if (!old) return undefined;
      rows.delete(uuid);
      return { table, uuid, old };
    }
    if ('modify' in u) {
      if (!old) return undefined; // a diff for a row we never saw: nothing sane to apply it to
      const ts = this.schema.tables[table];
      const n: PlainRow = { ...old };
      for (const [c, d] of Object.entries(u.modify as Record<string, unknown>)) {
        const t = ts?.columns[c]?.type;
        n[c] = t ? applyDiff(t, old[c], d) : decodeDatum(d);
      }
      rows.set(uuid, n);
      return { table, uuid, old, new: n };
    }
    return undefined;
  }
}

function sameValue(a: PlainValue | undefined, b: PlainValue | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    const s = new Set(a);
    return b.every((x) => s.has(x));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
  }
  return false;
}

export function sameRow(a: PlainRow, b: PlainRow): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (!sameValue(a[k], b[k])) return false;
  return true;
}
