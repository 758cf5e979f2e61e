// Fetching records for printing, filtering them and laying them out as xe does.
import type { Rec } from '../idl/meta.js';
import { CONTROL_PARAMS } from './args.js';
import { buildField, unknownField, type Caller, type CliField, type View } from './fields.js';
import { formatMinimal, formatRecord, type Row } from './layout.js';
import type { CliClass } from './tables.js';

/** Classes whose refs resolve to uuids when printed; refs into any other class (SR…) never do. */
const MODELLED = new Set(['network', 'PIF', 'PIF_metrics', 'VIF', 'VM', 'host', 'pool', 'VLAN', 'Bond', 'tunnel', 'network_sriov', 'SDN_controller', 'message', 'blob']);

/** A cache of `get_all_records` per class, serving ref → record lookups. */
export class Records implements View {
  private readonly tables = new Map<string, Map<string, Rec>>();
  computed?: Map<string, string>;

  constructor(private readonly c: Caller) {}

  private async fetch(cls: string): Promise<Map<string, Rec>> {
    const table = new Map(Object.entries(await this.c.call<Record<string, Rec>>(`${cls}.get_all_records`)));
    this.tables.set(cls, table);
    return table;
  }

  /** Loads the classes refs may point into; never rejects. */
  async load(classes: Iterable<string>): Promise<void> {
    const todo = [...new Set(classes)].filter((cls) => MODELLED.has(cls) && !this.tables.has(cls));
    await Promise.all(todo.map((cls) => this.fetch(cls).catch(() => {
      // A class the server cannot list only makes its refs print as <not in database>.
      this.tables.set(cls, new Map());
    })));
  }

  /** All records of a class (loads it first), in the server's order. */
  async all(cls: string): Promise<Map<string, Rec>> {
    return this.tables.get(cls) ?? this.fetch(cls);
  }

  rec(cls: string, ref: string): Rec | undefined {
    return this.tables.get(cls)?.get(ref);
  }
}

const fieldCache = new Map<string, CliField[]>();

/** The CLI fields of a class, derived from the IDL (imported only when a command needs it). */
export async function fieldsOf(cc: CliClass): Promise<CliField[]> {
  let fields = fieldCache.get(cc.prefix);
  if (fields === undefined) {
    const { findClass } = await import('../idl/index.js');
    const def = findClass(cc.cls);
    if (def === undefined) throw new Error(`class ${cc.cls} missing from the IDL`);
    fields = cc.fields.map((s) => buildField(def, s));
    fieldCache.set(cc.prefix, fields);
  }
  return fields;
}

export function findField(fields: CliField[], name: string): CliField | undefined {
  return fields.find((f) => f.name === name);
}

export type Filter = { field: CliField; test: (rec: Rec, view: View) => boolean };

/**
 * Filters from `-list` parameters: `field=value` (printed value; MAC compares caselessly),
 * `map:key=value` or legacy `map-key=value`, and `set:contains=value`.
 */
export function parseFilters(fields: CliField[], params: Map<string, string>, skip: ReadonlySet<string> = new Set()): Filter[] {
  const out: Filter[] = [];
  for (const [name, want] of params) {
    if (CONTROL_PARAMS.has(name) || skip.has(name)) continue;
    const colon = name.indexOf(':');
    if (colon > 0) {
      const field = findField(fields, name.slice(0, colon));
      const key = name.slice(colon + 1);
      if (field === undefined) throw unknownField(name.slice(0, colon), fields.map((f) => f.name));
      if (field.kind === 'set' && key === 'contains') {
        out.push({ field, test: (r, v) => (field.getSet?.(r, v) ?? []).includes(want) });
      } else {
        out.push({ field, test: (r, v) => field.getMap?.(r, v)[key] === want });
      }
      continue;
    }
    const field = findField(fields, name);
    if (field !== undefined) {
      const caseless = field.name === 'MAC';
      out.push({
        field,
        test: (r, v) => caseless ? field.get(r, v).toLowerCase() === want.toLowerCase() : field.get(r, v) === want,
      });
      continue;
    }
    // Legacy `other-config-key=value`: the longest map field name that prefixes it.
    const map = fields.filter((f) => f.kind === 'map' && name.startsWith(`${f.name}-`))
      .sort((a, b) => b.name.length - a.name.length)[0];
    if (map === undefined) throw unknownField(name, [...fields.map((f) => f.name), ...skip]);
    const key = name.slice(map.name.length + 1);
    out.push({ field: map, test: (r, v) => map.getMap?.(r, v)[key] === want });
  }
  return out;
}

/** Fields chosen by `params=` (record order, whatever order was given), or the defaults. */
export function selectFields(fields: CliField[], params: string | undefined, defaults: string[]): CliField[] {
  if (params === 'all') return fields.filter((f) => !f.hidden);
  const names = params === undefined ? defaults : params.split(',').map((s) => s.trim());
  return fields.filter((f) => names.includes(f.name));
}

export function depsOf(fields: Iterable<CliField>): string[] {
  const out = new Set<string>();
  for (const f of fields) for (const d of f.deps) out.add(d);
  return [...out];
}

/** Row values; expensive fields print as a marker in lists, or their computed value. */
export function rowsOf(rec: Rec, view: View, fields: CliField[], inList: boolean): Row[] {
  return fields.map((f) => {
    let value: string;
    if (f.expensive) value = inList ? '<expensive field>' : view.computed?.get(f.name) ?? f.get(rec, view);
    else value = f.get(rec, view);
    const row: Row = { name: f.name, marker: f.marker, value };
    if (f.deprecated) row.deprecated = true;
    return row;
  });
}

/** Lists records: full layout, or the first printed field of each with --minimal. */
export function printList(recs: Rec[], view: View, fields: CliField[], minimal: boolean): string {
  if (minimal) {
    const first = fields[0];
    return formatMinimal(first === undefined ? [] : recs.map((r) => rowsOf(r, view, [first], true)[0]!.value));
  }
  return recs.map((r) => formatRecord(rowsOf(r, view, fields, true))).join('');
}

/** `xe <class>-list`. */
export async function listObjects(c: Caller, cc: CliClass, params: Map<string, string>,
  opts: { extraDefaults?: string[]; builtin?: Record<string, string>; only?: (r: Rec) => boolean } = {}): Promise<string> {
  const fields = await fieldsOf(cc);
  const builtin = new Map(Object.entries(opts.builtin ?? cc.listFilter ?? {}));
  for (const [k, v] of params) builtin.set(k, v); // the user's filters win over the built-in ones
  const filters = parseFilters(fields, builtin);
  const shown = selectFields(fields, params.get('params'), opts.extraDefaults ?? cc.defaults);
  const view = new Records(c);
  const [all] = await Promise.all([view.all(cc.cls), view.load(depsOf([...shown, ...filters.map((f) => f.field)]))]);
  const recs = [...all.values()].filter((r) => (opts.only?.(r) ?? true) && filters.every((f) => f.test(r, view)));
  return printList(recs, view, shown, params.get('minimal') === 'true');
}

/** Resolves `uuid=` of a class to its ref (the server answers UUID_INVALID for a bad one). */
export async function refOf(c: Caller, cls: string, uuid: string): Promise<string> {
  return c.call<string>(`${cls}.get_by_uuid`, uuid);
}

export function requireField(fields: CliField[], name: string): CliField {
  const f = findField(fields, name);
  if (f === undefined) throw unknownField(name, fields.map((x) => x.name));
  return f;
}

