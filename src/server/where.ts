// The database filter language of get_all_where / get_all_records_where, as xapi reads it
// (ocaml/database/db_filter_lex.mll, db_filter_parse.mly, db_filter.ml in xapi's repository):
//
//   expr  := value "=" value | expr and expr | expr or expr | not expr | true | false | ( expr )
//   value := "<literal>" | field "<column>"
//
// `and` and `or` share one left-associative level; `not` has the lowest precedence, so it takes
// the whole and/or chain to its right (`not A and B` is `not (A and B)`). Literals are written
// between double quotes, without escapes. Whitespace is space, tab and newline.
//
// A field's value is compared as the database writes it: strings as they are, numbers in
// decimal, booleans as true/false, sets as ('a' 'b') and maps as (('k' 'v') ('k2' 'v2')), with
// ' and \ escaped by a backslash. Columns use the database's names: namespaced fields joined
// with "__" (name__label, qos__algorithm_type), and _ref for the object's reference. A column
// the class lacks fails only when a record's evaluation reaches it, as in xapi.
// Errors are xapi's: INVALID_VALUE [expression, the parser's exception] for text it cannot
// read, INTERNAL_ERROR ["missing field", column, ""] for an unknown column.

import { ApiError } from '../common/api-error.js';
import type { ClassDef, Field, Rec, Ty, Value } from '../idl/meta.js';

export type Operand = { kind: 'literal'; text: string } | { kind: 'field'; column: string };

export type Where =
  | { op: 'const'; value: boolean }
  | { op: 'eq'; a: Operand; b: Operand }
  | { op: 'not'; e: Where }
  | { op: 'and' | 'or'; a: Where; b: Where };

/** The text of the exceptions xapi's parser raises (OCaml's Printexc.to_string of them). */
const LEX_ERROR = 'Failure("lexing: empty token")';
const PARSE_ERROR = 'Stdlib.Parsing.Parse_error';

const KEYWORDS = ['true', 'false', 'field', 'and', 'or', 'not'] as const;
type Token = { kind: 'eq' | '(' | ')' | 'eof' | (typeof KEYWORDS)[number] } | { kind: 'ident'; text: string };

/** Reads tokens one at a time, so a later lexing error does not mask an earlier parse error. */
class Lexer {
  private at = 0;
  constructor(private readonly s: string, private readonly fail: (exn: string) => never) {}

  next(): Token {
    const s = this.s;
    while (this.at < s.length && (s[this.at] === ' ' || s[this.at] === '\t' || s[this.at] === '\n')) this.at++;
    if (this.at >= s.length) return { kind: 'eof' };
    const c = s[this.at]!;
    if (c === '=') { this.at++; return { kind: 'eq' }; }
    if (c === '(' || c === ')') { this.at++; return { kind: c }; }
    if (c === '"') {
      const end = s.indexOf('"', this.at + 1);
      if (end < 0) this.fail(LEX_ERROR);
      const text = s.slice(this.at + 1, end);
      this.at = end + 1;
      return { kind: 'ident', text };
    }
    for (const k of KEYWORDS) if (s.startsWith(k, this.at)) { this.at += k.length; return { kind: k }; }
    return this.fail(LEX_ERROR);
  }
}

export function parseWhere(text: string): Where {
  const fail = (exn: string): never => { throw new ApiError('INVALID_VALUE', [text, exn]); };
  const lexer = new Lexer(text, fail);
  let tok = lexer.next();
  const take = (): Token => { const t = tok; tok = lexer.next(); return t; };
  const expect = (kind: Token['kind']): Token => (tok.kind === kind ? take() : fail(PARSE_ERROR));

  const operand = (): Operand => {
    const t = take();
    if (t.kind === 'ident') return { kind: 'literal', text: t.text };
    if (t.kind === 'field') {
      const name = expect('ident');
      return { kind: 'field', column: (name as { text: string }).text };
    }
    return fail(PARSE_ERROR);
  };
  const primary = (): Where => {
    switch (tok.kind) {
      case 'not': take(); return { op: 'not', e: chain() };
      case 'true': take(); return { op: 'const', value: true };
      case 'false': take(); return { op: 'const', value: false };
      case '(': { take(); const e = chain(); expect(')'); return e; }
      default: { const a = operand(); expect('eq'); return { op: 'eq', a, b: operand() }; }
    }
  };
  // One level for `and` and `or`, left to right.
  const chain = (): Where => {
    let e = primary();
    while (tok.kind === 'and' || tok.kind === 'or') {
      const op = take().kind as 'and' | 'or';
      e = { op, a: e, b: primary() };
    }
    return e;
  };
  const e = chain();
  expect('eof');
  return e;
}

/** Namespaces of the datamodel: their fields are stored as `<namespace>__<name>`. */
const NAMESPACES = ['name', 'qos', 'io', 'memory', 'VCPUs', 'actions', 'PV', 'HVM', 'API_version'];

/** The database column of a field (its wire name with the namespace joined by "__"). */
export function columnOf(field: string): string {
  // VM_guest_metrics' PV_drivers_* fields are not in the PV namespace.
  if (field.startsWith('PV_drivers_')) return field;
  for (const ns of NAMESPACES) if (field.startsWith(`${ns}_`) && field.length > ns.length + 1) return `${ns}__${field.slice(ns.length + 1)}`;
  return field;
}

/** C's %.18g, as xapi writes floats into its database. */
function float18g(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(n)));
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 18) {
    const [m, e] = n.toExponential(17).split('e') as [string, string];
    const ev = Number(e);
    return `${trim(m)}e${ev < 0 ? '-' : '+'}${String(Math.abs(ev)).padStart(2, '0')}`;
  }
  return trim(n.toFixed(Math.max(0, 17 - exp)));
}

const sexprString = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

function scalar(ty: Ty, v: Value): string {
  if (v === null || v === undefined) return '';
  if (ty.kind === 'float' && typeof v === 'number') return float18g(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A stored value as the database's text. */
export function marshal(ty: Ty, v: Value): string {
  if (ty.kind === 'set' && Array.isArray(v)) return `(${v.map((x) => sexprString(scalar(ty.of, x))).join(' ')})`;
  if (ty.kind === 'map' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return `(${Object.entries(v).map(([k, x]) => `(${sexprString(k)} ${sexprString(scalar(ty.value, x))})`).join(' ')})`;
  }
  return scalar(ty, v);
}

/** The columns of a class (fields clients see), by database name. */
const columnsOf = new WeakMap<ClassDef, Map<string, Field>>();
function columns(cls: ClassDef): Map<string, Field> {
  let m = columnsOf.get(cls);
  if (!m) columnsOf.set(cls, m = new Map(cls.fields.filter((f) => !f.internal).map((f) => [columnOf(f.name), f])));
  return m;
}

/** Does the record (of class `cls`, reference `ref`) satisfy the expression? */
export function matchesWhere(e: Where, cls: ClassDef, ref: string, rec: Rec): boolean {
  const value = (o: Operand): string => {
    if (o.kind === 'literal') return o.text;
    if (o.column === '_ref') return ref;
    const f = columns(cls).get(o.column);
    if (!f) throw new ApiError('INTERNAL_ERROR', ['missing field', o.column, '']);
    return marshal(f.ty, rec[f.name] ?? null);
  };
  const test = (x: Where): boolean => {
    switch (x.op) {
      case 'const': return x.value;
      case 'not': return !test(x.e);
      case 'and': return test(x.a) && test(x.b);
      case 'or': return test(x.a) || test(x.b);
      case 'eq': return value(x.a) === value(x.b);
    }
  };
  return test(e);
}
