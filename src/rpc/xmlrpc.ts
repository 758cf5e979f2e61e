// XML-RPC codec: a lenient request parser (Python's xmlrpc.client pretty-prints, xen-api sends
// compact bare-text values) and a strict, compact, type-directed response encoder (xen-api's
// sax-based parser breaks on any whitespace between elements).
import { zeroOf, type Ty, type Value } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { clip, DEFAULT_LIMITS, quote, type ParseLimits, type ParseStats } from './limits.js';
import {
  fieldValue, isEventRecord, isPlainObject, lookupClassLoose, normaliseDatetime, setOwn, visibleFields,
} from './shape.js';
import type { LookupClass, RpcResult } from './types.js';

// ---------------------------------------------------------------------------------------------
// Parsing
//
// A small reader for the XML-RPC subset of XML, written for hostile input: one forward pass,
// no tree of the document, the value built as it is read, every limit checked on the way (depth,
// value count, string and number length), so a bad body fails at the first thing wrong with it.
// Accepted: an XML declaration, comments and processing instructions between elements, CDATA
// and the five XML entities plus character references in text, attributes (ignored), `<x/>`.
// Refused: DOCTYPE and any other declaration (no entity expansion tricks), unknown entities.

const WS = /[ \t\r\n]*/y;
const WS_ONLY = /^[ \t\r\n]*$/;
const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ATTR = /[ \t\r\n]+[A-Za-z_:][-A-Za-z0-9_:.]*[ \t\r\n]*=[ \t\r\n]*(?:"[^"<]*"|'[^'<]*')/y;
const TAG_END = /[ \t\r\n]*(\/?)>/y;
const ENTITY = /&(?:#x([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/y;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class XmlReader {
  private pos = 0;
  private depth = 0;
  items = 0;

  constructor(private readonly s: string, private readonly lim: ParseLimits) {}

  private fail(msg: string): never {
    throw new RpcParseError('xmlrpc', `${msg} (at offset ${this.pos})`);
  }

  private at(lit: string): boolean {
    return this.s.startsWith(lit, this.pos);
  }

  private sticky(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (m) this.pos = re.lastIndex;
    return m;
  }

  private count(): void {
    if (++this.items > this.lim.maxItems) this.fail(`more than ${this.lim.maxItems} values in one request`);
  }

  /** Whitespace, comments and processing instructions between elements. */
  private skipMisc(): void {
    // Fast path: compact XML (xen-api's) has nothing between elements.
    if (this.s.charCodeAt(this.pos) === 0x3c && this.s.charCodeAt(this.pos + 1) !== 0x21 && this.s.charCodeAt(this.pos + 1) !== 0x3f) return;
    for (;;) {
      this.sticky(WS);
      if (this.at('<!--')) this.skipPast('-->', 'comment');
      else if (this.at('<?')) this.skipPast('?>', 'processing instruction');
      else if (this.at('<!')) this.fail('DOCTYPE and other declarations are not allowed');
      else return;
    }
  }

  private skipPast(end: string, what: string): void {
    const i = this.s.indexOf(end, this.pos + 2);
    if (i < 0) this.fail(`unterminated ${what}`);
    this.pos = i + end.length;
  }

  /** `<name attrs>` or `<name attrs/>`; attributes are read and ignored. */
  private open(): { name: string; empty: boolean } {
    if (this.s.charCodeAt(this.pos) !== 0x3c) this.fail(this.pos >= this.s.length ? 'unexpected end of document' : 'expected an element');
    this.pos++;
    const name = this.sticky(NAME)?.[0] ?? this.fail('expected an element name');
    if (this.s.charCodeAt(this.pos) === 0x3e) { this.pos++; return { name, empty: false }; } // no attributes: `>`
    while (this.sticky(ATTR));
    const end = this.sticky(TAG_END) ?? this.fail(`malformed tag <${clip(name, 64)}>`);
    return { name, empty: end[1] === '/' };
  }

  /** Opens the element `tag`, which must come next (after whitespace and comments). */
  private expect(tag: string, where: string): boolean {
    this.skipMisc();
    const at = this.pos;
    const { name, empty } = this.open();
    if (name !== tag) { this.pos = at; this.fail(`expected <${tag}> in <${where}>, found <${clip(name, 64)}>`); }
    return empty;
  }

  /** True when the next thing (after whitespace and comments) is an end tag. */
  private atEnd(): boolean {
    this.skipMisc();
    return this.at('</');
  }

  private close(tag: string): void {
    const s = this.s;
    if (s.charCodeAt(this.pos) !== 0x3c || s.charCodeAt(this.pos + 1) !== 0x2f || !s.startsWith(tag, this.pos + 2)) this.fail(`expected </${tag}>`);
    this.pos += tag.length + 2;
    if (s.charCodeAt(this.pos) === 0x3e) { this.pos++; return; } // `</tag>`
    if (!this.sticky(TAG_END) || s.charCodeAt(this.pos - 2) === 0x2f) this.fail(`malformed </${tag}>`);
  }

  /** Character data up to the next tag: entities decoded, CDATA kept, comments dropped. */
  private text(where: string): string {
    let out = '';
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt < 0) { this.pos = this.s.length; this.fail(`unterminated <${where}>`); }
      if (lt > this.pos) { out += this.decode(this.s.slice(this.pos, lt)); this.pos = lt; }
      if (this.at('<![CDATA[')) {
        const end = this.s.indexOf(']]>', this.pos + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        out += this.s.slice(this.pos + 9, end);
        this.pos = end + 3;
      } else if (this.at('<!--')) {
        this.skipPast('-->', 'comment');
      } else if (this.at('<!')) {
        this.fail('DOCTYPE and other declarations are not allowed');
      } else {
        break;
      }
      if (out.length > this.lim.maxString) break;
    }
    if (out.length > this.lim.maxString) this.fail(`text in <${where}> longer than ${this.lim.maxString} characters`);
    return out;
  }

  private decode(raw: string): string {
    let amp = raw.indexOf('&');
    if (amp < 0) return raw;
    let out = '';
    let done = 0;
    while (amp >= 0) {
      ENTITY.lastIndex = amp;
      const m = ENTITY.exec(raw);
      const cp = !m ? -1 : m[3] ? NAMED[m[3]]!.charCodeAt(0) : m[1] ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
      if (cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`invalid entity or bare & ${quote(raw.slice(amp, amp + 12))}`);
      out += raw.slice(done, amp) + String.fromCodePoint(cp);
      done = ENTITY.lastIndex;
      amp = raw.indexOf('&', done);
    }
    return out + raw.slice(done);
  }

  /** Text content of a leaf element, then its end tag. */
  private leaf(tag: string, empty: boolean): string {
    if (empty) return '';
    const s = this.text(tag);
    this.close(tag);
    return s;
  }

  private enter(): void {
    if (++this.depth > this.lim.maxDepth) this.fail(`arrays/structs nested deeper than ${this.lim.maxDepth}`);
  }

  /** The content of a `<value>` whose start tag has been read, and its end tag. */
  private value(empty: boolean): Value {
    this.count();
    if (empty) return '';
    const text = this.text('value');
    // No element inside: bare text is a string, whitespace included.
    if (this.at('</')) { this.close('value'); return text; }
    if (!WS_ONLY.test(text)) this.fail('unexpected text next to a typed value in <value>');
    const { name, empty: typedEmpty } = this.open();
    const v = this.typed(name, typedEmpty);
    this.skipMisc();
    this.close('value');
    return v;
  }

  private typed(tag: string, empty: boolean): Value {
    switch (tag) {
      case 'string': return this.leaf(tag, empty);
      case 'int': case 'i4': case 'i8': return parseInt64(this.scalar(tag, empty), tag);
      case 'boolean': {
        const s = this.scalar(tag, empty).toLowerCase();
        if (s === '1' || s === 'true') return true;
        if (s === '0' || s === 'false') return false;
        return this.fail(`invalid <boolean>: ${quote(s)}`);
      }
      case 'double': {
        const s = this.scalar(tag, empty);
        const n = Number(s);
        if (s === '' || Number.isNaN(n)) this.fail(`invalid <double>: ${quote(s)}`);
        return n;
      }
      case 'nil':
        if (!empty && !WS_ONLY.test(this.leaf(tag, false))) this.fail('<nil> must be empty');
        return null;
      case 'dateTime.iso8601': return this.scalar(tag, empty, 64);
      case 'base64': {
        // No byte type in Value: decode to text (XenAPI carries no binary networking parameters).
        const s = this.leaf(tag, empty).replace(/[ \t\r\n]+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) this.fail('invalid <base64>');
        return Buffer.from(s, 'base64').toString('utf8');
      }
      case 'array': return this.array(empty);
      case 'struct': return this.struct(empty);
      default: return this.fail(`unsupported value type <${clip(tag, 64)}>`);
    }
  }

  /** A scalar's text, trimmed, refused when longer than any such value can be. */
  private scalar(tag: string, empty: boolean, max = this.lim.maxNumber): string {
    const s = this.leaf(tag, empty).trim();
    if (s.length > max) this.fail(`<${tag}> longer than ${max} characters`);
    return s;
  }

  private array(empty: boolean): Value[] {
    if (empty) this.fail('expected <data> in <array>');
    this.enter();
    const out: Value[] = [];
    if (!this.expect('data', 'array')) {
      while (!this.atEnd()) out.push(this.value(this.expect('value', 'data')));
      this.close('data');
    }
    this.skipMisc();
    this.close('array');
    this.depth--;
    return out;
  }

  private struct(empty: boolean): { [key: string]: Value } {
    const out: { [key: string]: Value } = {};
    if (empty) return out;
    this.enter();
    while (!this.atEnd()) {
      if (this.expect('member', 'struct')) this.fail('<member> needs a <name> and a <value>');
      let name: string | undefined;
      let value: Value | undefined;
      while (!this.atEnd()) {
        const at = this.pos;
        const part = this.open();
        if (part.name === 'name' && name === undefined) {
          this.count();
          name = this.leaf('name', part.empty);
        } else if (part.name === 'value' && value === undefined) {
          value = this.value(part.empty);
        } else {
          this.pos = at;
          this.fail(`unexpected <${clip(part.name, 64)}> in <member>`);
        }
      }
      this.close('member');
      if (name === undefined || value === undefined) this.fail('<member> needs a <name> and a <value>');
      setOwn(out, name, value);
    }
    this.close('struct');
    this.depth--;
    return out;
  }

  call(): { method: string; params: Value[] } {
    if (this.s.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (this.expect('methodCall', 'document')) this.fail('missing <methodName>');
    let method: string | undefined;
    let params: Value[] | undefined;
    while (!this.atEnd()) {
      const at = this.pos;
      const el = this.open();
      if (el.name === 'methodName' && method === undefined) {
        method = this.leaf('methodName', el.empty).trim();
        if (method.length > this.lim.maxMethod) this.fail(`method name longer than ${this.lim.maxMethod} characters`);
      } else if (el.name === 'params' && params === undefined) {
        params = [];
        if (!el.empty) {
          while (!this.atEnd()) {
            if (this.expect('param', 'params')) this.fail('expected <value> in <param>');
            params.push(this.value(this.expect('value', 'param')));
            this.skipMisc();
            this.close('param');
          }
          this.close('params');
        }
      } else {
        this.pos = at;
        this.fail(`unexpected <${clip(el.name, 64)}> in <methodCall>`);
      }
    }
    this.close('methodCall');
    this.skipMisc();
    if (this.pos < this.s.length) this.fail('content after </methodCall>');
    if (!method) this.fail('missing <methodName>');
    return { method, params: params ?? [] };
  }
}

const fail = (msg: string): never => { throw new RpcParseError('xmlrpc', msg); };

const INT_RE = /^[+-]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * int/i4/i8 → a JS number when it is a safe integer; beyond ±(2^53-1) the canonical decimal
 * string, so no precision is lost (the dispatcher converts by parameter type anyway, as it must
 * for bare-text ints from xen-api). Outside int64 it is not a XenAPI int.
 */
function parseInt64(s: string, tag: string): Value {
  if (!INT_RE.test(s)) fail(`invalid <${tag}>: ${quote(s)}`);
  const n = Number(s);
  if (Number.isSafeInteger(n)) return n;
  const b = BigInt(s);
  if (b < INT64_MIN || b > INT64_MAX) fail(`<${tag}> out of the 64-bit range: ${quote(s)}`);
  return b.toString();
}

/** Parses an XML-RPC `methodCall`. Throws RpcParseError on anything that is not one, or is over a limit. */
export function parseXmlRpcCall(body: string, limits: ParseLimits = DEFAULT_LIMITS, stats?: ParseStats): { method: string; params: Value[] } {
  const reader = new XmlReader(body, limits);
  const call = reader.call();
  if (stats) stats.items = reader.items;
  return call;
}

// ---------------------------------------------------------------------------------------------
// Encoding

// Control characters other than TAB/LF/CR are not representable in XML 1.0: XAPI drops them.
// eslint-disable-next-line no-control-regex
const DROP = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;' };

/** Text content, escaped. CR as a character reference so XML parsers don't fold it into LF. */
export function escapeXmlText(s: string): string {
  return s.replace(DROP, '').replace(/[&<>"\r]/g, (c) => ESC[c] ?? '');
}

/** C's `%.16g`, which XAPI uses for doubles: 16 significant digits, trailing zeros trimmed. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = x.toExponential(15); // d.ddddddddddddddde±X, 16 significant digits
  const [mant = '', eStr] = exp.split('e');
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
  // Length first: BigInt of a long digit string takes quadratic time, and no int64 is that long.
  if (typeof v === 'string' && v.length <= 32 && INT_RE.test(v.trim())) return BigInt(v.trim()).toString();
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
