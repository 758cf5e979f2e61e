// JSON-RPC 1.0 / 2.0 codec, shaped as XAPI answers (xen-api: ocaml/xapi/api_server.ml) and
// as xen-api's json-rpc-protocol parser insists: a 2.0 success has no `error` key at all,
// a 1.0 success has `error: null`.
import { zeroOf, type Ty, type Value } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { clip, DEFAULT_LIMITS, type ParseLimits, type ParseStats } from './limits.js';
import {
  fieldValue, isEventRecord, isPlainObject, lookupClassLoose, normaliseDatetime, setOwn, visibleFields,
} from './shape.js';
import type { LookupClass, RpcResult } from './types.js';

export interface JsonRpcCall {
  version: '1.0' | '2.0';
  id: string | number | null;
  method: string;
  params: Value[];
}

const tooBig = (what: string): never => {
  throw new RpcParseError('jsonrpc', `Invalid Request: ${what}`, { code: -32600 });
};

/**
 * One linear pass over the text refusing what would be costly to parse or to hand on: nesting
 * too deep, too many values, a string or number too long. The grammar itself is left to
 * JSON.parse, which then only ever sees bounded input.
 */
function checkJsonLimits(body: string, lim: ParseLimits): number {
  // The envelope object and the params array sit above the parameters.
  const maxDepth = lim.maxDepth + 2;
  let depth = 0;
  let items = 0;
  const n = body.length;
  const item = () => { if (++items > lim.maxItems) tooBig(`more than ${lim.maxItems} values in one request`); };
  for (let i = 0; i < n; i++) {
    const c = body.charCodeAt(i);
    if (c === 0x22) { // "
      let end = i;
      for (;;) {
        end = body.indexOf('"', end + 1);
        if (end < 0) return items; // unterminated: JSON.parse says so
        let k = end - 1;
        while (body.charCodeAt(k) === 0x5c) k--; // an odd run of backslashes escapes the quote
        if ((end - 1 - k) % 2 === 0) break;
      }
      if (end - i - 1 > lim.maxString) tooBig(`a string longer than ${lim.maxString} characters`);
      item();
      i = end;
    } else if (c === 0x5b || c === 0x7b) { // [ {
      if (++depth > maxDepth) tooBig(`arrays/objects nested deeper than ${lim.maxDepth} in a parameter`);
      item();
    } else if (c === 0x5d || c === 0x7d) { // ] }
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) { // - 0-9
      let end = i + 1;
      for (; end < n; end++) {
        const d = body.charCodeAt(end);
        if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d)) break;
      }
      if (end - i > lim.maxNumber) tooBig(`a number longer than ${lim.maxNumber} characters`);
      item();
      i = end - 1;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) { // true false null
      item();
      while (i + 1 < n && body.charCodeAt(i + 1) >= 0x61 && body.charCodeAt(i + 1) <= 0x7a) i++;
    }
  }
  return items;
}

/** Parses a JSON-RPC request. Throws RpcParseError (carrying id/version when known). */
export function parseJsonRpcCall(body: string, limits: ParseLimits = DEFAULT_LIMITS, stats?: ParseStats): JsonRpcCall {
  const items = checkJsonLimits(body, limits);
  if (stats) stats.items = items;
  let msg: unknown;
  try {
    msg = JSON.parse(body);
  } catch (e) {
    throw new RpcParseError('jsonrpc', `Parse error: ${clip((e as Error).message)}`, { code: -32700 });
  }
  if (!isPlainObject(msg)) {
    // Batches (arrays) are not part of XenAPI.
    throw new RpcParseError('jsonrpc', 'Invalid Request: not a JSON-RPC request object', { code: -32600 });
  }
  const m = msg as { [k: string]: Value | undefined };
  let version: '1.0' | '2.0';
  if (m.jsonrpc === undefined) version = '1.0';
  else if (m.jsonrpc === '2.0') version = '2.0';
  else throw new RpcParseError('jsonrpc', `Invalid Request: unsupported jsonrpc version ${clip(JSON.stringify(m.jsonrpc), 64)}`, { code: -32600 });

  const rawId = m.id;
  const idKnown = typeof rawId === 'string' || typeof rawId === 'number';
  const bad = (what: string): never => {
    throw new RpcParseError('jsonrpc', `Invalid Request: ${what}`, {
      code: -32600, version, id: idKnown ? (rawId as string | number) : null,
    });
  };
  // XAPI rejects notifications: every call needs an answer to carry errors.
  if (rawId === undefined || rawId === null) bad('missing id (notifications are not supported)');
  if (!idKnown) bad('id must be a number or a string');
  if (typeof m.method !== 'string' || m.method === '') bad('missing method');
  if ((m.method as string).length > limits.maxMethod) bad(`method name longer than ${limits.maxMethod} characters`);

  let params: Value[];
  const p = m.params;
  if (p === undefined) params = [];
  else if (Array.isArray(p)) params = p;
  // In 2.0 an object is not named parameters: XAPI takes it as one positional argument.
  else if (version === '2.0' && isPlainObject(p)) params = [p];
  else params = bad('params must be an array');

  return { version, id: rawId as string | number, method: m.method as string, params };
}

// Type-directed shaping for JSON: records show only client-visible fields (missing ones get
// their default), datetimes take the compact XenAPI form, event snapshots are shaped by their
// class. Records handed over frozen never change (the store replaces them on every write), so
// a record's identity is its version and its text can be kept: the text of recently encoded
// records (get_record, event snapshots) in a bounded map, and the whole of a class (the map
// get_all_records answers) as bytes, rebuilt after a write from the previous bytes of the
// records that did not change.

function shapeRecord(v: Value, clsName: string, lookup: LookupClass): Value {
  const cls = lookupClassLoose(lookup, clsName);
  if (!cls || !isPlainObject(v)) return shapeAny(v, lookup);
  const out: { [k: string]: Value } = {};
  for (const f of visibleFields(cls)) out[f.name] = shape(fieldValue(v, f), f.ty, lookup);
  return out;
}

function shape(v: Value, ty: Ty, lookup: LookupClass): Value {
  // XenAPI has no null: a missing typed value travels as its type's zero (refs as OpaqueRef:NULL).
  if ((v === null || v === undefined) && ty.kind !== 'any') v = zeroOf(ty);
  switch (ty.kind) {
    case 'datetime': return normaliseDatetime(v) ?? normaliseDatetime(0)!;
    case 'set': return Array.isArray(v) ? v.map((x) => shape(x, ty.of, lookup)) : v;
    case 'map': {
      if (!isPlainObject(v)) return v;
      const out: { [k: string]: Value } = {};
      for (const [k, x] of Object.entries(v)) setOwn(out, k, shape(x, ty.value, lookup));
      return out;
    }
    case 'record': return shapeRecord(v, ty.cls, lookup);
    case 'any': return shapeAny(v, lookup);
    default: return v === undefined ? null : v;
  }
}

function shapeAny(v: Value, lookup: LookupClass): Value {
  if (Array.isArray(v)) return v.map((x) => shapeAny(x, lookup));
  if (!isPlainObject(v)) return v === undefined ? null : v;
  const ev = isEventRecord(v);
  const out: { [k: string]: Value } = {};
  for (const [k, x] of Object.entries(v)) {
    setOwn(out, k, ev && k === 'snapshot' ? shapeRecord(x, v.class as string, lookup) : shapeAny(x, lookup));
  }
  return out;
}

function toJsonText(v: Value): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  return Array.isArray(v)
    ? `[${v.map(toJsonText).join(',')}]`
    : `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${toJsonText(v[k]!)}`).join(',')}}`;
}

/** How many records' texts are kept (the latest writes fanned out to every event watcher fit). */
const RECENT_RECORDS = 1024;
const recentTexts = new Map<object, string>();

/** The JSON text of a record of class `clsName`, reused while the (frozen) record is recent. */
function recordText(v: Value, clsName: string, lookup: LookupClass): string {
  if (!isPlainObject(v) || !Object.isFrozen(v)) return toJsonText(shapeRecord(v, clsName, lookup));
  let text = recentTexts.get(v);
  if (text === undefined) {
    text = toJsonText(shapeRecord(v, clsName, lookup));
    if (recentTexts.size >= RECENT_RECORDS) recentTexts.delete(recentTexts.keys().next().value!);
    recentTexts.set(v, text);
  }
  return text;
}

// Frozen values other than records (event.from's shared event objects) keep their text while they live.
const frozenTexts = new WeakMap<object, string>();

/** The text of a value of type `any`: what toJsonText(shapeAny(v)) gives, without the copy. */
function anyText(v: Value, lookup: LookupClass, cursors?: Cursors): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  const hit = frozenTexts.get(v);
  if (hit !== undefined) return hit;
  let text: string;
  if (Array.isArray(v)) {
    const within = cursors ?? new Map<string, number>();
    text = `[${v.map((x) => anyText(x, lookup, within)).join(',')}]`;
  } else {
    const ev = isEventRecord(v);
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      parts.push(`${JSON.stringify(k)}:${ev && k === 'snapshot' ? snapshotText(x, v.class as string, v.ref ?? null, lookup, cursors) : anyText(x, lookup)}`);
    }
    text = `{${parts.join(',')}}`;
  }
  if (Object.isFrozen(v)) frozenTexts.set(v, text);
  return text;
}

/** Per class, how far a walk along its bytes has got (event.from lists objects in the store's order). */
type Cursors = Map<string, number>;

/**
 * An event's snapshot: from the class's bytes when the record is the one they hold (event.from's
 * first answer lists every object, as get_all_records does), else as any record's text.
 */
function snapshotText(v: Value, clsName: string, ref: Value, lookup: LookupClass, cursors?: Cursors): string {
  const cls = cursors && typeof ref === 'string' ? lookupClassLoose(lookup, clsName) : undefined;
  const bytes = cls && classBytes.get(cls.name);
  if (cls && bytes) {
    let j = cursors!.get(cls.name) ?? 0;
    while (j < bytes.refs.length && bytes.refs[j] !== ref) j++;
    // Not there: stop looking in this class (as in recordMapBytes).
    cursors!.set(cls.name, Math.min(j + 1, bytes.refs.length));
    if (j < bytes.refs.length && bytes.recs[j] === v) {
      const entry = j === 0 ? 1 : bytes.ends[j - 1]! + 1;
      // The entry is `"ref":record`.
      return bytes.buf.toString('utf8', entry + Buffer.byteLength(JSON.stringify(ref)) + 1, bytes.ends[j]);
    }
  }
  return recordText(v, clsName, lookup);
}

/** A class's records as one map's bytes, and where each entry ends in them. */
interface ClassBytes { map: object; refs: string[]; recs: Value[]; ends: number[]; buf: Buffer }
/** By class: the bytes of the last whole-class map encoded (see markWholeClass). */
const classBytes = new Map<string, ClassBytes>();
const wholeClass = new WeakSet<object>();

/**
 * Marks a frozen map as every record of its class (get_all_records): its bytes become the ones
 * the next encoding of that class starts from.
 */
export function markWholeClass(map: object): void { wholeClass.add(map); }

/**
 * The bytes of a map from ref to record of one class. An entry whose ref and record (the same
 * frozen object) were in the last whole-class bytes is copied from them; only the others are
 * encoded. Maps list their records in the store's order (updated records keep their place, new
 * ones come last), so one walk along the previous entries finds them.
 */
function recordMapBytes(map: { [k: string]: Value }, clsName: string, lookup: LookupClass): Buffer {
  const prev = classBytes.get(clsName);
  // The same (frozen) map again: its bytes as they are, not even measured again.
  if (prev && prev.map === map) return prev.buf;
  const next: ClassBytes = { map, refs: [], recs: [], ends: [], buf: Buffer.alloc(0) };
  // Pieces: a range of prev.buf, or fresh bytes.
  const from: Array<Buffer | undefined> = [];
  const start: number[] = [];
  const stop: number[] = [];
  let size = 1;
  let i = 0;
  for (const ref in map) {
    if (!Object.prototype.hasOwnProperty.call(map, ref)) continue;
    const rec = map[ref]!;
    if (prev && i < prev.refs.length) {
      let j = i;
      while (j < prev.refs.length && prev.refs[j] !== ref) j++;
      // Not there: a new object, and so are all after it (or a map from another store: then
      // nothing is reused, but nothing is searched twice either).
      i = j + 1;
      if (j < prev.refs.length) {
        if (prev.recs[j] === rec) {
          from.push(undefined); start.push(j === 0 ? 1 : prev.ends[j - 1]! + 1); stop.push(prev.ends[j]!);
          size += prev.ends[j]! - start.at(-1)! + 1;
          next.refs.push(ref); next.recs.push(rec); next.ends.push(size - 1);
          continue;
        }
      }
    }
    // Encoded without being remembered one by one: these bytes are the memory of them.
    const text = (isPlainObject(rec) ? recentTexts.get(rec) : undefined) ?? toJsonText(shapeRecord(rec, clsName, lookup));
    const fresh = Buffer.from(`${JSON.stringify(ref)}:${text}`);
    from.push(fresh); start.push(0); stop.push(fresh.length);
    size += fresh.length + 1;
    next.refs.push(ref); next.recs.push(rec); next.ends.push(size - 1);
  }
  if (from.length === 0) size++;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = 0x7b; // {
  let at = 1;
  for (let k = 0; k < from.length; k++) {
    if (k > 0) buf[at++] = 0x2c; // ,
    at += (from[k] ?? prev!.buf).copy(buf, at, start[k], stop[k]);
  }
  buf[at] = 0x7d; // }
  next.buf = buf;
  if (wholeClass.has(map)) classBytes.set(clsName, next);
  return buf;
}

/** The result's bytes when it is a map of one class's records (get_all_records and _where), else its text. */
function resultBody(result: { value: Value; ty: Ty | null }, lookup?: LookupClass): string | Buffer {
  const { value, ty } = result;
  if (ty === null) return '""';
  if (!lookup) return toJsonText(value === undefined ? null : value);
  if (ty.kind === 'map' && ty.value.kind === 'record' && isPlainObject(value)) return recordMapBytes(value, ty.value.cls, lookup);
  if (ty.kind === 'record' && isPlainObject(value)) return recordText(value, ty.cls, lookup);
  if (ty.kind === 'any') return anyText(value, lookup);
  return toJsonText(shape(value, ty, lookup));
}

/**
 * A reply for `call`, as the pieces to send: the result's bytes are not copied into one string
 * (a class of 10,000 records is megabytes). `lookupClass`, when given, enables record shaping.
 */
export function encodeJsonRpcResponseParts(
  call: { version: '1.0' | '2.0'; id: string | number | null },
  result: RpcResult,
  lookupClass?: LookupClass,
): Array<string | Buffer> {
  if (!result.ok) return [encodeJsonRpcResponse(call, result)];
  const body = resultBody(result, lookupClass);
  const id = JSON.stringify(call.id);
  if (typeof body === 'string') {
    return [call.version === '2.0' ? `{"jsonrpc":"2.0","result":${body},"id":${id}}` : `{"result":${body},"error":null,"id":${id}}`];
  }
  return call.version === '2.0' ? ['{"jsonrpc":"2.0","result":', body, `,"id":${id}}`] : ['{"result":', body, `,"error":null,"id":${id}}`];
}

/** Serialises a reply for `call`. `lookupClass`, when given, enables record shaping. */
export function encodeJsonRpcResponse(
  call: { version: '1.0' | '2.0'; id: string | number | null },
  result: RpcResult,
  lookupClass?: LookupClass,
): string {
  if (result.ok) return encodeJsonRpcResponseParts(call, result, lookupClass).map(String).join('');
  if (call.version === '2.0') {
    const [code = 'INTERNAL_ERROR', ...params] = result.error;
    return JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: String(code), data: params.map(String) }, id: call.id });
  }
  const desc = result.error.length ? result.error.map(String) : ['INTERNAL_ERROR'];
  return JSON.stringify({ result: null, error: desc, id: call.id });
}

/**
 * The reply to a body that is not a usable JSON-RPC request. xen-api's parser accepts an
 * error with an integer code, a string message and `id: null`, so this surfaces client-side as
 * `XapiError('INTERNAL_ERROR', [what was wrong])`; the numeric code keeps the JSON-RPC meaning.
 */
export function encodeJsonRpcParseError(err: RpcParseError): string {
  const id = err.id ?? null;
  const what = err.message;
  if (err.version === '1.0') return JSON.stringify({ result: null, error: ['INTERNAL_ERROR', what], id });
  return JSON.stringify({ jsonrpc: '2.0', error: { code: err.code, message: 'INTERNAL_ERROR', data: [what] }, id });
}
