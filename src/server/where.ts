// The database filter language of get_all_where / get_all_records_where:
//   true | false | field "<column>" = "<literal>" | not E | E and E | E or E | ( E )
// Columns use the database's names: namespaced wire names joined with "__" (name__label).

import { ApiError } from '../common/api-error.js';
import type { Rec, Value } from '../idl/meta.js';

export type Where =
  | { op: 'const'; value: boolean }
  | { op: 'eq'; column: string; literal: string }
  | { op: 'not'; e: Where }
  | { op: 'and' | 'or'; a: Where; b: Where };

function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|(\(|\)|=)|([A-Za-z_]+))/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < s.length && (m = re.exec(s))) {
    if (m[1] !== undefined) out.push(`"${m[1].replace(/\\(.)/g, '$1')}`);
    else out.push((m[2] ?? m[3])!);
    if (/^\s*$/.test(s.slice(re.lastIndex))) break;
  }
  if (re.lastIndex < s.length && !/^\s*$/.test(s.slice(re.lastIndex))) throw new ApiError('INVALID_VALUE', ['expr', s]);
  return out;
}

export function parseWhere(text: string): Where {
  const toks = tokenize(text);
  let i = 0;
  const fail = (): never => { throw new ApiError('INVALID_VALUE', ['expr', text]); };
  const next = () => toks[i++] ?? fail();
  const literal = () => { const x = next(); return x.startsWith('"') ? x.slice(1) : fail(); };
  const primary = (): Where => {
    const x = next();
    if (x === 'true' || x === 'false') return { op: 'const', value: x === 'true' };
    if (x === 'not') return { op: 'not', e: primary() };
    if (x === '(') { const e = or(); if (next() !== ')') fail(); return e; }
    if (x === 'field') { const column = literal(); if (next() !== '=') fail(); return { op: 'eq', column, literal: literal() }; }
    return fail();
  };
  const and = (): Where => { let e = primary(); while (toks[i] === 'and') { i++; e = { op: 'and', a: e, b: primary() }; } return e; };
  const or = (): Where => { let e = and(); while (toks[i] === 'or') { i++; e = { op: 'or', a: e, b: and() }; } return e; };
  const e = or();
  if (i !== toks.length) fail();
  return e;
}

function asText(v: Value | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function matchesWhere(e: Where, rec: Rec): boolean {
  switch (e.op) {
    case 'const': return e.value;
    case 'not': return !matchesWhere(e.e, rec);
    case 'and': return matchesWhere(e.a, rec) && matchesWhere(e.b, rec);
    case 'or': return matchesWhere(e.a, rec) || matchesWhere(e.b, rec);
    case 'eq': {
      const name = e.column in rec ? e.column : e.column.replace(/__/g, '_');
      return asText(rec[name]) === e.literal;
    }
  }
}
