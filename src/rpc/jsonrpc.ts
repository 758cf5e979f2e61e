// JSON-RPC 1.0 / 2.0 codec, shaped as XAPI answers (reference xapi-networking §4.2, §5.4) and
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
// class. Records handed over frozen never change, so their shaped form can be reused (a server
// that answers get_all_records from unchanged objects pays for shaping once per object version).
const shapedRecords = new WeakMap<object, Value>();

function shapeRecord(v: Value, clsName: string, lookup: LookupClass): Value {
  if (isPlainObject(v) && Object.isFrozen(v)) {
    const hit = shapedRecords.get(v);
    if (hit !== undefined) return hit;
    const out = shapeRecordOnce(v, clsName, lookup);
    if (isPlainObject(out)) Object.freeze(out);
    shapedRecords.set(v, out);
    return out;
  }
  return shapeRecordOnce(v, clsName, lookup);
}

function shapeRecordOnce(v: Value, clsName: string, lookup: LookupClass): Value {
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

// The JSON text of frozen values (shaped records) is kept, so a large reply made mostly of
// unchanged records is assembled from cached pieces rather than serialised again.
const jsonTexts = new WeakMap<object, string>();

/** JSON.stringify, reusing the text of frozen objects seen before. */
function toJsonText(v: Value): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  const hit = jsonTexts.get(v);
  if (hit !== undefined) return hit;
  const text = Array.isArray(v)
    ? `[${v.map(toJsonText).join(',')}]`
    : `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${toJsonText(v[k]!)}`).join(',')}}`;
  if (Object.isFrozen(v)) jsonTexts.set(v, text);
  return text;
}

// Typed JSON text in one pass, without building the shaped value first: maps and sets of records
// (get_all_records) are assembled from the cached text of each unchanged record.
const recordTexts = new WeakMap<object, string>();

function typedJsonText(v: Value, ty: Ty, lookup: LookupClass): string {
  if (ty.kind === 'record' && isPlainObject(v) && Object.isFrozen(v)) {
    let text = recordTexts.get(v);
    if (text === undefined) recordTexts.set(v, text = toJsonText(shapeRecord(v, ty.cls, lookup)));
    return text;
  }
  if (ty.kind === 'map' && isPlainObject(v)) {
    const hit = Object.isFrozen(v) ? recordTexts.get(v) : undefined;
    if (hit !== undefined) return hit;
    const parts: string[] = [];
    for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) parts.push(`${JSON.stringify(k)}:${typedJsonText(v[k]!, ty.value, lookup)}`);
    const text = `{${parts.join(',')}}`;
    if (Object.isFrozen(v)) recordTexts.set(v, text);
    return text;
  }
  if (ty.kind === 'set' && Array.isArray(v)) return `[${v.map((x) => typedJsonText(x, ty.of, lookup)).join(',')}]`;
  return toJsonText(shape(v, ty, lookup));
}

function resultText(result: { value: Value; ty: Ty | null }, lookup?: LookupClass): string {
  if (result.ty === null) return '""';
  if (!lookup) return toJsonText(result.value === undefined ? null : result.value);
  return typedJsonText(result.value, result.ty, lookup);
}

/** Serialises a reply for `call`. `lookupClass`, when given, enables record shaping. */
export function encodeJsonRpcResponse(
  call: { version: '1.0' | '2.0'; id: string | number | null },
  result: RpcResult,
  lookupClass?: LookupClass,
): string {
  if (call.version === '2.0') {
    if (result.ok) {
      return `{"jsonrpc":"2.0","result":${resultText(result, lookupClass)},"id":${JSON.stringify(call.id)}}`;
    }
    const [code = 'INTERNAL_ERROR', ...params] = result.error;
    return JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: String(code), data: params.map(String) }, id: call.id });
  }
  if (result.ok) {
    return `{"result":${resultText(result, lookupClass)},"error":null,"id":${JSON.stringify(call.id)}}`;
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
