// XML-RPC codec: a lenient request parser (Python's xmlrpc.client pretty-prints, xen-api sends
// compact bare-text values) and a strict, compact, type-directed response encoder (xen-api's
// sax-based parser breaks on any whitespace between elements).
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { zeroOf, type Ty, type Value } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import {
  fieldValue, isEventRecord, isPlainObject, lookupClassLoose, normaliseDatetime, setOwn, visibleFields,
} from './shape.js';
import type { LookupClass, RpcResult } from './types.js';

// ---------------------------------------------------------------------------------------------
// Parsing

// preserveOrder keeps text nodes next to elements, which is how we tell "whitespace between
// elements" (ignored) from "whitespace that is the value" (kept). Entities are decoded by the
// parser; tag values are never coerced (we do typing ourselves).
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type Node = { [tag: string]: Node[] } & { '#text'?: string };

const fail = (msg: string): never => { throw new RpcParseError('xmlrpc', msg); };

function tagOf(n: Node): string {
  for (const k of Object.keys(n)) if (k !== ':@') return k;
  return '';
}
const isText = (n: Node) => tagOf(n) === '#text';
function textOf(n: Node): string {
  const t = n['#text'];
  return t === undefined ? '' : String(t);
}
function children(n: Node): Node[] {
  const c = (n as Record<string, unknown>)[tagOf(n)];
  return Array.isArray(c) ? (c as Node[]) : [];
}
/** Element children, checking that any text between them is whitespace only. */
function elements(nodes: Node[], where: string): Node[] {
  const out: Node[] = [];
  for (const n of nodes) {
    if (isText(n)) {
      if (textOf(n).trim() !== '') fail(`unexpected text in <${where}>`);
    } else {
      out.push(n);
    }
  }
  return out;
}
/** All text directly inside an element (CDATA and entity splits arrive as several text nodes). */
function allText(nodes: Node[], where: string): string {
  let s = '';
  for (const n of nodes) {
    if (!isText(n)) fail(`unexpected element <${tagOf(n)}> in <${where}>`);
    s += textOf(n);
  }
  return s;
}
function only(nodes: Node[], tag: string, where: string): Node {
  const els = elements(nodes, where);
  if (els.length !== 1 || tagOf(els[0]) !== tag) fail(`expected a single <${tag}> in <${where}>`);
  return els[0];
}

const INT_RE = /^[+-]?\d+$/;

/**
 * int/i4/i8 → a JS number when it is a safe integer; beyond ±(2^53-1) the canonical decimal
 * string, so no precision is lost (the dispatcher converts by parameter type anyway, as it must
 * for bare-text ints from xen-api).
 */
function parseInt64(text: string, tag: string): Value {
  const s = text.trim();
  if (!INT_RE.test(s)) fail(`invalid <${tag}>: ${JSON.stringify(s)}`);
  const n = Number(s);
  if (Number.isSafeInteger(n)) return n;
  return BigInt(s).toString();
}

function parseValue(node: Node): Value {
  const kids = children(node);
  const els = kids.filter((n) => !isText(n));
  // No element inside: bare text is a string, whitespace included; <value/> is "".
  if (els.length === 0) return allText(kids, 'value');
  const typed = only(kids, tagOf(els[0]), 'value');
  const tag = tagOf(typed);
  const inner = children(typed);
  switch (tag) {
    case 'string': return allText(inner, tag);
    case 'int': case 'i4': case 'i8': return parseInt64(allText(inner, tag), tag);
    case 'boolean': {
      const s = allText(inner, tag).trim().toLowerCase();
      if (s === '1' || s === 'true') return true;
      if (s === '0' || s === 'false') return false;
      return fail(`invalid <boolean>: ${JSON.stringify(s)}`);
    }
    case 'double': {
      const s = allText(inner, tag).trim();
      const n = Number(s);
      if (s === '' || Number.isNaN(n)) fail(`invalid <double>: ${JSON.stringify(s)}`);
      return n;
    }
    case 'nil': return null;
    case 'dateTime.iso8601': return allText(inner, tag).trim();
    case 'base64': {
      // No byte type in Value: decode to text (XenAPI carries no binary networking parameters).
      const s = allText(inner, tag).replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail('invalid <base64>');
      return Buffer.from(s, 'base64').toString('utf8');
    }
    case 'array': {
      const data = only(inner, 'data', 'array');
      return elements(children(data), 'data').map((v) => {
        if (tagOf(v) !== 'value') fail(`unexpected <${tagOf(v)}> in <data>`);
        return parseValue(v);
      });
    }
    case 'struct': {
      const out: { [key: string]: Value } = {};
      for (const m of elements(inner, 'struct')) {
        if (tagOf(m) !== 'member') fail(`unexpected <${tagOf(m)}> in <struct>`);
        let name: string | undefined;
        let value: Value | undefined;
        for (const part of elements(children(m), 'member')) {
          const t = tagOf(part);
          if (t === 'name' && name === undefined) name = allText(children(part), 'name');
          else if (t === 'value' && value === undefined) value = parseValue(part);
          else fail(`unexpected <${t}> in <member>`);
        }
        if (name === undefined || value === undefined) fail('<member> needs a <name> and a <value>');
        setOwn(out, name as string, value as Value);
      }
      return out;
    }
    default:
      return fail(`unsupported value type <${tag}>`);
  }
}

/** Parses an XML-RPC `methodCall`. Throws RpcParseError on anything that is not one. */
export function parseXmlRpcCall(body: string): { method: string; params: Value[] } {
  // XML-RPC has no use for a DTD; refusing it rules out entity-expansion tricks.
  if (/<!DOCTYPE/i.test(body)) fail('DOCTYPE is not allowed');
  const valid = XMLValidator.validate(body);
  if (valid !== true) fail(`malformed XML: ${valid.err.msg} (line ${valid.err.line}, col ${valid.err.col})`);
  let doc: Node[];
  try {
    doc = parser.parse(body) as Node[];
  } catch (e) {
    return fail(`malformed XML: ${(e as Error).message}`);
  }
  const call = only(doc, 'methodCall', 'document');
  let method: string | undefined;
  let params: Value[] = [];
  let sawParams = false;
  for (const el of elements(children(call), 'methodCall')) {
    const t = tagOf(el);
    if (t === 'methodName' && method === undefined) {
      method = allText(children(el), 'methodName').trim();
    } else if (t === 'params' && !sawParams) {
      sawParams = true;
      params = elements(children(el), 'params').map((p) => {
        if (tagOf(p) !== 'param') fail(`unexpected <${tagOf(p)}> in <params>`);
        return parseValue(only(children(p), 'value', 'param'));
      });
    } else {
      fail(`unexpected <${t}> in <methodCall>`);
    }
  }
  if (!method) fail('missing <methodName>');
  return { method: method as string, params };
}

// ---------------------------------------------------------------------------------------------
// Encoding

// Control characters other than TAB/LF/CR are not representable in XML 1.0: XAPI drops them.
// eslint-disable-next-line no-control-regex
const DROP = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;' };

/** Text content, escaped. CR as a character reference so XML parsers don't fold it into LF. */
export function escapeXmlText(s: string): string {
  return s.replace(DROP, '').replace(/[&<>"\r]/g, (c) => ESC[c]);
}

/** C's `%.16g`, which XAPI uses for doubles: 16 significant digits, trailing zeros trimmed. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = x.toExponential(15); // d.ddddddddddddddde±X, 16 significant digits
  const [mant, eStr] = exp.split('e');
  const e = Number(eStr);
  const trim = (m: string) => (m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m);
  if (e < -4 || e >= 16) {
    const ae = Math.abs(e);
    return `${trim(mant)}e${e < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  return trim(x.toFixed(Math.max(0, 15 - e)));
}

/** Decimal text for an int64 held as a number or a string. */
function intText(v: Value): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '0';
    const n = Math.trunc(v);
    // String(1e21) would give exponent notation.
    return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
  }
  if (typeof v === 'string' && INT_RE.test(v.trim())) return BigInt(v.trim()).toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  return '0';
}

const str = (s: string) => (s === '' ? '<value></value>' : `<value>${escapeXmlText(s)}</value>`);
const dbl = (n: number) => `<value><double>${formatDouble(n)}</double></value>`;
const bool = (b: boolean) => `<value><boolean>${b ? 1 : 0}</boolean></value>`;

function asText(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function encodeStruct(out: string[], obj: { [key: string]: Value }, member: (k: string, v: Value) => void): void {
  out.push('<value><struct>');
  for (const k of Object.keys(obj)) {
    // Like JSON.stringify (and xen-api's own formatter): an undefined member is no member.
    if (obj[k] === undefined) continue;
    out.push(`<member><name>${escapeXmlText(k)}</name>`);
    member(k, obj[k]);
    out.push('</member>');
  }
  out.push('</struct></value>');
}

function encodeRecord(out: string[], v: Value, clsName: string, lookup: LookupClass): void {
  const cls = lookupClassLoose(lookup, clsName);
  if (!cls || !isPlainObject(v)) { encodeAny(out, v, lookup); return; }
  out.push('<value><struct>');
  for (const f of visibleFields(cls)) {
    out.push(`<member><name>${escapeXmlText(f.name)}</name>`);
    encodeTyped(out, fieldValue(v, f), f.ty, lookup);
    out.push('</member>');
  }
  out.push('</struct></value>');
}

function encodeTyped(out: string[], v: Value, ty: Ty, lookup: LookupClass): void {
  // XenAPI has no null: a missing typed value travels as its type's zero (refs as OpaqueRef:NULL).
  if ((v === null || v === undefined) && ty.kind !== 'any') v = zeroOf(ty);
  switch (ty.kind) {
    case 'string': case 'ref': case 'enum':
      out.push(str(asText(v)));
      return;
    case 'int':
      out.push(`<value>${intText(v)}</value>`);
      return;
    case 'float': {
      const n = typeof v === 'number' ? v : Number(v);
      out.push(dbl(Number.isNaN(n) ? 0 : n));
      return;
    }
    case 'bool':
      out.push(bool(v === true || v === 'true' || v === 1 || v === '1'));
      return;
    case 'datetime': {
      const d = normaliseDatetime(v) ?? normaliseDatetime(0)!;
      out.push(`<value><dateTime.iso8601>${d}</dateTime.iso8601></value>`);
      return;
    }
    case 'set': {
      if (!Array.isArray(v)) { encodeAny(out, v, lookup); return; }
      out.push('<value><array><data>');
      for (const item of v) encodeTyped(out, item, ty.of, lookup);
      out.push('</data></array></value>');
      return;
    }
    case 'map': {
      if (!isPlainObject(v)) { encodeAny(out, v, lookup); return; }
      encodeStruct(out, v, (_k, mv) => encodeTyped(out, mv, ty.value, lookup));
      return;
    }
    case 'record':
      encodeRecord(out, v, ty.cls, lookup);
      return;
    case 'any':
      encodeAny(out, v, lookup);
      return;
  }
}

/** Free-form values (event.from batches, system.listMethods): types inferred from JS values. */
function encodeAny(out: string[], v: Value, lookup: LookupClass): void {
  if (v === null || v === undefined) { out.push('<value></value>'); return; }
  switch (typeof v) {
    case 'string': out.push(str(v)); return;
    case 'boolean': out.push(bool(v)); return;
    case 'number': out.push(Number.isInteger(v) ? `<value>${intText(v)}</value>` : dbl(v)); return;
  }
  if (Array.isArray(v)) {
    out.push('<value><array><data>');
    for (const item of v) encodeAny(out, item, lookup);
    out.push('</data></array></value>');
    return;
  }
  if (!isPlainObject(v)) { out.push(str(asText(v))); return; }
  const ev = isEventRecord(v);
  encodeStruct(out, v, (k, mv) => {
    if (ev && k === 'snapshot') encodeRecord(out, mv, v.class as string, lookup);
    else if (k === 'valid_ref_counts' && isPlainObject(mv)) {
      // The one place XAPI sends 32-bit ints.
      encodeStruct(out, mv, (_c, n) => {
        if (typeof n === 'number' && Number.isInteger(n)) out.push(`<value><i4>${n | 0}</i4></value>`);
        else encodeAny(out, n, lookup);
      });
    } else encodeAny(out, mv, lookup);
  });
}

/** Encodes one value (no envelope); exported for tests and for callers building their own replies. */
export function encodeXmlRpcValue(value: Value, ty: Ty | null, lookupClass: LookupClass): string {
  const out: string[] = [];
  if (ty === null) out.push('<value></value>');
  else encodeTyped(out, value, ty, lookupClass);
  return out.join('');
}

const HEAD = '<?xml version="1.0"?><methodResponse><params><param><value><struct>';
const TAIL = '</struct></value></param></params></methodResponse>';

/**
 * A XenAPI `methodResponse`: a struct with Status=Success + Value, or Status=Failure +
 * ErrorDescription. Compact: no whitespace between elements anywhere.
 */
export function encodeXmlRpcResponse(result: RpcResult, lookupClass: LookupClass): string {
  if (result.ok) {
    return `${HEAD}<member><name>Status</name><value>Success</value></member>` +
      `<member><name>Value</name>${encodeXmlRpcValue(result.value, result.ty, lookupClass)}</member>${TAIL}`;
  }
  const items = result.error.map((s) => str(String(s))).join('');
  return `${HEAD}<member><name>Status</name><value>Failure</value></member>` +
    `<member><name>ErrorDescription</name><value><array><data>${items}</data></array></value></member>${TAIL}`;
}
