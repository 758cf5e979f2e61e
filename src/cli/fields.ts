// CLI fields: what a record of a class looks like to xe. Types, qualifiers and map/set kinds
// come from the IDL; the CLI's own names, order, markers and special setters come from the
// per-class tables in tables.ts (xen-api: ocaml/xapi-cli-server/records.ml), which the IDL cannot express.
import type { XapiClient } from '../client/xapi-client.js';
import type { ClassDef, Field as IdlField, Rec, Ty, Value } from '../idl/meta.js';
import { ArgError, CliFailure, parseBool, parseEnum, parseFloatParam, parseIntParam, splitList } from './args.js';
import { formatFloat, formatMap, type Marker } from './layout.js';
import { closest } from '../common/suggest.js';

export const NOT_IN_DB = '<not in database>';

/** A caller that can run XenAPI methods (the session is prepended by the client). */
export interface Caller {
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  /** An HTTP request beside the RPC (blob-put, blob-get): XapiClient.transfer. */
  transfer?: XapiClient['transfer'];
}

/** Read access to prefetched records of other classes (refs → uuid, names, metrics). */
export interface View {
  rec(cls: string, ref: string): Rec | undefined;
  /** Values of expensive fields computed on demand for one object, by CLI name. */
  computed?: Map<string, string>;
}

export function uuidOf(view: View, cls: string, ref: unknown): string {
  if (typeof ref !== 'string') return NOT_IN_DB;
  const u = view.rec(cls, ref)?.uuid;
  return typeof u === 'string' ? u : NOT_IN_DB;
}

/** Field of the record a ref points at; `<not in database>` when it does not resolve. */
export function via(view: View, cls: string, ref: unknown, field: string): string {
  const r = typeof ref === 'string' ? view.rec(cls, ref) : undefined;
  return r === undefined ? NOT_IN_DB : plainText(r[field]);
}

export type Kind = 'plain' | 'set' | 'map';

export interface CliField {
  name: string;
  marker: Marker;
  kind: Kind;
  deprecated?: boolean;
  /** Not printed by param-list or params=all (still usable by name). */
  hidden?: boolean;
  /** Printed as `<expensive field>` in lists; computed by `compute` for param-list/get. */
  expensive?: boolean;
  /** Classes whose records the getters read. */
  deps: string[];
  get(rec: Rec, view: View): string;
  /** Map fields: the entries as printed strings. */
  getMap?(rec: Rec, view: View): Record<string, string>;
  /** Set fields: the members as printed strings. */
  getSet?(rec: Rec, view: View): string[];
  compute?(c: Caller, ref: string, rec: Rec): Promise<string>;
  /** param-set of a plain value (or a whole set, for sets with their own setter). */
  set?(c: Caller, ref: string, value: string): Promise<void>;
  /** param-set `name:key=value`. */
  setKey?(c: Caller, ref: string, key: string, value: string): Promise<void>;
  /** param-add: set member, or map key/value. */
  add?(c: Caller, ref: string, key: string, value?: string): Promise<void>;
  /** param-remove: set member or map key. */
  remove?(c: Caller, ref: string, key: string): Promise<void>;
}

/** One row of a CLI table. Anything not given is derived from the IDL field `api`. */
export interface Spec {
  cli: string;
  api?: string;
  marker?: Marker;
  /** Separator for set members (default `; `). */
  sep?: string;
  get?: (rec: Rec, view: View) => string;
  getMap?: (rec: Rec, view: View) => Record<string, string>;
  deps?: string[];
  /** Custom setter message (e.g. `set_default_locking_mode`). */
  setter?: string;
  /** Custom add/remove messages for a set (e.g. `add_purpose`). */
  adder?: string;
  remover?: string;
  /** Custom per-key setter for a map (e.g. `set_property`). */
  keySetter?: string;
  expensive?: boolean;
  compute?: (c: Caller, ref: string, rec: Rec) => Promise<string>;
  hidden?: boolean;
  deprecated?: boolean;
  /** Lower-case the printed value (VM power state). */
  lower?: boolean;
}

export function plainText(v: Value | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatFloat(v);
  if (Array.isArray(v)) return v.map(plainText).join('; ');
  if (typeof v === 'object') return formatMap(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainText(x)])));
  return String(v);
}

/** One scalar value as printed: refs become uuids, floats get three decimals. */
export function scalarText(ty: Ty, v: Value | undefined, view: View): string {
  switch (ty.kind) {
    case 'ref': return uuidOf(view, ty.cls, v);
    case 'float': return typeof v === 'number' ? formatFloat(v) : plainText(v);
    default: return plainText(v);
  }
}

/** Classes a type points into (for prefetching). */
function refClasses(ty: Ty): string[] {
  if (ty.kind === 'ref') return [ty.cls];
  if (ty.kind === 'set') return refClasses(ty.of);
  if (ty.kind === 'map') return [...refClasses(ty.key), ...refClasses(ty.value)];
  return [];
}

/** Converts CLI text to the wire value of a scalar type. */
export function parseScalar(ty: Ty, name: string, text: string): Value {
  switch (ty.kind) {
    case 'int': return parseIntParam(name, text);
    case 'float': return parseFloatParam(name, text);
    case 'bool': return parseBool(name, text);
    case 'enum': return parseEnum(ty.values, text);
    default: return text;
  }
}

/** Builds a CLI field from its table row and the IDL class. */
export function buildField(cls: ClassDef, spec: Spec): CliField {
  const f: IdlField | undefined = spec.api === undefined ? undefined : cls.fields.find((x) => x.name === spec.api);
  const ty: Ty | undefined = f?.ty;
  const api = spec.api;
  const kind: Kind = spec.marker !== undefined
    ? (spec.marker.startsWith('(S') ? 'set' : spec.marker.startsWith('(M') ? 'map' : 'plain')
    : ty?.kind === 'set' ? 'set' : ty?.kind === 'map' ? 'map' : 'plain';
  const rw = f?.qual === 'RW';
  const sep = spec.sep ?? '; ';
  const deps = [...new Set([...(spec.deps ?? []), ...(ty ? refClasses(ty) : [])])];
  const raw = (rec: Rec): Value | undefined => (api === undefined ? undefined : rec[api]);

  const getSet = (rec: Rec, view: View): string[] => {
    const v = raw(rec);
    const of = ty?.kind === 'set' ? ty.of : undefined;
    if (Array.isArray(v)) return v.map((x) => (of ? scalarText(of, x, view) : plainText(x)));
    // A map shown as a set (current-operations): its values.
    if (v && typeof v === 'object') return Object.values(v).map((x) => plainText(x));
    return [];
  };
  const getMap = spec.getMap ?? ((rec: Rec, view: View): Record<string, string> => {
    const v = raw(rec);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
    const valTy = ty?.kind === 'map' ? ty.value : undefined;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, valTy ? scalarText(valTy, x, view) : plainText(x)]));
  });
  let get = spec.get ?? ((rec: Rec, view: View): string => {
    if (ty?.kind === 'set') return getSet(rec, view).join(sep);
    if (ty?.kind === 'map') return formatMap(getMap(rec, view));
    return ty ? scalarText(ty, raw(rec), view) : plainText(raw(rec));
  });
  if (spec.lower) { const g = get; get = (rec, view) => g(rec, view).toLowerCase(); }

  const marker: Marker = spec.marker ?? (
    kind === 'set' ? ((rw && ty?.kind === 'set' && ty.of.kind !== 'ref') || spec.adder ? '(SRW)' : '(SRO)')
    : kind === 'map' ? (rw ? '(MRW)' : '(MRO)')
    : (rw || spec.setter) ? '( RW)' : '( RO)');

  const out: CliField = { name: spec.cli, marker, kind, deps, get };
  if (spec.hidden) out.hidden = true;
  if (spec.deprecated) out.deprecated = true;
  if (spec.expensive) out.expensive = true;
  if (spec.compute) out.compute = spec.compute;
  if (kind === 'map') out.getMap = getMap;
  if (kind === 'set') out.getSet = getSet;

  const m = (name: string): string => `${cls.name}.${name}`;
  const member = ty?.kind === 'set' ? ty.of : ty;
  const conv = (text: string): Value => (member ? parseScalar(member, spec.cli, text) : text);
  if (kind === 'plain' && marker === '( RW)' && api !== undefined) {
    const setter = m(spec.setter ?? `set_${api}`);
    out.set = async (c, ref, v) => { await c.call(setter, ref, conv(v)); };
  }
  if (kind === 'set' && spec.setter !== undefined) {
    const setter = m(spec.setter);
    out.set = async (c, ref, v) => { await c.call(setter, ref, splitList(v).map(conv)); };
  }
  if (kind === 'set' && marker === '(SRW)' && api !== undefined) {
    const adder = m(spec.adder ?? `add_${api}`);
    const remover = m(spec.remover ?? `remove_${api}`);
    out.add = async (c, ref, k) => { await c.call(adder, ref, conv(k)); };
    out.remove = async (c, ref, k) => { await c.call(remover, ref, conv(k)); };
  }
  if (kind === 'map' && marker === '(MRW)' && api !== undefined) {
    const adder = m(`add_to_${api}`);
    const remover = m(`remove_from_${api}`);
    out.add = async (c, ref, k, v) => { await c.call(adder, ref, k, v ?? ''); };
    out.remove = async (c, ref, k) => { await c.call(remover, ref, k); };
    // As xe: param-set map:key=value removes the key, then adds it.
    out.setKey = async (c, ref, k, v) => { await c.call(remover, ref, k); await c.call(adder, ref, k, v); };
  }
  if (kind === 'map' && spec.keySetter !== undefined) {
    const setter = m(spec.keySetter);
    out.setKey = async (c, ref, k, v) => { await c.call(setter, ref, k, v); };
  }
  return out;
}

/** Names people type for another parameter: `host=` where the command takes `on=`. */
const SYNONYMS: Record<string, string[]> = { host: ['on', 'host-uuid'], 'host-name': ['host-name-label'], name: ['name-label'] };

/**
 * Raised for a field or parameter name no table knows: a user's error (exit 1, never the
 * server's INTERNAL_ERROR form), with the closest known name when it looks like a typo.
 */
export function unknownField(name: string, known: Iterable<string> = []): ArgError {
  const names = [...known];
  const near = SYNONYMS[name]?.find((s) => names.includes(s)) ?? closest(name, names);
  return new ArgError(`Unknown field '${name}'.${near ? ` Did you mean '${near}'?` : ''}`);
}
