// Helpers shared by both encoders: class lookup for event snapshots, datetime normalisation,
// the client-visible fields of a record. Pure.
import { zeroOf, type ClassDef, type Field, type Value } from '../idl/meta.js';
import type { LookupClass } from './types.js';

/**
 * Event records name their class in lower case (`pif`, `vif_metrics`) while the data model
 * spells it `PIF`, `VIF_metrics`, `Bond`. We cannot enumerate classes through `lookupClass`,
 * so try the name as given first, then the spellings XenAPI actually uses (the encoders use
 * this for typed records too: a data-model name is found by the first try).
 */
export function lookupClassLoose(lookup: LookupClass, name: string): ClassDef | undefined {
  const lower = name.toLowerCase();
  const us = lower.indexOf('_');
  const candidates = [
    name,
    lower,
    name.toUpperCase(),
    lower.charAt(0).toUpperCase() + lower.slice(1),
    us > 0 ? lower.slice(0, us).toUpperCase() + lower.slice(us) : undefined,
  ];
  for (const c of candidates) {
    if (c === undefined) continue;
    const cls = lookup(c);
    if (cls) return cls;
  }
  return undefined;
}

/** Non-internal fields, in declaration order: what a record shows a client. */
export function visibleFields(cls: ClassDef): Field[] {
  return cls.fields.filter((f) => !f.internal);
}

/** The value a record carries for a field, falling back to its default or its type's zero. */
export function fieldValue(rec: { [key: string]: Value }, f: Field): Value {
  const v = Object.prototype.hasOwnProperty.call(rec, f.name) ? rec[f.name] : undefined;
  if (v !== undefined) return v;
  return f.default !== undefined ? f.default : zeroOf(f.ty);
}

const COMPACT_DT = /^(\d{8})T(\d{2}):(\d{2}):(\d{2})Z?$/;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * XenAPI's datetime wire form `YYYYMMDDTHH:MM:SSZ` (UTC, no dashes). Accepts that form (with
 * or without Z), anything `Date.parse` understands (ISO/RFC 3339 with offsets), or epoch
 * seconds. Returns undefined when the value is not a recognisable time.
 */
export function normaliseDatetime(v: Value): string | undefined {
  let d: Date;
  if (typeof v === 'number' && Number.isFinite(v)) {
    d = new Date(v * 1000);
  } else if (typeof v === 'string') {
    const m = COMPACT_DT.exec(v.trim());
    if (m) return `${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`;
    const t = Date.parse(v);
    if (Number.isNaN(t)) return undefined;
    d = new Date(t);
  } else {
    return undefined;
  }
  if (Number.isNaN(d.getTime())) return undefined;
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

export function isPlainObject(v: unknown): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An event record (`event.from`): a string `class` and an object `snapshot`. */
export function isEventRecord(v: { [key: string]: Value }): boolean {
  return typeof v.class === 'string' && isPlainObject(v.snapshot);
}

/** Sets an own property even for names like `__proto__` (struct keys come from the wire). */
export function setOwn(obj: { [key: string]: Value }, key: string, value: Value): void {
  // defineProperty is slow on large objects: keep it for the one name plain assignment mishandles.
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
