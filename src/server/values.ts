// Decoding of call parameters against their declared type. Both wires are lenient in the
// same way the real server is: an int may come as a number or as a decimal string (XML-RPC
// carries int64 as strings), a float as a number or numeric string.

import { ApiError } from '../common/api-error.js';
import type { ClassDef, Ty, Value } from '../idl/meta.js';

/** Converts `v` to the shape of `ty`, or throws a XenAPI error naming `what`. */
export function decodeValue(v: Value | undefined, ty: Ty, what: string, lookup: (cls: string) => ClassDef | undefined): Value {
  const bad = (): never => { throw new ApiError('FIELD_TYPE_ERROR', [what]); };
  switch (ty.kind) {
    case 'string':
    case 'ref':
      if (typeof v === 'string') return v;
      if (ty.kind === 'string' && typeof v === 'number') return String(v);
      return bad();
    case 'int': {
      const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v;
      if (typeof n === 'number' && Number.isInteger(n)) return n;
      return bad();
    }
    case 'float': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n === 'number' && Number.isFinite(n)) return n;
      return bad();
    }
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (v === 1 || v === 0) return v === 1;
      if (v === 'true' || v === 'false') return v === 'true';
      return bad();
    case 'datetime':
      if (typeof v === 'string') return v;
      return bad();
    case 'enum':
      if (typeof v !== 'string') return bad();
      if (!ty.values.includes(v)) throw new ApiError('INVALID_VALUE', [what, v]);
      return v;
    case 'set':
      if (!Array.isArray(v)) return bad();
      return v.map((x, i) => decodeValue(x, ty.of, `${what}[${i}]`, lookup));
    case 'map': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad();
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(v)) out[k] = decodeValue(x, ty.value, `${what}.${k}`, lookup);
      return out;
    }
    case 'record': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad();
      const cls = lookup(ty.cls);
      if (!cls) return v;
      const out: Record<string, Value> = {};
      for (const f of cls.fields) {
        if (f.name in v) out[f.name] = decodeValue(v[f.name], f.ty, f.name, lookup);
      }
      return out;
    }
    case 'any':
      return v ?? null;
  }
}
